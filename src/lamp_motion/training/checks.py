"""What `lamp train`'s validation videos are checked for: do later frames still look like frame 1?

The trainer writes a validation video per case every ``validate_every`` steps. A
:class:`VideoCheck` (given to :class:`~lamp_motion.training.trainer.Trainer` by a layer
above training: the toy world, or a CLIP model) adds first frames of its own (content
the training set does not have) and scores each video; its warnings go to the log, so
a user sees when the motion starts to replay its training content instead of keeping
frame 1's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image


@dataclass
class CheckResult:
    """Scores of one validation video (name -> value) and the warnings they raise (empty: fine)."""

    scores: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class VideoCheck(Protocol):
    """Checks a training run's validation videos."""

    def cases(self, height: int, width: int) -> list[tuple[str, Image.Image]]:
        """Extra (prompt, first frame) validation cases: content the training set does not have."""
        ...

    def check(self, frames: np.ndarray, prompt: str) -> CheckResult:
        """Score one validation video ``(f, h, w, 3)`` uint8 whose frame 1 is the given first frame."""
        ...
