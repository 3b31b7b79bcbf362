"""``lamp demo``: render a toy motion set, tune on it, generate unseen content, score it."""

from __future__ import annotations

import argparse

from ._errors import flag_names, run_with_user_errors
from ._settings import GIVEN, given


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="the whole method on the built-in toy world, on a CPU in minutes")
    parser.add_argument("--out", default=GIVEN, help="output folder")
    parser.add_argument("--motion", default=GIVEN, help="toy motion (see `lamp toy list-motions`)")
    parser.add_argument("--train-steps", type=int, default=GIVEN, help="override the toy config's training steps")
    parser.add_argument("--videos", type=int, default=GIVEN, help="first frames of unseen content, each giving two videos")
    parser.add_argument("--steps", type=int, default=GIVEN, help="DDIM steps for generation")
    parser.set_defaults(func=run)
    parser.set_defaults(flags=flag_names(parser))


def settings_from_args(args: argparse.Namespace):
    """The DemoSettings of a parsed `lamp demo` command line."""
    from ..jobs.demo import DemoSettings

    return DemoSettings(**given(args, ("out", "motion", "train_steps", "videos", "steps")))


def run(args: argparse.Namespace) -> int:
    from ..jobs.demo import run_demo

    return run_with_user_errors(lambda: run_demo(settings_from_args(args)) and 0, args.flags)
