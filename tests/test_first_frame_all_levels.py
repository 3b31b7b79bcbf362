"""First-frame attention at the levels without transformer blocks (an option beyond the paper)."""

from __future__ import annotations

import copy

import torch
from diffusers.models.resnet import ResnetBlock2D

from conftest import TINY_UNET
from lamp_motion.models import MotionOptions, VideoUNet
from lamp_motion.models.attention import FirstFrameFeatureAttention
from lamp_motion.models.layout import FrameContext


def _inputs(f=4):
    gen = torch.Generator().manual_seed(1)
    latents = torch.randn(2, TINY_UNET["in_channels"], f, 8, 8, generator=gen)
    return latents, torch.tensor([10, 500]), torch.randn(2, 7, TINY_UNET["cross_attention_dim"], generator=gen)


@torch.no_grad()
def test_fresh_modules_are_the_identity_and_sit_where_no_transformer_is(tiny_unet):
    plain = VideoUNet.inflate(copy.deepcopy(tiny_unet))
    video = VideoUNet.inflate(tiny_unet, MotionOptions(first_frame_attention_all_levels=True))
    holders = [name for name, m in video.unet.named_modules() if isinstance(m, ResnetBlock2D) and hasattr(m, "first_frame_attention")]
    expected = [f"{kind}_blocks.{i}.resnets.{j}" for kind in ("down", "up")
                for i, block in enumerate(getattr(video.unet, f"{kind}_blocks")) if not getattr(block, "attentions", None)
                for j in range(len(block.resnets))]
    assert holders == expected and len(holders) == video.report["first_frame_feature_attention"] > 0
    latents, t, text = _inputs()
    assert torch.allclose(video(latents, t, text), plain(latents, t, text), atol=1e-6)
    added = set(video.added_parameter_names) - set(plain.added_parameter_names)
    assert added and all(".first_frame_attention." in name for name in added)
    assert added <= set(video.trainable_parameter_names())


def test_later_frames_see_frame_one_and_frame_one_sees_only_itself():
    context = FrameContext(num_frames=3)
    module = FirstFrameFeatureAttention(16, context)
    torch.nn.init.normal_(module.attn.to_out[0].weight, std=0.5)  # trained: no longer the identity
    x = torch.randn(2 * 3, 16, 4, 4)
    out = module(x)
    changed = x.clone()
    changed[0] += torch.randn(16, 4, 4)  # video 0, frame 1
    moved = module(changed)
    assert not torch.allclose(moved[1:3], out[1:3], atol=1e-4)  # video 0's later frames follow its frame 1
    assert torch.allclose(moved[3:], out[3:], atol=1e-6)  # video 1 does not see video 0
    changed_later = x.clone()
    changed_later[2] += torch.randn(16, 4, 4)  # video 0, frame 3: no other frame reads it
    assert torch.allclose(module(changed_later)[:2], out[:2], atol=1e-6)


def test_option_is_off_for_old_motion_files():
    old = {"motion_conv": True, "conv_mode": "causal", "first_frame_attention": True, "temporal_attention": True,
           "train_layers": "lamp", "groupnorm": "per_frame"}
    assert MotionOptions.from_dict(old).first_frame_attention_all_levels is False
