"""``lamp demo``: render a toy motion set, tune on it, generate unseen content, score it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._errors import run_with_user_errors


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="the whole method on the built-in toy world, on a CPU in minutes")
    parser.add_argument("--out", default="lamp-demo", help="output folder")
    parser.add_argument("--motion", default="move_right", help="toy motion (see `lamp toy list-motions`)")
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy config's training steps")
    parser.add_argument("--videos", type=int, default=4, help="first frames of unseen content (each gives two videos)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps for generation")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..toy.demo import run_demo

    def demo() -> int:
        run_demo(Path(args.out), args.motion, args.train_steps, args.videos, args.steps)
        return 0

    return run_with_user_errors(demo)
