"""``lamp demo``: render a toy motion set, tune on it, generate unseen content, score it."""

from __future__ import annotations

import argparse

from ._errors import flag_names, run_with_user_errors


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="the whole method on the built-in toy world, on a CPU in minutes")
    parser.add_argument("--out", default="lamp-demo", help="output folder")
    parser.add_argument("--motion", default="move_right", help="toy motion (see `lamp toy list-motions`)")
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy config's training steps")
    parser.add_argument("--videos", type=int, default=4, help="first frames of unseen content (each gives two videos)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps for generation")
    parser.set_defaults(func=run)
    parser.set_defaults(flags=flag_names(parser))


def run(args: argparse.Namespace) -> int:
    from ..jobs.demo import DemoSettings, run_demo

    settings = DemoSettings(out=args.out, motion=args.motion, train_steps=args.train_steps, videos=args.videos,
                            steps=args.steps)
    return run_with_user_errors(lambda: run_demo(settings) and 0, args.flags)
