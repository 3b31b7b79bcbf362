"""Validation videos of a toy motion: first frames the training set lacks, and a warning when they leak.

:class:`ToyCheck` is the toy world's :class:`~lamp_motion.training.checks.VideoCheck`:
it renders first frames in the object colours and backgrounds farthest from the
training set's palette (so they are content the motion never saw), and scores every
validation video with the toy metrics: leakage towards the training palette, content
preservation, and the object found in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..data.toy.motions import get_motion
from ..data.toy.scene import ALL_BACKGROUNDS, COLOURS
from ..data.toy.sets import first_frame
from ..training.checks import CheckResult
from .metrics import TrainingPalette, score_video

MAX_LEAKAGE = 0.3  # warn above this leakage towards the training palette
MIN_PRESERVATION = 0.5  # warn below this share of later frames that keep frame 1's object


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
