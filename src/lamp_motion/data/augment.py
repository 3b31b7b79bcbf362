"""Colour augmentation of training clips: one random colour transform per clip, every frame alike.

A few clips that share one look (three object colours on pale backgrounds, say) let the
tuned layers learn that look along with the motion, and later frames then drift towards
it instead of keeping frame 1's. Recolouring each clip at random, frame 1 included,
makes the look useless for predicting frames 2..N: only frame 1 tells what the later
frames look like, while the motion (geometry) is untouched.

The transform, drawn per clip (pixels in ``[-1, 1]``):

1. hue rotation by a uniform angle: a rotation of RGB about the grey axis;
2. saturation scaled by a factor in ``SATURATION`` (mixing with each pixel's grey);
3. a tint: one colour offset for every pixel, of random direction in the chroma plane
   and length up to ``TINT`` (so grey, white and black backgrounds change too), and a
   brightness offset up to ``BRIGHTNESS`` either way;
4. with probability ``INVERT_SHARE``, brightness inverted (``x -> -x``), so pale
   backgrounds become dark ones and the reverse.

Values are clipped back to ``[-1, 1]``.
"""

from __future__ import annotations

import math

import torch

SATURATION = (0.6, 1.3)  # range of the saturation factor
TINT = 0.15  # most length of the tint's chroma offset (pixels in [0, 1])
BRIGHTNESS = 0.15  # most brightness offset either way (pixels in [0, 1])
INVERT_SHARE = 0.5  # share of recoloured clips whose brightness is inverted
# An orthonormal basis of the chroma plane (RGB vectors with no grey component).
_CHROMA_AXES = torch.tensor([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]) / torch.tensor([[math.sqrt(2.0)], [math.sqrt(6.0)]])


def hue_rotation(angle: float) -> torch.Tensor:
    """The 3x3 matrix rotating RGB by ``angle`` radians about the grey axis (1, 1, 1)."""
    cos, sin = math.cos(angle), math.sin(angle)
    k = (1.0 - cos) / 3.0
    s = sin / math.sqrt(3.0)
    return torch.tensor([[cos + k, k - s, k + s],
                         [k + s, cos + k, k - s],
                         [k - s, k + s, cos + k]], dtype=torch.float32)


def jitter_colours(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random colour transform applied to every frame of a clip ``(3, f, h, w)`` in ``[-1, 1]``."""
    if pixels.ndim != 4 or pixels.shape[0] != 3:
        raise ValueError(f"expected a clip shaped (3, f, h, w), got {tuple(pixels.shape)}")
    draws = torch.rand(6, generator=generator).tolist()
    angle = 2.0 * math.pi * draws[0]
    saturation = SATURATION[0] + (SATURATION[1] - SATURATION[0]) * draws[1]
    tint_angle, tint = 2.0 * math.pi * draws[3], TINT * draws[4]
    offset = tint * (math.cos(tint_angle) * _CHROMA_AXES[0] + math.sin(tint_angle) * _CHROMA_AXES[1])  # (3,)
    offset = offset + BRIGHTNESS * (2.0 * draws[5] - 1.0)
    x = (pixels + 1.0) / 2.0  # (3, f, h, w) in [0, 1]
    x = torch.einsum("ij,jfhw->ifhw", hue_rotation(angle).to(x), x)
    grey = x.mean(dim=0, keepdim=True)  # (1, f, h, w)
    x = grey + saturation * (x - grey) + offset.to(x)[:, None, None, None]
    out = x * 2.0 - 1.0
    if draws[2] < INVERT_SHARE:
        out = -out
    return out.clamp(-1.0, 1.0)
