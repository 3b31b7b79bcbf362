"""LAMP's temporal-spatial motion learning layer, wrapping a pretrained 2D conv.

    y   = conv2d(x)                                  per frame, pretrained and frozen
    t   = conv1d_over_frames(y)                      k=3, causal or centred
    g   = sigmoid(conv_gate(y))                      (c -> 1, 3x3), a spatial gate
    out = y + s * t * g                              s: motion_scale (1: as trained)

With other motions mixed in (:mod:`lamp_motion.models.mixing`), ``t * g`` becomes the
weighted sum of every motion's branch: ``w_0 t_0 g_0 + w_1 t_1 g_1 + ...``.

The layer subclasses ``nn.Conv2d`` and keeps the pretrained ``weight``/``bias``
parameters themselves, so every 2D state-dict name survives inflation unchanged; the
new parameters live under ``<name>.conv1d`` and ``<name>.conv_gate``. ``conv1d`` and
``conv_gate`` start at zero, so a fresh layer is exactly the pretrained conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layout import FrameContext, fold_frames, unfold_frames

CONV_MODES = ("causal", "centred")


class MotionConv2d(nn.Conv2d):
    """A pretrained ``nn.Conv2d`` plus LAMP's temporal branch and spatial gate.

    Input and output are frames folded into the batch, ``((b f), c, h, w)``; the frame
    count comes from the shared :class:`FrameContext`.
    """

    def __init__(self, conv: nn.Conv2d, context: FrameContext, mode: str = "causal"):
        if mode not in CONV_MODES:
            raise ValueError(f"unknown motion conv mode {mode!r}; expected one of {CONV_MODES}")
        factory = {"device": conv.weight.device, "dtype": conv.weight.dtype}
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",
        )
        # Keep the pretrained parameters themselves: same tensors, same names.
        self.weight = conv.weight
        self.bias = conv.bias
        channels = conv.out_channels
        self.conv1d = nn.Conv1d(channels, channels, kernel_size=3, **factory)
        self.conv_gate = nn.Conv2d(channels, 1, kernel_size=3, padding=1, **factory)
        self.mode = mode
        self.context = context
        self.motion_scale = 1.0  # runtime weight of the temporal branch (VideoUNet.set_motion_scale); not a weight
        # Other motions' branches (each holding conv1d and conv_gate) and the weights of the mix, this layer's own
        # branch first: set by lamp_motion.models.mixing; empty, the layer is one motion's.
        self.mixed = nn.ModuleList()
        self.mix_weights: tuple[float, ...] = ()
        self.zero_init()

    @torch.no_grad()
    def zero_init(self) -> None:
        """Zero the temporal branch and the gate, so the layer equals the pretrained conv."""
        for layer in (self.conv1d, self.conv_gate):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def temporal(self, y: torch.Tensor, conv1d: nn.Conv1d | None = None) -> torch.Tensor:
        """The Conv1d over frames at every pixel (``conv1d``: another motion's; default this layer's):
        ``((b f), c, h, w) -> ((b f), c, h, w)``."""
        conv1d = self.conv1d if conv1d is None else conv1d
        f = self.context.num_frames
        video = unfold_frames(y, f)  # (b, c, f, h, w)
        # causal ("video prediction"): frame t sees t-2, t-1, t; centred: t-1, t, t+1.
        pad = (2, 0) if self.mode == "causal" else (1, 1)
        video = F.pad(video, (0, 0, 0, 0, *pad))  # (b, c, f+2, h, w)
        # A Conv1d over f at every (h, w) is a Conv3d with a (3, 1, 1) kernel.
        kernel = conv1d.weight[..., None, None]  # (c, c, 3, 1, 1)
        video = F.conv3d(video, kernel, conv1d.bias)  # (b, c, f, h, w)
        return fold_frames(video)  # ((b f), c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)  # ((b f), c, h, w), the pretrained conv
        if self.motion_scale == 0:
            return y  # the branch is off: not computed
        branch = self.branch(y)  # ((b f), c, h, w)
        if self.mix_weights:
            branch = self.mix_weights[0] * branch
            for weight, part in zip(self.mix_weights[1:], self.mixed):
                branch = branch + weight * self.branch(y, part)
        return y + (branch if self.motion_scale == 1 else self.motion_scale * branch)

    def branch(self, y: torch.Tensor, part: nn.Module | None = None) -> torch.Tensor:
        """``temporal(y) * gate`` of this layer's motion, or of the mixed-in ``part`` (its conv1d and conv_gate)."""
        part = self if part is None else part
        gate = torch.sigmoid(part.conv_gate(y))  # ((b f), 1, h, w)
        return self.temporal(y, part.conv1d) * gate

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, motion={self.mode}"
