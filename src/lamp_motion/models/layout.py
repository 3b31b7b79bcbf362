"""Frame layout helpers shared by the video layers.

Module boundaries use ``(b, c, f, h, w)``. Inside the inflated UNet the pretrained 2D
layers see frames folded into the batch, ``((b f), c, h, w)``, so each video layer
needs the frame count ``f`` to unfold them. :class:`FrameContext` carries it: the
video UNet sets it before every forward pass and all of its layers read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange


@dataclass
class FrameContext:
    """The number of frames per video in the batch that is currently running.

    It is left set after a forward pass so that gradient checkpointing, which re-runs
    layers during backward, sees the same value.
    """

    num_frames: int = 1

    def split(self, batch: int) -> int:
        """The number of videos in a folded batch of ``batch`` frames."""
        if batch % self.num_frames:
            raise ValueError(f"a batch of {batch} frames does not divide into videos of {self.num_frames} frames")
        return batch // self.num_frames


def fold_frames(video: torch.Tensor) -> torch.Tensor:
    """``(b, c, f, h, w) -> ((b f), c, h, w)``."""
    return rearrange(video, "b c f h w -> (b f) c h w")


def unfold_frames(frames: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``((b f), c, h, w) -> (b, c, f, h, w)``."""
    return rearrange(frames, "(b f) c h w -> b c f h w", f=num_frames)
