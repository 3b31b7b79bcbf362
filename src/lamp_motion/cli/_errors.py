"""Turning the library's user-facing errors into one clear line and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping


def flag_names(parser: argparse.ArgumentParser, **extra: str) -> dict[str, str]:
    """Setting name -> the flag that sets it: each option's destination, plus ``extra`` (e.g. ``adain="--no-adain"``)."""
    names = {action.dest: action.option_strings[-1] for action in parser._actions if action.option_strings}
    return {**names, **extra}


def run_with_user_errors(job: Callable[[], int], flags: Mapping[str, str] | None = None) -> int:
    """Run ``job``; a ValueError/FileNotFoundError/RuntimeError of ours prints ``error: ...`` and returns 2.

    A :class:`lamp_motion.errors.SettingError` names its settings by their flags in ``flags``.
    """
    from ..errors import SettingError, TrainingError
    from ..files import OutputWriteError

    try:
        return job()
    except (ValueError, FileNotFoundError, TrainingError, OutputWriteError) as error:
        message = error.render(flags) if isinstance(error, SettingError) else str(error)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"stopped: {interrupt}" if str(interrupt) else "stopped", file=sys.stderr)
        return 130
