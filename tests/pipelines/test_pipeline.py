"""Generation: the first-frame condition, seeds, inversion, long videos, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamp_motion.models import MotionOptions
from lamp_motion.models.loading import load_base
from lamp_motion.pipelines.editing import ddim_invert
from lamp_motion.pipelines.lamp_pipeline import LampPipeline
from lamp_motion.pipelines.long_video import generate_long, window_starts
from lamp_motion.settings import SamplingSettings
from tests.helpers import randomise_added

SIZE = dict(height=32, width=32)
OLD_FILE = Path(__file__).parent.parent / "fixtures" / "toy_move_right_v0.1.0.safetensors"  # a toy motion, 2 steps


@pytest.fixture(scope="module")
def pipe(tiny_sd_folder):
    pipe = LampPipeline.from_base(load_base(str(tiny_sd_folder)), options=MotionOptions(groupnorm="per_frame"))
    randomise_added(pipe.unet, seed=3, scale=0.1)  # a "trained" motion, so frames interact
    return pipe


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))


def run(pipe, image, prompt="a red circle moves right", **kwargs):
    args = dict(num_frames=4, num_inference_steps=3, guidance_scale=3.0, progress=False, **SIZE)
    args.update(kwargs)
    return pipe(prompt, image, **args)


def test_frame_one_is_the_encoded_first_frame(pipe, image):
    out = run(pipe, image, generator=0)
    from lamp_motion.pipelines.images import image_to_tensor

    z1 = pipe.encode_images(image_to_tensor(image))
    assert torch.equal(out.latents[:, :, 0], z1)


def test_later_noise_never_changes_frame_one(pipe, image):
    shape = (1, 4, 4, 4, 4)
    a = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    b = a.clone()
    b[:, :, 1:] = torch.randn(b[:, :, 1:].shape, generator=torch.Generator().manual_seed(2))
    out_a = run(pipe, image, latents=a, adain=False)
    out_b = run(pipe, image, latents=b, adain=False)
    assert torch.equal(out_a.latents[:, :, 0], out_b.latents[:, :, 0])
    assert not torch.allclose(out_a.latents[:, :, 1:], out_b.latents[:, :, 1:])


def test_same_seed_same_video_different_seed_different(pipe, image):
    a, b, c = (run(pipe, image, generator=s).frames for s in (5, 5, 6))
    assert a.shape == (1, 4, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batch_of_prompts_and_output_types(pipe, image):
    out = run(pipe, image, prompt=["a red circle", "a blue square"], generator=0, output_type="pt")
    assert out.frames.shape == (2, 3, 4, 32, 32) and 0 <= float(out.frames.min()) and float(out.frames.max()) <= 1


def test_first_frame_of_another_size_is_fitted_with_a_note(pipe):
    wide = Image.new("RGB", (64, 40), (200, 30, 30))
    out = run(pipe, wide, generator=0)
    assert out.notes == ["first frame resized 64x40 -> 51x32 and centre-cropped to 32x32"]


@pytest.mark.parametrize("change,message", [
    (dict(height=30), "height=30 must be a positive multiple of 8"),
    (dict(num_frames=1), "at least 2 frames"),
    (dict(shared_noise_alpha=1.5), r"shared_noise=1.5 must be in \[0, 1\]"),
    (dict(output_type="mov"), "output_type"),
    (dict(latents=torch.zeros(1, 4, 3, 4, 4)), r"latents have shape \(1, 4, 3, 4, 4\); expected \(1, 4, 4, 4, 4\)"),
])
def test_bad_inputs_say_what_to_change(pipe, image, change, message):
    with pytest.raises(ValueError, match=message):
        run(pipe, image, **change)


def invert_and_rebuild(pipe, source, steps):
    inverted = ddim_invert(pipe, source, num_inference_steps=steps, progress=False)
    rebuilt = pipe("", source[:, :, 0], num_frames=source.shape[2], num_inference_steps=steps, guidance_scale=1.0,
                   latents=inverted, shared_noise_alpha=0.0, adain=False, output_type="latent", progress=False, **SIZE)
    return float((rebuilt.latents - source).abs().mean() / source.abs().mean())


def test_ddim_inversion_is_the_exact_reverse_of_sampling(pipe, monkeypatch):
    """With a predictor that ignores its input, DDIM inversion and sampling are exact inverses:
    this pins the timestep pairing and the handling of frame 1."""
    gen = torch.Generator().manual_seed(0)
    source = torch.randn(1, 4, 3, 4, 4, generator=gen)
    fixed = torch.randn(1, 4, 3, 4, 4, generator=gen)
    monkeypatch.setattr(pipe.unet, "forward", lambda x, t, text: fixed.expand(x.shape[0], -1, -1, -1, -1))
    assert invert_and_rebuild(pipe, source, 10) < 1e-5


def test_ddim_inversion_reconstructs_closely_on_the_tiny_model(pipe):
    source = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    coarse, fine = invert_and_rebuild(pipe, source, 5), invert_and_rebuild(pipe, source, 25)
    # Tolerance: mean relative error below 0.3 at 25 steps on a random (untrained, so non-smooth)
    # tiny UNet, and shrinking with more steps, as DDIM's discretisation error should.
    assert fine < 0.3 and fine < coarse, (coarse, fine)


def test_window_plan():
    assert window_starts(40, 16, 1) == [(0, 16), (15, 16), (30, 10)]
    assert window_starts(16, 16, 1) == [(0, 16)]
    assert window_starts(20, 8, 3) == [(0, 8), (5, 8), (10, 8), (15, 5)]
    with pytest.raises(ValueError, match="overlap"):
        window_starts(20, 8, 8)


def test_long_video_has_every_frame_and_windows_join(pipe, image, monkeypatch):
    windows = []
    original = LampPipeline.sample

    def spy(self, prompt, first_frame, settings, **kwargs):
        out = original(self, prompt, first_frame, settings, **kwargs)
        windows.append(out.latents.clone())
        return out

    monkeypatch.setattr(LampPipeline, "sample", spy)
    settings = pipe.resolve(SamplingSettings(frames=40, sampling_steps=2, guidance=1.0, **SIZE)).values
    out = generate_long(pipe, "a red circle moves right", image, settings, window=16, overlap=1, generator=0,
                        progress=False)
    assert out.frames.shape == (1, 40, 32, 32, 3)
    assert out.latents.shape[2] == 40
    assert [w.shape[2] for w in windows] == [16, 16, 10]
    assert torch.equal(windows[1][:, :, 0], windows[0][:, :, -1])  # window 2 starts from window 1's last frame
    assert torch.equal(windows[2][:, :, 0], windows[1][:, :, -1])
    assert torch.equal(out.latents[:, :, 15], windows[0][:, :, -1]) and torch.equal(out.latents[:, :, 16:31], windows[1][:, :, 1:])


def test_the_step_callback_sees_every_step_and_its_latents_go_on(pipe, image):
    """diffusers' callback_on_step_end: called after each denoising step; the latents it returns are used (frame 1
    stays the first frame's), in every window of a long video too."""
    seen = []

    def zero_last_step(pipe_, index, timestep, tensors):
        seen.append((index, int(timestep), tuple(tensors["latents"].shape)))
        return {"latents": tensors["latents"] * 0} if index == 2 else tensors

    out = run(pipe, image, output_type="latent", adain=False, callback_on_step_end=zero_last_step)
    assert [(i, shape) for i, _, shape in seen] == [(i, (1, 4, 4, 4, 4)) for i in range(3)]
    assert [t for _, t, _ in seen] == pipe.scheduler.timesteps.tolist()
    assert out.latents[:, :, 1:].abs().max() == 0 and out.latents[:, :, :1].abs().max() > 0

    windows = []
    settings = pipe.resolve(SamplingSettings(frames=7, sampling_steps=2, guidance=3.0, **SIZE)).values
    generate_long(pipe, "a red circle moves right", image, settings, window=4, progress=False,
                  callback_on_step_end=lambda p, i, t, tensors: windows.append(tensors["latents"].shape[2]) or tensors)
    assert windows == [4, 4, 4, 4]  # two windows (frames 1-4, 4-7) of two steps each

def test_motion_scale_one_is_todays_video_and_other_scales_change_it(pipe, image):
    today = run(pipe, image, generator=4)
    one = run(pipe, image, generator=4, motion_scale=1.0)
    assert np.array_equal(one.frames, today.frames) and torch.equal(one.latents, today.latents)
    for scale in (0.5, 1.5):
        assert not torch.allclose(run(pipe, image, generator=4, motion_scale=scale).latents, today.latents, atol=1e-3)
    assert pipe.unet.motion_scale == 1.0  # the call's scale is undone after it


def test_motion_scale_zero_is_a_still_video_of_frame_one(pipe, image):
    moving = run(pipe, image, generator=4, num_inference_steps=5, adain=False, histogram_matching=False)
    still = run(pipe, image, generator=4, motion_scale=0.0, num_inference_steps=5, adain=False, histogram_matching=False)
    z1 = still.latents[:, :, :1]
    # Up to the sampler: DDIM's last step leaves sqrt(1 - alpha_bar) = 0.03 of the noise (this schedule).
    assert float((still.latents[:, :, 1:] - z1).abs().max()) < 0.1
    assert float((moving.latents[:, :, 1:] - z1).abs().max()) > 1.0


def test_motion_scale_zero_on_the_toy_base_repeats_frame_one_in_pixels():
    """The toy base and a (2-step) toy motion: the later frames are frame 1's pixels, within a level or two."""
    toy = LampPipeline.from_motion(OLD_FILE)
    rng = np.random.default_rng(1)
    start = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    frames = run(toy, start, generator=0, motion_scale=0.0, num_inference_steps=5, adain=False,
                 histogram_matching=False).frames[0]
    assert np.abs(frames[1:].astype(int) - frames[:1]).max() <= 2
    moving = run(toy, start, generator=0, num_inference_steps=5, adain=False, histogram_matching=False).frames[0]
    assert np.abs(moving[1:].astype(int) - moving[:1]).max() > 20


@pytest.mark.parametrize("scale", [-1.0, 3.5, float("nan"), float("inf")])
def test_motion_scale_out_of_range_names_the_setting(pipe, image, scale):
    with pytest.raises(ValueError, match=r"motion_scale=.* must be a number from 0 to 3"):
        run(pipe, image, generator=0, motion_scale=scale)


def test_sequential_guidance_gives_the_batched_video(pipe, image):
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    try:
        batched = run(pipe, image, ["a red circle moves right", "a blue square moves left"], generator=6)
        sequential = run(pipe, image, ["a red circle moves right", "a blue square moves left"], generator=6,
                         sequential_guidance=True)
    finally:
        handle.remove()
    assert calls == [4] * 3 + [2] * 6  # 3 steps of a batch of 2 x 2 videos, then 2 passes of 2 videos a step
    torch.testing.assert_close(sequential.latents, batched.latents, rtol=1e-4, atol=1e-5)
    assert np.abs(sequential.frames.astype(int) - batched.frames).max() <= 1
    other = run(pipe, image, ["a red circle moves right", "a blue square moves left"], generator=7)
    assert not torch.allclose(other.latents, batched.latents, atol=1e-3)  # the comparison can tell videos apart
