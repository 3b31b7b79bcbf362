"""``lamp train CONFIG.yaml [key=value ...]``: tune a motion from a folder of videos."""

from __future__ import annotations

import argparse

from ._errors import run_with_user_errors


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="tune a motion on a folder of videos",
                                   description="Tune a motion. CONFIG is a YAML file of TrainConfig fields "
                                               "(see lamp_motion/training/config.py); key=value pairs override it.")
    parser.add_argument("config", help="YAML config file, or '-' for the defaults")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override a config field, e.g. steps=500 data=my_videos/")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..jobs.train import train

    return run_with_user_errors(lambda: train(None if args.config == "-" else args.config, args.overrides) and 0)
