"""Was the motion learnt? The motion score of every validation step, the best step, and warnings.

At every validation step of `lamp train`, :class:`MotionProgress` scores the validation
videos with :func:`lamp_motion.metrics.motion.motion_score` against the training clips
(each training video's first clip, at the config's stride), and keeps the mean per
step. :meth:`MotionProgress.update` says whether the step is the best so far (the
trainer then writes ``best.safetensors``) and warns when the score stops rising or
falls (over-training); :meth:`MotionProgress.final_message` names the best step and
says when, by the end, the motion was not learnt: the best score is within
``NOT_LEARNT_MARGIN`` of a still video's (frame 1 of a training clip held).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.video_set import VideoSet
from ..metrics.motion import MotionScore, Tracks, motion_score, reference_tracks

FALL_MARGIN = 0.05  # a step whose mean score is this much below the best so far warns of over-training
STALL_STEPS = 3  # validation steps in a row without a new best that warn the score stopped rising
NOT_LEARNT_MARGIN = 0.1  # a best score less than this above a still video's means the motion was not learnt


@dataclass
class MotionProgress:
    """The motion scores of a training run's validation steps against its training clips."""

    references: list[Tracks]  # the training clips' tracks
    still_score: float  # the score of a still video (a training clip's frame 1 held)
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, mean score of its validation videos)

    @classmethod
    def from_video_set(cls, video_set: VideoSet) -> MotionProgress:
        """References from each training video's first clip (``num_frames`` frames at ``stride``)."""
        clips = [video.frames[:video_set.clip_span:video_set.stride] for video in video_set.videos]
        references = reference_tracks(clips)
        still = np.repeat(clips[0][:1], len(clips[0]), axis=0)
        return cls(references=references, still_score=motion_score(still, references).score)

    def restore(self, path: Path, up_to: int) -> None:
        """On resume: the history of ``path`` (an earlier ``scores.json`` of this run) up to step ``up_to``.

        A missing or unreadable file leaves the history empty (the best step is then
        looked for again from the resumed step on)."""
        try:
            steps = json.loads(Path(path).read_text())["steps"]
            self.history = [(int(row["step"]), float(row["motion_score"])) for row in steps if int(row["step"]) <= up_to]
        except (OSError, ValueError, KeyError, TypeError):
            self.history = []

    def score(self, frames: np.ndarray) -> MotionScore:
        """The motion score of one validation video ``(f, h, w, 3)`` uint8."""
        return motion_score(frames, self.references)

    @property
    def best(self) -> tuple[int, float] | None:
        """(step, mean score) of the best validation step so far (the earliest of equals)."""
        return max(self.history, key=lambda item: item[1]) if self.history else None

    def update(self, step: int, mean: float) -> tuple[bool, list[str]]:
        """Record a validation step's mean score: (is it the best so far, warnings)."""
        self.history.append((step, mean))
        best_step, best = self.best
        warnings = []
        if best_step != step and mean < best - FALL_MARGIN:
            warnings.append(f"the motion score fell to {mean:.3f} from {best:.3f} at step {best_step}: the motion may "
                            f"be over-trained; best.safetensors keeps step {best_step}")
        elif len(self.history) > STALL_STEPS and all(s != best_step for s, _ in self.history[-STALL_STEPS:]):
            warnings.append(f"the motion score has not risen for {STALL_STEPS} validation steps (best {best:.3f} at "
                            f"step {best_step}); more steps may not help")
        return best_step == step, warnings

    def final_message(self) -> str | None:
        """The best step, and whether the motion was learnt (None before any validation step)."""
        if not self.history:
            return None
        best_step, best = self.best
        message = f"best motion score {best:.3f} at step {best_step} (a still video scores {self.still_score:.3f})"
        if best < self.still_score + NOT_LEARNT_MARGIN:
            message += (": the motion was not learnt, the validation videos move no more like the training clips "
                        "than a still video; train longer, with a higher learning_rate, or check the training clips")
        return message
