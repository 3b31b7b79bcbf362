"""The ``lamp`` command: one sub-command per job, each defined in its own module.

A sub-command module exposes ``add_parser(subparsers)``, which adds its parser and
sets ``func`` (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# Sub-command modules, in the order `lamp --help` lists them.
_COMMAND_MODULES = ("prepare", "train", "generate", "edit", "eval", "motion", "toy", "demo", "ui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lamp", description="LAMP: learn a motion from a few videos, then make new videos with it.")
    parser.add_argument("--version", action="version", version=f"lamp-motion {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"{__package__}.{name}":
                continue  # that sub-command is not part of this build yet
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
