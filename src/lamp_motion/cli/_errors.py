"""Turning the library's user-facing errors into one clear line and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_with_user_errors(job: Callable[[], int]) -> int:
    """Run ``job``; a ValueError/FileNotFoundError/RuntimeError of ours prints ``error: ...`` and returns 2."""
    from ..files import OutputWriteError
    from ..training.errors import TrainingError

    try:
        return job()
    except (ValueError, FileNotFoundError, TrainingError, OutputWriteError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"stopped: {interrupt}" if str(interrupt) else "stopped", file=sys.stderr)
        return 130
