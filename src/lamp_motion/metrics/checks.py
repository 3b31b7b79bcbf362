"""The check `lamp train` gives its validation videos (see :mod:`lamp_motion.training.checks`).

* ``validation_clip`` set: :class:`~lamp_motion.metrics.clip_metrics.FrameOneCheck`, CLIP
  image similarity of later frames to frame 1 (real bases, the user's validation images);
* else, on the built-in toy base with a toy motion's prompt: :class:`~lamp_motion.toy.validation.ToyCheck`,
  first frames in colours and backgrounds the training set lacks, scored for leakage and
  preservation;
* else none.
"""

from __future__ import annotations

from pathlib import Path

from ..toy.validation import ToyCheck
from ..training.checks import VideoCheck
from ..training.config import TrainConfig
from .clip_metrics import ClipScorer, FrameOneCheck
from .toy_eval import palette_from_folder, toy_motion_for


def default_check(config: TrainConfig) -> VideoCheck | None:
    """The validation check for ``config`` (None when it makes no validation videos or none applies)."""
    if config.validate_every <= 0:
        return None
    if config.validation_clip:
        return FrameOneCheck(ClipScorer.from_pretrained(config.validation_clip))
    if config.base is not None:
        return None
    prompt = config.prompt or " ".join(Path(config.data).resolve().name.replace("_", " ").split())
    motion = toy_motion_for(prompt, prompt)
    if motion is None:
        return None
    return ToyCheck(motion, palette_from_folder(config.data), seed=config.seed)
