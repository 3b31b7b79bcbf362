"""GroupNorm with statistics pooled over all frames of a clip (the authors' release).

Inside the inflated UNet frames are folded into the batch, ``((b f), c, h, w)``, so a
plain ``nn.GroupNorm`` normalises each frame alone. :class:`ClipGroupNorm` unfolds the
frames first and normalises ``(b, c, f, h, w)``: mean and variance of a group are taken
over every frame of the video, frame 1 included, which ties each frame's overall
brightness and colour to the clip's. It subclasses ``nn.GroupNorm`` and keeps the
pretrained ``weight`` / ``bias`` themselves, so state-dict names do not change.

In a long video made of chained windows each UNet call sees one window, so the
statistics are per window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layout import FrameContext, fold_frames, unfold_frames

GROUPNORM_MODES = ("per_frame", "joint")


class ClipGroupNorm(nn.GroupNorm):
    """A pretrained ``nn.GroupNorm`` that normalises each video's frames together."""

    def __init__(self, norm: nn.GroupNorm, context: FrameContext):
        super().__init__(norm.num_groups, norm.num_channels, eps=norm.eps, affine=norm.affine, device="meta")
        self.weight = norm.weight  # the pretrained parameters themselves: same tensors, same names
        self.bias = norm.bias
        self.context = context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        video = unfold_frames(x, self.context.num_frames)  # (b, c, f, h, w)
        video = F.group_norm(video, self.num_groups, self.weight, self.bias, self.eps)  # groups over (c/g, f, h, w)
        return fold_frames(video)  # ((b f), c, h, w)
