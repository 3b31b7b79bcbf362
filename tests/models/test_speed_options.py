"""Speed options: fused attention kernels only, torch.compile, TF32, fused AdamW."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from lamp_motion.models import MotionOptions, VideoUNet
from lamp_motion.models.speed import allow_tf32, compile_video_unet, fused_attention_only
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import _make_optimizer
from tests.helpers import make_tiny_unet


def random_video_unet(seed: int = 1) -> VideoUNet:
    """A tiny video UNet whose added layers are random (fresh ones are zero and hide mistakes)."""
    video = VideoUNet.inflate(make_tiny_unet(), MotionOptions(groupnorm="per_frame"))
    video.freeze_base()
    gen = torch.Generator().manual_seed(seed)
    params = dict(video.unet.named_parameters())
    with torch.no_grad():
        for name in video.added_parameter_names:
            params[name].copy_(torch.randn(params[name].shape, generator=gen) * 0.2)
    return video


def inputs(frames: int = 5, batch: int = 2):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(batch, 4, frames, 8, 8, generator=gen), torch.tensor([10, 500][:batch]),
            torch.randn(batch, 7, 24, generator=gen))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_attention_runs_in_a_fused_kernel(dtype):
    """First-frame, cross and temporal attention, forward and backward, with the math kernel switched off:
    the gradients are those of the default kernels in float32 (to rounding in bfloat16)."""
    reference = gradients(random_video_unet(), torch.float32)
    with fused_attention_only():
        fused = gradients(random_video_unet().to(dtype), dtype)
    assert fused.keys() == reference.keys()
    if dtype == torch.float32:
        for name, grad in reference.items():
            torch.testing.assert_close(fused[name], grad, rtol=1e-3, atol=1e-6, msg=name)
    else:
        ours, theirs = torch.cat([g.flatten() for g in fused.values()]), torch.cat([g.flatten() for g in reference.values()])
        assert torch.count_nonzero(theirs) > 0
        assert F.cosine_similarity(ours, theirs, dim=0) > 0.99


def gradients(video: VideoUNet, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The float32 gradients of every trainable parameter for a fixed loss on fixed inputs."""
    video.train()
    latents, t, text = inputs()
    video(latents.to(dtype), t, text.to(dtype)).float().square().mean().backward()
    return {name: p.grad.float() for name, p in video.trainable_parameters().items()}


def test_fused_attention_only_refuses_what_needs_the_math_kernel():
    q = torch.randn(1, 2, 4, 8)
    with fused_attention_only(), pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(1, 1, 4, 4).bool(), dropout_p=0.5)


def test_compiled_video_unet_keeps_outputs_and_names():
    """Compiled through dynamo (the eager backend: the graph capture, not inductor's code
    generation, is what could break on our hooks and frame context); a new frame count
    recompiles rather than reusing the graph of another count."""
    video = random_video_unet().eval()
    reference = copy.deepcopy(video)
    names = [name for name, _ in video.unet.named_parameters()]
    compile_video_unet(video, backend="eager", dynamic=False)
    assert [name for name, _ in video.unet.named_parameters()] == names
    with torch.no_grad():
        for frames in (5, 3):
            latents, t, text = inputs(frames)
            assert torch.allclose(video(latents, t, text), reference(latents, t, text), atol=1e-5)


def test_tf32_option_sets_both_flags():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        allow_tf32(True)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
        allow_tf32(False)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_fused_adamw_is_the_default_and_steps_like_the_unfused_one():
    assert TrainConfig().fused_adamw
    steps = {}
    for fused in (True, False):
        video = random_video_unet()
        params = list(video.trainable_parameters().values())
        optimizer = _make_optimizer(TrainConfig(fused_adamw=fused, learning_rate=1e-3), params)
        assert optimizer.defaults["fused"] is fused
        latents, t, text = inputs()
        for _ in range(2):
            video(latents, t, text).square().mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        steps[fused] = torch.cat([p.detach().flatten() for p in params])
    assert not torch.equal(steps[True], torch.cat([p.detach().flatten() for p in random_video_unet().trainable_parameters().values()]))
    assert torch.allclose(steps[True], steps[False], atol=1e-6)
