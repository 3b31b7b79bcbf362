"""Offset noise in the training loss: a per-frame, per-channel constant added to the noise when asked."""

from __future__ import annotations

import pytest
import torch

from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import diffusion_loss


class NoiseEcho(torch.nn.Module):
    """A stand-in video model that returns its noisy input, so the loss shows the noise used."""

    def forward(self, noisy, t, text):
        return noisy


class Schedule:
    """add_noise that returns the noise itself (clean latents zero), epsilon target."""

    config = type("C", (), {"num_train_timesteps": 1000, "prediction_type": "epsilon"})()

    def add_noise(self, latents, noise, t):
        return latents + noise


def noise_used(offset, seed=0):
    latents = torch.zeros(2, 4, 6, 8, 8)
    _, prediction = diffusion_loss(NoiseEcho(), latents, torch.zeros(2, 3, 5), Schedule(), torch.Generator().manual_seed(seed),
                                   noise_offset=offset)
    return prediction[:, :, 1:]  # frame 1 is put back clean


def test_no_offset_is_plain_gaussian_noise_as_before():
    plain = noise_used(0.0)
    expected = torch.randn((2, 4, 6, 8, 8), generator=torch.Generator().manual_seed(0))[:, :, 1:]
    assert torch.equal(plain, expected)


def test_offset_adds_a_constant_per_frame_and_channel():
    plain, offset = noise_used(0.0), noise_used(0.5)
    shift = offset - plain  # (b, c, f-1, h, w): constant over h, w, different across frames and channels
    assert torch.allclose(shift, shift[..., :1, :1].expand_as(shift), atol=1e-6)
    means = shift[..., 0, 0]
    assert means.abs().mean() > 0.1 and means.std() > 0.1


@pytest.mark.parametrize("value", [-0.1, 2.0, float("nan")])
def test_noise_offset_is_checked(value):
    with pytest.raises(ValueError, match="noise_offset"):
        TrainConfig(noise_offset=value)

