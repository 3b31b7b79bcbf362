"""Shared noise, AdaIN and its schedule, histogram matching, first-frame image helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from lamp_motion.pipelines.images import fit_image, image_to_tensor, load_image, tensor_to_images
from lamp_motion.pipelines.noise import shared_noise
from lamp_motion.pipelines.postprocess import AdaINSchedule, adain, adain_video, match_histograms


def _noise(seed: int = 0, shape: tuple[int, ...] = (2, 4, 5, 6, 7)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variance_preserving", [False, True])
def test_shared_noise_formula_with_frame_one_as_shared_sample(variance_preserving: bool) -> None:
    noise, alpha = _noise(), 0.3
    mixed = shared_noise(noise, alpha=alpha, variance_preserving=variance_preserving)
    own = math.sqrt(1 - alpha**2) if variance_preserving else 1 - alpha
    torch.testing.assert_close(mixed[:, :, :1], noise[:, :, :1], rtol=0, atol=0)
    for k in range(1, noise.shape[2]):
        torch.testing.assert_close(mixed[:, :, k], alpha * noise[:, :, 0] + own * noise[:, :, k])


def test_shared_noise_with_given_sample_and_alpha_zero() -> None:
    noise, shared = _noise(), _noise(1, (2, 4, 1, 6, 7))
    mixed = shared_noise(noise, alpha=0.2, shared=shared)
    torch.testing.assert_close(mixed[:, :, 0], noise[:, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(mixed[:, :, 1:], 0.2 * shared + 0.8 * noise[:, :, 1:])
    assert shared_noise(noise, alpha=0.0) is noise
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        shared_noise(noise, alpha=1.5)
    with pytest.raises(ValueError, match="shared sample must have shape"):
        shared_noise(noise, shared=shared[:1])


def _assert_stats_equal(frame: torch.Tensor, ref: torch.Tensor) -> None:
    torch.testing.assert_close(frame.mean(dim=(-2, -1)), ref.mean(dim=(-2, -1)), rtol=0, atol=1e-4)
    torch.testing.assert_close(frame.std(dim=(-2, -1)), ref.std(dim=(-2, -1)), rtol=0, atol=1e-4)


def test_adain_matches_per_channel_mean_and_std() -> None:
    x = _noise(2, (3, 4, 8, 8)) * 2.5 + 1.0
    ref = _noise(3, (3, 4, 8, 8)) * 0.5 - 2.0
    _assert_stats_equal(adain(x, ref), ref)


def test_adain_video_matches_chosen_frames_and_keeps_the_rest() -> None:
    latents = _noise() * torch.arange(1, 6).view(1, 1, 5, 1, 1)
    out = adain_video(latents)
    torch.testing.assert_close(out[:, :, 0], latents[:, :, 0], rtol=0, atol=0)
    for k in range(1, 5):
        _assert_stats_equal(out[:, :, k], latents[:, :, 0])
    partial = adain_video(latents, ref_frame=1, frames=[3])
    _assert_stats_equal(partial[:, :, 3], latents[:, :, 1])
    torch.testing.assert_close(partial[:, :, [0, 1, 2, 4]], latents[:, :, [0, 1, 2, 4]], rtol=0, atol=0)
    with pytest.raises(ValueError, match="outside the 5 frames"):
        adain_video(latents, frames=[5])


def test_adain_schedule_phases_follow_the_release() -> None:
    schedule = AdaINSchedule()
    assert [i for i in range(50) if schedule.matches_to_first(i, 50)] == list(range(31, 50))
    latents = _noise() * torch.arange(1, 6).view(1, 1, 5, 1, 1)
    early = schedule.apply_step(latents, 0, 50)
    torch.testing.assert_close(early[:, :, :2], latents[:, :, :2], rtol=0, atol=0)
    for k in range(2, 5):
        _assert_stats_equal(early[:, :, k], latents[:, :, 1])
    late = schedule.apply_step(latents, 40, 50)
    for k in range(1, 5):
        _assert_stats_equal(late[:, :, k], latents[:, :, 0])
    quiet = AdaINSchedule(start_fraction=1.0, early_match_to_second=False, final=False)
    assert quiet.apply_step(latents, 49, 50) is latents and quiet.apply_final(latents) is latents
    final = schedule.apply_final(latents)
    _assert_stats_equal(final[:, :, 4], latents[:, :, 0])


def _cdf(channel: np.ndarray) -> np.ndarray:
    return np.cumsum(np.bincount(channel.ravel(), minlength=256)) / channel.size


def _largest_bin(channel: np.ndarray) -> float:
    return np.bincount(channel.ravel()).max() / channel.size


def test_histogram_matching_gives_the_reference_distribution() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(2, 48, 48, 3), dtype=np.uint8)
    dense_ref = rng.integers(60, 180, size=(48, 48, 3), dtype=np.uint8)  # every level well populated
    skewed_ref = (rng.random((48, 48, 3)) ** 3 * 200 + 40).astype(np.uint8)  # sparse upper tail
    levels = np.linspace(0.01, 0.99, 99)
    for ref in (dense_ref, skewed_ref):
        out = match_histograms(frames, ref)
        assert out.dtype == np.uint8 and out.shape == frames.shape
        for frame, source in zip(out, frames):
            for channel in range(3):
                got, want, src = frame[..., channel], ref[..., channel], source[..., channel]
                # A whole input level maps to one output level, so the CDFs can differ by at
                # most the mass of one input level plus one reference level.
                assert np.abs(_cdf(got) - _cdf(want)).max() <= _largest_bin(src) + _largest_bin(want)
                if ref is dense_ref:
                    quantile_gap = np.quantile(got, levels, method="lower").astype(int) - np.quantile(want, levels, method="lower")
                    assert np.abs(quantile_gap).max() <= 1
    # Monotone: a brighter input pixel never becomes darker.
    out = match_histograms(frames, skewed_ref)
    order = np.argsort(frames[0, ..., 0], axis=None)
    assert np.all(np.diff(out[0, ..., 0].ravel()[order].astype(int)) >= 0)


def test_histogram_matching_an_image_to_itself_changes_nothing() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(match_histograms(image[None], image)[0], image)


def test_fit_image_keeps_the_centre_and_reports(tmp_path) -> None:
    pixels = np.zeros((480, 640, 3), dtype=np.uint8)
    pixels[:, 48:592] = 255  # white centre, black side bands that the crop removes
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    image = load_image(path)
    fitted, note = fit_image(image, 32, 32)
    assert fitted.size == (32, 32)
    assert note == "resized 640x480 -> 43x32 and centre-cropped to 32x32"
    assert np.asarray(fitted)[:, 1:-1].min() >= 250  # no black band survives the crop
    same, none = fit_image(fitted, 32, 32)
    assert same is fitted and none is None
    wide, _ = fit_image(image, 24, 64)
    assert wide.size == (64, 24)


def test_load_image_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png does not exist"):
        load_image(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png as an image"):
        load_image(broken)


def test_image_tensor_round_trip() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    tensor = image_to_tensor(Image.fromarray(pixels))
    assert tensor.shape == (1, 3, 5, 7) and tensor.min() >= -1 and tensor.max() <= 1
    np.testing.assert_array_equal(np.asarray(tensor_to_images(tensor)[0]), pixels)
