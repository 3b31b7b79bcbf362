"""The checks of `lamp train`'s validation videos: do later frames still look like frame 1?

The trainer writes a validation video per case every ``validate_every`` steps. A
:class:`VideoCheck` (given to :class:`~lamp_motion.training.trainer.Trainer`; by default
:func:`default_check`'s) adds first frames of its own (content the training set does not
have) and scores each video; its warnings go to the log, so a user sees when the motion
starts to replay its training content instead of keeping frame 1's.

* ``validation_clip`` set: :class:`FrameOneCheck`, CLIP image similarity of later frames
  to frame 1 (real bases, the user's validation images);
* else, on the built-in toy base with a toy motion's prompt: :class:`ToyCheck`, first
  frames in colours and backgrounds the training set lacks, scored for leakage and
  preservation;
* else none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from ..data.toy.motions import get_motion
from ..data.toy.scene import ALL_BACKGROUNDS, COLOURS
from ..data.toy.sets import first_frame
from ..metrics.clip_metrics import ClipScorer
from ..metrics.toy import TrainingPalette, palette_from_folder, score_video, toy_motion_for
from .config import TrainConfig

MAX_LEAKAGE = 0.3  # ToyCheck warns above this leakage towards the training palette
MIN_PRESERVATION = 0.5  # ToyCheck warns below this share of later frames that keep frame 1's object


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


def _farthest(named: dict[str, tuple[int, int, int]], palette: np.ndarray, count: int) -> list[str]:
    """The ``count`` names whose colour lies farthest (RGB) from every colour of ``palette`` (n, 3)."""
    if len(palette) == 0:
        return list(named)[:count]
    distance = {name: float(np.linalg.norm(palette - np.array(rgb, dtype=np.float64), axis=1).min())
                for name, rgb in named.items()}
    return sorted(named, key=lambda name: -distance[name])[:count]


@dataclass
class ToyCheck:
    """Unseen-content validation cases and leakage / preservation warnings for a toy motion."""

    motion: str  # the toy motion the set shows (placement of the first frames, motion fidelity)
    palette: TrainingPalette  # the training set's object and background colours
    count: int = 2  # validation cases it adds
    seed: int = 0  # of the rendered first frames' geometry

    def cases(self, height: int, width: int) -> list[tuple[str, Image.Image]]:
        motion = get_motion(self.motion)
        colours = _farthest(COLOURS, self.palette.objects, self.count)
        backgrounds = _farthest(ALL_BACKGROUNDS, self.palette.backgrounds, self.count)
        cases = []
        for index in range(self.count):
            colour, background = colours[index % len(colours)], backgrounds[index % len(backgrounds)]
            shape = motion.shapes[index % len(motion.shapes)]
            image, _ = first_frame(self.motion, seed=self.seed + index, shape=shape, colour=colour, background=background,
                                   height=height, width=width, texture="none")
            cases.append((f"a {colour} {shape} {motion.prompt}", Image.fromarray(image)))
        return cases

    def check(self, frames: np.ndarray, prompt: str) -> CheckResult:
        scores = score_video(frames, self.motion, palette=self.palette)
        warnings = []
        if scores["leakage"] > MAX_LEAKAGE:
            warnings.append(f"later frames take on the training set's colours (leakage {scores['leakage']:.2f} > "
                            f"{MAX_LEAKAGE}): the motion replays its training content instead of keeping frame 1's")
        if scores["content_preservation"] < MIN_PRESERVATION:
            warnings.append(f"later frames lose frame 1's object (preservation {scores['content_preservation']:.2f} < "
                            f"{MIN_PRESERVATION})")
        if scores["object_found"] < 1.0:
            lost = round((1.0 - scores["object_found"]) * len(frames))
            warnings.append(f"the object is lost in {lost} of {len(frames)} frames")
        return CheckResult(scores=scores, warnings=warnings)


@dataclass
class FrameOneCheck:
    """A :class:`~lamp_motion.training.checks.VideoCheck` for real bases: CLIP image similarity to frame 1.

    Adds no cases of its own (the user's ``validation_images`` are the unseen content);
    warns when the mean cosine similarity of later frames' CLIP image embeddings to
    frame 1's falls below ``min_similarity``.
    """

    scorer: ClipScorer
    min_similarity: float = 0.85

    def cases(self, height: int, width: int) -> list:
        return []

    def check(self, frames: np.ndarray, prompt: str) -> CheckResult:
        embeds = self.scorer.embed_images(frames)  # (f, d), unit length
        similarity = float((embeds[1:] @ embeds[0]).mean())
        warnings = []
        if similarity < self.min_similarity:
            warnings.append(f"later frames stop resembling frame 1 (CLIP image similarity {similarity:.2f} < "
                            f"{self.min_similarity}): the motion may replay its training content")
        return CheckResult(scores={"clip_similarity_to_frame1": similarity}, warnings=warnings)
