"""Which clip each training step uses, and its pixels.

:class:`ClipSampler` is an endless, seeded sequence of :class:`ClipIndex`. Steps are
grouped in epochs of one clip per video; each epoch visits the videos in a fresh
random order. Every choice is derived from ``(seed, step)`` alone, so the sampler's
whole state is its step counter and a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lamp_motion.data.frames import clip_span, frames_to_pixels
from lamp_motion.data.video_set import VideoSet

_PERMUTATION, _CLIP = 0, 1  # purposes mixed into the seed, so the two streams never share a generator


@dataclass(frozen=True)
class ClipIndex:
    """One training clip: frames ``start, start + stride, ...`` of one video."""

    video: int  # index into VideoSet.videos
    start: int  # first source frame of the clip
    flip: bool  # mirror left-right


class ClipSampler:
    """Endless seeded sequence of clips, shuffled across videos epoch by epoch.

    Args:
        video_lengths: frame count of each video (``VideoSet.lengths``).
        num_frames, stride: clip shape; every video must have ``(num_frames - 1) * stride + 1`` frames.
        flip: mirror each clip with probability 0.5.
        seed: non-negative integer; equal seeds give equal sequences.
    """

    def __init__(self, video_lengths: Sequence[int], num_frames: int, stride: int, flip: bool, seed: int) -> None:
        span = clip_span(num_frames, stride)
        short = [f"video {i} has {n}" for i, n in enumerate(video_lengths) if n < span]
        if not video_lengths or short:
            raise ValueError(
                f"every video needs at least {span} frames for clips of {num_frames} at stride {stride}: "
                f"{', '.join(short) or 'no videos given'}"
            )
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.video_lengths = [int(n) for n in video_lengths]
        self.num_frames, self.stride, self.flip, self.seed = num_frames, stride, flip, seed
        self.step = 0  # index of the next clip
        self._epoch: tuple[int, list[int]] | None = None  # (epoch, video order) of the last epoch used

    def __iter__(self) -> ClipSampler:
        return self

    def __next__(self) -> ClipIndex:
        clip = self.clip_at(self.step)
        self.step += 1
        return clip

    def clip_at(self, step: int) -> ClipIndex:
        """The clip of any step, without moving the sampler."""
        epoch, position = divmod(step, len(self.video_lengths))
        if self._epoch is None or self._epoch[0] != epoch:
            order = torch.randperm(len(self.video_lengths), generator=self._generator(_PERMUTATION, epoch))
            self._epoch = (epoch, order.tolist())
        video = self._epoch[1][position]
        generator = self._generator(_CLIP, step)
        starts = self.video_lengths[video] - clip_span(self.num_frames, self.stride) + 1
        start = int(torch.randint(starts, (1,), generator=generator))
        flip = bool(torch.rand((), generator=generator) < 0.5) and self.flip
        return ClipIndex(video, start, flip)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the same sequence, as plain Python values."""
        return {"step": self.step, **self._settings()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved state; its settings and video lengths must match this sampler's."""
        differences = [
            f"{k}: saved {state.get(k)!r}, now {v!r}" for k, v in self._settings().items() if state.get(k) != v
        ]
        if differences:
            raise ValueError(
                "cannot resume the clip sampler: the data or sampling settings changed since the checkpoint ("
                + "; ".join(differences)
                + "); restore them or start training afresh"
            )
        self.step = int(state["step"])

    def _settings(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "video_lengths": self.video_lengths,
            "num_frames": self.num_frames,
            "stride": self.stride,
            "flip": self.flip,
        }

    def _generator(self, purpose: int, index: int) -> torch.Generator:
        """A generator seeded from ``(seed, purpose, index)`` through numpy's well-mixed SeedSequence."""
        seed = int(np.random.SeedSequence([self.seed, purpose, index]).generate_state(1, np.uint64)[0]) >> 1
        return torch.Generator().manual_seed(seed)


def clip_pixels(video_set: VideoSet, clip: ClipIndex) -> torch.Tensor:
    """The clip's frames as ``float32`` ``(c, f, h, w)`` in ``[-1, 1]``, mirrored if ``clip.flip``."""
    frames = video_set.videos[clip.video].frames
    end = clip.start + video_set.clip_span
    if clip.start < 0 or end > len(frames):
        raise IndexError(f"clip {clip} runs past the {len(frames)} frames of video {clip.video}")
    pixels = frames_to_pixels(frames[clip.start : end : video_set.stride])
    return pixels.flip(-1) if clip.flip else pixels
