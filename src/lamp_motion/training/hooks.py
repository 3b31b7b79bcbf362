"""Optional callbacks into the training loop, for front ends (the web UI's progress bar and cancel button).

The loop calls ``on_step`` after every optimiser step and ``on_validation`` when a
step's validation videos are written. Setting ``stop`` asks the loop to stop the way a
Ctrl-C does: after the current step, with a checkpoint saved, raising KeyboardInterrupt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainingHooks:
    on_step: Callable[[int, int, float], None] | None = None  # (step, total steps, loss) after each optimiser step
    on_validation: Callable[[int, list[Path]], None] | None = None  # (step, the validation videos written)
    stop: threading.Event = field(default_factory=threading.Event)  # set it to stop with a checkpoint
