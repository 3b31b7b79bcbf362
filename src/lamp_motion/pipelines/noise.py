"""Shared-noise sampling: the starting noise of later frames leans toward one common sample.

LAMP (Sec. 3.4) mixes a shared sample ``e_s`` into the initial noise of frames 2..f so
that they start from correlated noise and stay close to frame 1's content::

    e_i <- alpha * e_s + (1 - alpha) * e_i                  (published, i >= 2)
    e_i <- alpha * e_s + sqrt(1 - alpha**2) * e_i           (variance preserving option)

With ``alpha = 0.2`` the published mix has standard deviation
``sqrt(0.2**2 + 0.8**2) ~ 0.82`` rather than 1; that is what the paper and its release
do, so it is the default. The release uses frame 1's own initial noise as ``e_s``.
"""

from __future__ import annotations

import math

import torch


def shared_noise(
    noise: torch.Tensor,
    alpha: float = 0.2,
    variance_preserving: bool = False,
    shared: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mix a shared sample into the noise of frames 2..f.

    Args:
        noise: independent Gaussian noise, ``(b, c, f, h, w)``.
        alpha: weight of the shared sample, in ``[0, 1]``; 0 returns ``noise`` itself.
        variance_preserving: use ``sqrt(1 - alpha**2)`` instead of ``1 - alpha`` as the
            weight of each frame's own sample, so that unit-variance inputs stay unit
            variance.
        shared: the shared sample ``e_s``, ``(b, c, 1, h, w)``; by default frame 1's own
            sample ``noise[:, :, :1]``, as in the authors' release.

    Returns:
        A new tensor: frame 1 unchanged, frames ``i >= 2`` equal to
        ``alpha * e_s + w * e_i`` with ``w = 1 - alpha`` or ``sqrt(1 - alpha**2)``.
    """
    if noise.ndim != 5:
        raise ValueError(f"shared_noise expects noise of shape (b, c, f, h, w), got {tuple(noise.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"shared-noise alpha must be in [0, 1], got {alpha}")
    if alpha == 0.0:
        return noise
    if shared is None:
        shared = noise[:, :, :1]
    expected = (noise.shape[0], noise.shape[1], 1, *noise.shape[3:])
    if tuple(shared.shape) != expected:
        raise ValueError(f"the shared sample must have shape {expected} (b, c, 1, h, w), got {tuple(shared.shape)}")
    own_weight = math.sqrt(1.0 - alpha**2) if variance_preserving else 1.0 - alpha
    mixed = noise.clone()
    mixed[:, :, 1:] = alpha * shared + own_weight * noise[:, :, 1:]
    return mixed
