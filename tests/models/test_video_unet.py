"""The video UNet: inflation, the motion layers, attention, the trainable set."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers import UNet2DConditionModel

from lamp_motion.models import MotionOptions, VideoUNet, check_sd1_unet
from lamp_motion.models.layout import FrameContext
from lamp_motion.models.motion_conv import MotionConv2d
from lamp_motion.testing import SD14_UNET
from tests.helpers import TINY_UNET, inputs, make_tiny_unet, randomise_added


def frame_by_frame(unet2d, latents, t, text):
    """The 2D UNet run on every frame separately: (b, c, f, h, w)."""
    frames = []
    for i in range(latents.shape[2]):
        frames.append(unet2d(latents[:, :, i], t, text).sample)
    return torch.stack(frames, dim=2)


@torch.no_grad()
def test_fresh_video_unet_equals_2d_unet_frame_by_frame(tiny_unet):
    reference = copy.deepcopy(tiny_unet)
    video = VideoUNet.inflate(tiny_unet, MotionOptions(first_frame_attention=False, groupnorm="per_frame"))
    latents, t, text = inputs()
    expected = frame_by_frame(reference, latents, t, text)
    assert torch.allclose(video(latents, t, text), expected, atol=1e-5)


@torch.no_grad()
def test_first_frame_attention_keeps_frame_one(tiny_unet):
    reference = copy.deepcopy(tiny_unet)
    video = VideoUNet.inflate(tiny_unet, MotionOptions(groupnorm="per_frame"))
    latents, t, text = inputs()
    out = video(latents, t, text)
    alone = reference(latents[:, :, 0], t, text).sample
    assert torch.allclose(out[:, :, 0], alone, atol=1e-5)
    # ...while later frames now do see frame 1, so they differ from the per-frame UNet.
    assert not torch.allclose(out[:, :, 1:], frame_by_frame(reference, latents, t, text)[:, :, 1:], atol=1e-3)


def test_every_2d_parameter_survives_inflation(tiny_unet):
    before = {name: p.detach().clone() for name, p in tiny_unet.named_parameters()}
    video = VideoUNet.inflate(tiny_unet, MotionOptions(groupnorm="per_frame"))
    after = dict(video.unet.named_parameters())
    for name, value in before.items():
        assert name in after, name
        assert torch.equal(after[name], value), name
    assert set(after) - set(before) == set(video.added_parameter_names)


@pytest.mark.parametrize("mode,causal", [("causal", True), ("centred", False)])
def test_motion_branch_causality(mode, causal):
    torch.manual_seed(0)
    context = FrameContext(num_frames=6)
    layer = MotionConv2d(torch.nn.Conv2d(8, 8, 3, padding=1), context, mode)
    with torch.no_grad():
        layer.conv1d.weight.normal_()
        layer.conv_gate.weight.normal_()
    x = torch.randn(6, 8, 5, 5)  # one video of 6 frames, folded
    t = 2
    changed = x.clone()
    changed[t + 1:] += torch.randn_like(changed[t + 1:])
    with torch.no_grad():
        branch = layer(x) - torch.nn.functional.conv2d(x, layer.weight, layer.bias, padding=1)
        branch_changed = layer(changed) - torch.nn.functional.conv2d(changed, layer.weight, layer.bias, padding=1)
    same_up_to_t = torch.allclose(branch[: t + 1], branch_changed[: t + 1], atol=1e-6)
    assert same_up_to_t == causal
    assert branch[: t + 1].abs().max() > 0  # the branch is active, not trivially zero


@pytest.mark.parametrize("mode", ["causal", "centred"])
@torch.no_grad()
def test_whole_unet_causality(tiny_unet, mode):
    video = VideoUNet.inflate(tiny_unet, MotionOptions(conv_mode=mode, temporal_attention=False, groupnorm="per_frame"))
    randomise_added(video)
    latents, t, text = inputs(f=6)
    changed = latents.clone()
    changed[:, :, 4:] = torch.randn_like(changed[:, :, 4:])
    same = torch.allclose(video(latents, t, text)[:, :, :4], video(changed, t, text)[:, :, :4], atol=1e-5)
    assert same == (mode == "causal")


def expected_trainable_count(config: dict) -> tuple[int, int, int]:
    """(wrapped convs, transformer blocks, trainable parameters) computed from a UNet config alone."""
    channels = list(config["block_out_channels"])
    layers = config["layers_per_block"]
    conv_outs = [channels[0], config["out_channels"]]  # conv_in, conv_out
    blocks = []  # transformer block widths
    previous = channels[0]
    for i, (kind, c) in enumerate(zip(config["down_block_types"], channels)):
        for j in range(layers):
            conv_outs += [c, c] + ([c] if (previous if j == 0 else c) != c else [])
            blocks += [c] if kind.startswith("CrossAttn") else []
        previous = c
        conv_outs += [c] if i < len(channels) - 1 else []  # downsampler
    conv_outs += [channels[-1]] * 4  # mid block: two resnets
    blocks += [channels[-1]]
    for i, (kind, c) in enumerate(zip(config["up_block_types"], reversed(channels))):
        conv_outs += [c, c, c] * (layers + 1)  # every up resnet has a skip concat, so a shortcut
        blocks += [c] * (layers + 1) if kind.startswith("CrossAttn") else []
        conv_outs += [c] if i < len(channels) - 1 else []  # upsampler
    conv_params = sum(3 * c * c + c + 9 * c + 1 for c in conv_outs)  # conv1d + gate
    block_params = sum(c * c + 4 * c * c + c + 2 * c for c in blocks)  # attn1.to_q + temporal attention + its norm
    return len(conv_outs), len(blocks), conv_params + block_params


def test_trainable_set_is_added_layers_plus_to_q(tiny_unet):
    video = VideoUNet.inflate(tiny_unet, MotionOptions(groupnorm="per_frame"))
    count = video.freeze_base()
    trainable = {n for n, p in video.unet.named_parameters() if p.requires_grad}
    to_q = {n for n in trainable if n.endswith("attn1.to_q.weight")}
    assert trainable == set(video.added_parameter_names) | to_q
    convs, blocks, params = expected_trainable_count(TINY_UNET)
    assert len(to_q) == video.report["first_frame_attention"] == blocks == 4
    assert (video.report["motion_convs"], video.report["temporal_attention"], count) == (convs, blocks, params)


def test_train_layers_widen_the_trainable_set(tiny_unet):
    lamp = set(VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="per_frame")).trainable_parameter_names())
    attn1 = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(train_layers="attn1", groupnorm="per_frame"))
    attn1.freeze_base()
    trained = {n for n, p in attn1.unet.named_parameters() if p.requires_grad}
    every_attn1 = {n for n, _ in attn1.unet.named_parameters() if ".attn1." in n}
    assert {n.rsplit(".", 2)[-2] for n in every_attn1} == {"to_q", "to_k", "to_v", "0"}  # 0: to_out's linear
    assert trained == lamp | every_attn1 and lamp < trained
    unet = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(train_layers="unet", groupnorm="per_frame"))
    count = unet.freeze_base()
    assert count == sum(p.numel() for p in unet.unet.parameters())
    assert all(p.requires_grad for p in unet.unet.parameters())
    with pytest.raises(ValueError, match="train_layers"):
        MotionOptions(train_layers="everything")


def test_sd14_size_counts_match_method_notes():
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD14_UNET)
    video = VideoUNet.inflate(unet, MotionOptions(groupnorm="per_frame"))
    count = video.freeze_base()
    convs, blocks, params = expected_trainable_count(SD14_UNET)
    assert video.report["motion_convs"] == convs == 66
    assert video.report["temporal_attention"] == blocks == 16
    assert count == params
    # method-notes: about 254M trainable (conv1d ~191M, attn_temp ~50M, to_q ~12M, gate ~0.5M).
    # Ours also trains norm_temp (every added layer trains), which adds only 2*c per block.
    assert 250e6 < count < 258e6
    norm_temp = sum(p.numel() for n, p in video.unet.named_parameters() if ".norm_temp." in n)
    assert norm_temp < 0.1e6


def test_gradient_checkpointing_gives_the_same_gradients(tiny_unet):
    latents, t, text = inputs(b=1, f=4)
    grads = []
    for checkpointing in (False, True):
        video = VideoUNet.inflate(copy.deepcopy(tiny_unet), MotionOptions(groupnorm="per_frame"))
        randomise_added(video)
        video.freeze_base()
        video.train()
        if checkpointing:
            video.enable_gradient_checkpointing()
        video(latents, t[:1], text[:1]).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in video.trainable_parameters().items()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5), name


def test_ablation_switches_remove_their_layers(tiny_unet):
    video = VideoUNet.inflate(tiny_unet, MotionOptions(motion_conv=False, first_frame_attention=False, temporal_attention=False, groupnorm="per_frame"))
    assert video.added_parameter_names == []
    assert video.report == {"motion_convs": 0, "first_frame_attention": 0, "temporal_attention": 0, "added_parameters": 0}
    with pytest.raises(ValueError, match="conv_mode"):
        MotionOptions(conv_mode="sideways")


def test_non_sd1_unets_are_rejected():
    sdxl_like = make_tiny_unet(addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=40)
    with pytest.raises(ValueError, match="not an SD 1.x UNet.*addition_embed_type=text_time"):
        check_sd1_unet(sdxl_like)
    with pytest.raises(ValueError, match="inpainting"):
        check_sd1_unet(make_tiny_unet(in_channels=9))
    with pytest.raises(ValueError, match="UNet2DConditionModel"):
        check_sd1_unet(torch.nn.Linear(2, 2))


def test_video_unet_checks_its_layout(tiny_unet):
    video = VideoUNet.inflate(tiny_unet, MotionOptions(groupnorm="per_frame"))
    with pytest.raises(ValueError, match=r"\(b, c, f, h, w\)"):
        video(torch.randn(2, 4, 8, 8), 1, torch.randn(2, 7, 24))


def _branches_weighted(video: VideoUNet, weight: float) -> None:
    """Multiply the last linear layer of every motion branch (conv1d, attn_temp's output) by ``weight``, in place."""
    with torch.no_grad():
        for module in video.unet.modules():
            last = module.conv1d if isinstance(module, MotionConv2d) else getattr(module, "attn_temp", None)
            if last is not None:
                layer = last if isinstance(module, MotionConv2d) else last.to_out[0]
                layer.weight.mul_(weight)
                layer.bias.mul_(weight)


@torch.no_grad()
@pytest.mark.parametrize("scale", [0.0, 0.5, 1.5])
def test_motion_scale_weights_every_motion_branch(scale):
    """The runtime scale is the model whose branches' output layers are scaled: exactly linear, weights untouched."""
    video, reference = VideoUNet.inflate(make_tiny_unet(0)), VideoUNet.inflate(make_tiny_unet(0))
    randomise_added(video, seed=7)
    randomise_added(reference, seed=7)
    _branches_weighted(reference, scale)
    weights = {name: p.clone() for name, p in video.unet.named_parameters()}
    latents, t, text = inputs()
    unscaled = video(latents, t, text)
    video.set_motion_scale(scale)
    assert video.motion_scale == scale
    scaled = video(latents, t, text)
    assert torch.allclose(scaled, reference(latents, t, text), atol=1e-5)
    assert not torch.allclose(scaled, unscaled, atol=1e-3)
    assert all(torch.equal(p, weights[name]) for name, p in video.unet.named_parameters())
    video.set_motion_scale(1.0)
    assert torch.equal(video(latents, t, text), unscaled)


@torch.no_grad()
def test_motion_scale_one_is_bit_identical_and_zero_is_the_fresh_model():
    video, fresh = VideoUNet.inflate(make_tiny_unet(0)), VideoUNet.inflate(make_tiny_unet(0))
    randomise_added(video, seed=7)
    latents, t, text = inputs()
    before = video(latents, t, text)
    with video.motion_scaled(1.0):
        assert torch.equal(video(latents, t, text), before)
    with video.motion_scaled(0.0):
        assert torch.equal(video(latents, t, text), fresh(latents, t, text))  # zero-initialised layers are no-ops
    assert video.motion_scale == 1.0


@pytest.mark.parametrize("scale", [-0.1, 3.01, float("nan"), float("inf"), True, "1"])
def test_motion_scale_is_checked(tiny_unet, scale):
    video = VideoUNet.inflate(tiny_unet)
    with pytest.raises(ValueError, match="motion scale"):
        video.set_motion_scale(scale)
    assert video.motion_scale == 1.0


def test_motion_scaled_restores_the_scale_after_an_error(tiny_unet):
    video = VideoUNet.inflate(tiny_unet)
    video.set_motion_scale(2.0)
    with pytest.raises(RuntimeError), video.motion_scaled(0.5):
        assert {layer.motion_scale for layer in video.motion_layers()} == {0.5}
        raise RuntimeError("stop")
    assert video.motion_scale == 2.0
    assert len(video.motion_layers()) == video.report["motion_convs"] + video.report["temporal_attention"]
