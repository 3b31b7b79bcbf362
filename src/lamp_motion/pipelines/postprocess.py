"""Keeping later frames in the colours of frame 1: AdaIN on latents, histogram matching on pixels.

LAMP's sampler pulls the statistics of frames 2..f toward frame 1 in two places:

* **AdaIN on latents** during the later denoising steps and once more before decoding
  (:func:`adain`, :func:`adain_video`, :class:`AdaINSchedule`);
* **histogram matching on pixels** after decoding, each RGB channel of each frame to
  frame 1 (:func:`match_histograms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def adain(x: torch.Tensor, ref: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation: give ``x`` the spatial mean and std of ``ref``.

    Per sample and per channel, over the last two (spatial) axes::

        out = (x - mean(x)) / sqrt(var(x) + eps) * sqrt(var(ref) + eps) + mean(ref)

    with the population variance. ``x`` is ``(b, c, h, w)`` (any leading axes work);
    ``ref`` has the same leading axes or broadcasts to them (size 1), and may have a
    different spatial size. Statistics are taken in float32; the result has ``x``'s dtype.
    """
    if x.ndim < 3 or ref.ndim != x.ndim:
        raise ValueError(f"adain expects x and ref with the same number of axes (b, c, h, w), got {tuple(x.shape)} and {tuple(ref.shape)}")
    x32, ref32 = x.float(), ref.float()
    x_var, x_mean = torch.var_mean(x32, dim=(-2, -1), keepdim=True, correction=0)
    ref_var, ref_mean = torch.var_mean(ref32, dim=(-2, -1), keepdim=True, correction=0)
    out = (x32 - x_mean) / torch.sqrt(x_var + eps) * torch.sqrt(ref_var + eps) + ref_mean
    return out.to(x.dtype)


def adain_video(latents: torch.Tensor, ref_frame: int = 0, frames: Sequence[int] | None = None) -> torch.Tensor:
    """Match the given frames of ``(b, c, f, h, w)`` latents to frame ``ref_frame`` with :func:`adain`.

    ``frames`` defaults to every frame except the reference. Returns a new tensor; the
    reference frame and frames not listed are copied unchanged.
    """
    if latents.ndim != 5:
        raise ValueError(f"adain_video expects latents of shape (b, c, f, h, w), got {tuple(latents.shape)}")
    num_frames = latents.shape[2]
    if frames is None:
        frames = [i for i in range(num_frames) if i != ref_frame]
    frames = list(frames)
    bad = [i for i in [ref_frame, *frames] if not 0 <= i < num_frames]
    if bad:
        raise ValueError(f"frame indices {bad} are outside the {num_frames} frames of the latents (valid: 0..{num_frames - 1})")
    out = latents.clone()
    if frames:
        out[:, :, frames] = adain(latents[:, :, frames], latents[:, :, ref_frame : ref_frame + 1])
    return out


@dataclass(frozen=True)
class AdaINSchedule:
    """When the sampler matches the latents of later frames to earlier ones with AdaIN.

    Frame indices are 0-based below: frame 0 is the (clean) first frame, frame 1 the
    second. With ``n`` denoising steps, at step ``i = 0 .. n-1`` (after the scheduler
    update) :meth:`apply_step` does:

    * ``i / n >= start_fraction``: frames 1..f-1 are matched to frame 0;
    * otherwise, if ``early_match_to_second``: frames 2..f-1 are matched to frame 1
      (frame 1 itself stays free);
    * otherwise nothing.

    After the last step, :meth:`apply_final` matches frames 1..f-1 to frame 0 once more
    (when ``final`` is set), right before decoding.

    Why this schedule: it is what the authors' release does, written without its
    overlapping branches. Their loop runs, for every later frame ``k`` at every step,
    "if i > 30: match k to frame 0" and then "if k > 1: match k (its value from before
    the first branch) to frame 1", so the second branch overwrites the first for
    ``k >= 2``. The net effect is the two phases above: frames 2.. follow frame 1 at
    every step, and from step 31 of 50 on frame 1 follows frame 0, which (matching
    being idempotent up to ``eps``) makes every later frame carry frame 0's statistics.
    ``start_fraction = 0.62`` reproduces "step 31 of 50" exactly (31 / 50 = 0.62) and
    scales to other step counts; ``start_fraction = 1`` never reaches the first phase.
    """

    start_fraction: float = 0.62  # from this fraction of the steps on, later frames are matched to frame 0
    early_match_to_second: bool = True  # before that, match frames 2.. to frame 1 (the release does)
    final: bool = True  # match later frames to frame 0 once more before decoding

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_fraction <= 1.0:
            raise ValueError(f"AdaINSchedule.start_fraction must be in [0, 1], got {self.start_fraction}")

    def matches_to_first(self, step: int, num_steps: int) -> bool:
        """Whether step ``step`` (0-based) of ``num_steps`` matches later frames to frame 0."""
        if not 0 <= step < num_steps:
            raise ValueError(f"step {step} is outside the {num_steps} denoising steps (valid: 0..{num_steps - 1})")
        return step / num_steps >= self.start_fraction

    def apply_step(self, latents: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
        """The latents ``(b, c, f, h, w)`` after this step's matching (a new tensor, or the input when none)."""
        if self.matches_to_first(step, num_steps):
            return adain_video(latents, ref_frame=0)
        if self.early_match_to_second and latents.shape[2] > 2:
            return adain_video(latents, ref_frame=1, frames=range(2, latents.shape[2]))
        return latents

    def apply_final(self, latents: torch.Tensor) -> torch.Tensor:
        """The latents ``(b, c, f, h, w)`` to decode: later frames matched to frame 0 when ``final`` is set."""
        return adain_video(latents, ref_frame=0) if self.final else latents


def match_histograms(frames: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Match each RGB channel of every frame to the same channel of ``ref`` (exact CDF matching).

    ``frames`` is ``(f, h, w, 3)`` uint8 and ``ref`` is ``(h', w', 3)`` uint8 (any size).
    Per frame and channel, with ``C_x(v)`` the fraction of pixels of ``x`` that are
    ``<= v``, each value ``v`` is placed at its mid-rank quantile and mapped to the
    reference value at the same quantile::

        q(v)   = (C_src(v - 1) + C_src(v)) / 2
        out(v) = round(Q_ref(q(v)))

    where ``Q_ref`` interpolates linearly through the points ``(q_ref(u), u)`` of the
    values ``u`` present in the reference. The map is monotone, equal inputs stay equal,
    and an image matched to itself is unchanged. Returns a new uint8 array.
    """
    if frames.dtype != np.uint8 or ref.dtype != np.uint8:
        raise ValueError(f"match_histograms expects uint8 frames and reference, got {frames.dtype} and {ref.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or ref.ndim != 3 or ref.shape[-1] != 3:
        raise ValueError(f"match_histograms expects frames (f, h, w, 3) and a reference (h, w, 3), got {frames.shape} and {ref.shape}")
    out = np.empty_like(frames)
    for channel in range(3):
        ref_quantiles, ref_values = _mid_rank_quantiles(ref[..., channel])
        for index, frame in enumerate(frames):
            src_quantiles, _ = _mid_rank_quantiles(frame[..., channel], all_levels=True)
            lookup = np.rint(np.interp(src_quantiles, ref_quantiles, ref_values)).astype(np.uint8)
            out[index, ..., channel] = lookup[frame[..., channel]]
    return out


def _mid_rank_quantiles(channel: np.ndarray, all_levels: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(q(v), v)`` for the values ``v`` present in a uint8 channel, or for all 256 levels."""
    counts = np.bincount(channel.ravel(), minlength=256)
    cdf = np.cumsum(counts) / channel.size
    quantiles = cdf - counts / (2 * channel.size)  # (C(v - 1) + C(v)) / 2
    levels = np.arange(256, dtype=np.float64)
    if all_levels:
        return quantiles, levels
    present = counts > 0
    return quantiles[present], levels[present]
