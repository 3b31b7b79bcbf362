"""The groupnorm option: statistics per frame (this project's first behaviour) or over the clip (the authors')."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from lamp_motion.models import MotionOptions, VideoUNet
from lamp_motion.models.clip_norm import ClipGroupNorm
from lamp_motion.models.layout import FrameContext, fold_frames, unfold_frames
from lamp_motion.training.config import TrainConfig
from tests.helpers import TINY_UNET


def test_clip_groupnorm_equals_groupnorm_on_the_5d_clip():
    torch.manual_seed(0)
    reference = nn.GroupNorm(4, 16, eps=1e-5)
    with torch.no_grad():
        reference.weight.copy_(torch.randn(16))
        reference.bias.copy_(torch.randn(16))
    context = FrameContext(num_frames=5)
    joint = ClipGroupNorm(copy.deepcopy(reference), context)
    video = torch.randn(2, 16, 5, 6, 7) * torch.linspace(0.5, 3.0, 5)[None, None, :, None, None]  # frames differ in scale
    out = unfold_frames(joint(fold_frames(video)), 5)
    assert torch.allclose(out, reference(video), atol=1e-5)
    # ...which is not what per-frame statistics give on frames that differ.
    assert not torch.allclose(out, unfold_frames(reference(fold_frames(video)), 5), atol=1e-2)


def test_clip_groupnorm_keeps_the_pretrained_parameters():
    norm = nn.GroupNorm(2, 8)
    joint = ClipGroupNorm(norm, FrameContext())
    assert joint.weight is norm.weight and joint.bias is norm.bias
    assert [n for n, _ in joint.named_parameters()] == ["weight", "bias"]


def _inputs(f=4):
    gen = torch.Generator().manual_seed(3)
    latents = torch.randn(2, TINY_UNET["in_channels"], f, 8, 8, generator=gen)
    latents[:, :, 1:] *= 2.5  # later frames with other statistics than frame 1
    text = torch.randn(2, 7, TINY_UNET["cross_attention_dim"], generator=gen)
    return latents, torch.tensor([10, 500]), text


@torch.no_grad()
def test_joint_replaces_exactly_the_resnet_norms_and_conv_norm_out(tiny_unet):
    per_frame_added = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="per_frame")).added_parameter_names
    resnet_norms = sum(2 for m in tiny_unet.modules() if isinstance(m, ResnetBlock2D))
    names_before = [n for n, _ in tiny_unet.named_parameters()]
    video = VideoUNet.inflate(tiny_unet, MotionOptions(groupnorm="joint"))
    joint = [name for name, m in video.unet.named_modules() if isinstance(m, ClipGroupNorm)]
    assert len(joint) == video.report["clip_groupnorms"] == resnet_norms + 1
    assert "conv_norm_out" in joint and all(n.endswith(("norm1", "norm2", "conv_norm_out")) for n in joint)
    # transformer blocks keep their own per-frame GroupNorm; no parameter is renamed or added by the norms
    assert any(isinstance(m, nn.GroupNorm) and not isinstance(m, ClipGroupNorm) for m in video.unet.modules())
    assert [n for n in (n for n, _ in video.unet.named_parameters()) if n in set(names_before)] == names_before
    assert video.added_parameter_names == per_frame_added


def test_default_options_are_a_new_training_configs():
    assert MotionOptions() == TrainConfig().motion_options()
    assert MotionOptions().groupnorm == "joint"


@torch.no_grad()
def test_joint_is_the_model_without_the_option_and_per_frame_has_no_clip_norms(tiny_unet):
    plain = VideoUNet.inflate(copy.deepcopy(tiny_unet))
    explicit = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="joint"))
    assert plain.report["clip_groupnorms"] == explicit.report["clip_groupnorms"] > 0
    latents, t, text = _inputs()
    assert torch.equal(plain(latents, t, text), explicit(latents, t, text))
    per_frame = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="per_frame"))
    assert not any(isinstance(m, ClipGroupNorm) for m in per_frame.unet.modules())
    assert "clip_groupnorms" not in per_frame.report


@torch.no_grad()
def test_joint_differs_from_per_frame_on_a_clip_but_not_on_one_frame(tiny_unet):
    per_frame = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="per_frame"))
    joint = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="joint"))
    latents, t, text = _inputs()
    assert not torch.allclose(per_frame(latents, t, text), joint(latents, t, text), atol=1e-3)
    one = latents[:, :, :1]
    assert torch.allclose(per_frame(one, t, text), joint(one, t, text), atol=1e-5)


def test_groupnorm_option_is_checked_and_old_files_read_as_per_frame():
    with pytest.raises(ValueError, match="groupnorm"):
        MotionOptions(groupnorm="clip")
    old = {"motion_conv": True, "conv_mode": "causal", "first_frame_attention": True, "temporal_attention": True,
           "train_layers": "lamp"}
    assert MotionOptions.from_dict(old).groupnorm == "per_frame"
    assert MotionOptions.from_dict({**old, "groupnorm": "joint"}).groupnorm == "joint"
