"""attn1.to_q trained as a peft LoRA (MotionOptions.to_q_rank): what trains, what the file holds, how it adds."""

from __future__ import annotations

import warnings

import pytest
import torch
from safetensors.torch import load_file

from lamp_motion.models import LampMotionAdapter, MotionFileError, MotionOptions, OtherBaseWarning, VideoUNet
from lamp_motion.models.mixing import mix_motions
from lamp_motion.models.motion_file import check_options
from lamp_motion.models.video_unet import LORA_ADAPTER, to_q_loras
from lamp_motion.training.trainer import train
from tests.helpers import fine_tune, inputs, make_tiny_unet, randomise_added, tiny_config

LORA = MotionOptions(groupnorm="per_frame", to_q_rank=2)
FULL = MotionOptions(groupnorm="per_frame")


def lora_motion(seed: int) -> VideoUNet:
    """A "trained" LoRA motion of the tiny base (seed 0): every added tensor random, the LoRAs' B included."""
    video = VideoUNet.inflate(make_tiny_unet(0), LORA)
    randomise_added(video, seed=seed)
    return video.eval()


def change(lora) -> torch.Tensor:
    """What a to_q LoRA adds to its weight: B @ A (lora_alpha = rank, so its scale is 1)."""
    return lora.lora_B[LORA_ADAPTER].weight @ lora.lora_A[LORA_ADAPTER].weight


def test_the_lora_is_the_only_part_of_to_q_that_trains_and_adds_b_times_a():
    video = VideoUNet.inflate(make_tiny_unet(0), LORA)
    loras = to_q_loras(video.unet)
    assert len(loras) == video.report["to_q_loras"] == video.report["first_frame_attention"] > 0
    names = video.trainable_parameter_names()
    assert not [name for name in names if name.endswith("to_q.weight") and "attn1" in name]
    assert not [name for name in names if "base_layer" in name]
    assert {f"{prefix}.lora_{part}.{LORA_ADAPTER}.weight" for prefix in loras for part in "AB"} <= set(names)
    assert video.base_parameter_names() == [] and video.base_tensors == {}
    video.freeze_base()
    assert not any(lora.base_layer.weight.requires_grad for lora in loras.values())
    assert all(lora.lora_A[LORA_ADAPTER].weight.requires_grad for lora in loras.values())

    # A fresh LoRA (B = 0) leaves the video UNet as it is without one ...
    full = VideoUNet.inflate(make_tiny_unet(0), FULL).eval()
    with torch.no_grad():
        assert torch.equal(video.eval()(*inputs()), full(*inputs()))
    # ... and a trained one is the same as to_q's weight moved by B @ A.
    randomise_added(video, seed=3)
    params = dict(full.unet.named_parameters())
    with torch.no_grad():
        for name, param in video.unet.named_parameters():
            if name in params and name in video.added_parameter_names:
                params[name].copy_(param)
        for prefix, lora in loras.items():
            params[f"{prefix}.weight"].add_(change(lora))
        assert torch.allclose(video(*inputs()), full(*inputs()), atol=1e-5)


def test_a_lora_motion_file_holds_the_lora_only_and_loads_back_bit_identical(tmp_path):
    video = lora_motion(seed=7)
    path = LampMotionAdapter.from_video_unet(video).save_motion_file(tmp_path / "lora.safetensors", dtype="fp32")
    stored = load_file(str(path))
    assert not [name for name in stored if "base_layer" in name or name.endswith("attn1.to_q.weight")]
    lora_names = [name for name in stored if ".lora_" in name]
    assert len(lora_names) == 2 * len(to_q_loras(video.unet))
    adapter = LampMotionAdapter.from_pretrained(path)
    assert adapter.options.to_q_rank == 2 and adapter.base_weights == "difference"

    loaded = VideoUNet.from_unet2d(make_tiny_unet(0), adapter).eval()
    with torch.no_grad():
        assert torch.equal(loaded(*inputs()), video(*inputs()))
    # Its to_q part is smaller than to_q in full (rank 2 of 32- and 64-wide projections).
    full = VideoUNet.inflate(make_tiny_unet(0), FULL)
    full_to_q = sum(p.numel() for n, p in full.trainable_parameters().items() if n.endswith("attn1.to_q.weight"))
    assert sum(stored[name].numel() for name in lora_names) < full_to_q / 2


def test_on_a_fine_tune_the_lora_adds_onto_its_to_q_with_a_note():
    adapter = LampMotionAdapter.from_video_unet(lora_motion(seed=7))
    tuned = fine_tune(make_tiny_unet(0))
    tuned_to_q = {name: p.detach().clone() for name, p in tuned.named_parameters() if name.endswith("attn1.to_q.weight")}
    with pytest.warns(OtherBaseWarning, match="added"):
        video = VideoUNet.from_unet2d(tuned, adapter)
    held = adapter.tensors()
    for prefix, lora in to_q_loras(video.unet).items():
        assert torch.equal(lora.base_layer.weight, tuned_to_q[f"{prefix}.weight"])  # the fine-tune's own, kept
        assert torch.equal(lora.lora_B[LORA_ADAPTER].weight, held[f"{prefix}.lora_B.{LORA_ADAPTER}.weight"])


def test_a_mix_of_lora_motions_folds_their_weighted_changes_into_to_q():
    a, b = lora_motion(seed=7), lora_motion(seed=8)
    video = VideoUNet.inflate(make_tiny_unet(0), LORA)
    base = {prefix: lora.base_layer.weight.detach().clone() for prefix, lora in to_q_loras(video.unet).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mix_motions(video, [LampMotionAdapter.from_video_unet(a), LampMotionAdapter.from_video_unet(b)], [0.5, 0.25])
    a_loras, b_loras = to_q_loras(a.unet), to_q_loras(b.unet)
    for prefix, lora in to_q_loras(video.unet).items():
        expected = base[prefix] + 0.5 * change(a_loras[prefix]) + 0.25 * change(b_loras[prefix])
        assert torch.allclose(lora.base_layer.weight, expected, atol=1e-6)
        assert torch.count_nonzero(lora.lora_B[LORA_ADAPTER].weight) == 0

    # One motion at weight 1 beside another at 0 computes what that motion alone does.
    alone = VideoUNet.inflate(make_tiny_unet(0), LORA)
    mix_motions(alone, [LampMotionAdapter.from_video_unet(a), LampMotionAdapter.from_video_unet(b)], [1.0, 0.0])
    with torch.no_grad():
        assert torch.allclose(alone.eval()(*inputs()), a(*inputs()), atol=1e-5)


@pytest.mark.parametrize("options, problem", [
    (dict(to_q_rank=-1), "whole number from 0"),
    (dict(to_q_rank=True), "whole number from 0"),
    (dict(to_q_rank=1.5), "whole number from 0"),
    (dict(to_q_rank=100_000), "whole number from 0"),
    (dict(to_q_rank=4, train_layers="attn1"), "train_layers='lamp' only"),
])
def test_bad_ranks_are_refused_with_the_fix(options, problem):
    with pytest.raises(ValueError, match=problem):
        MotionOptions(**options)


def test_a_header_whose_rank_is_not_a_whole_number_is_refused():
    header = {**FULL.to_dict(), "to_q_rank": "4"}
    with pytest.raises(MotionFileError, match="to_q_rank"):
        check_options(header, "m.safetensors")
    assert check_options({**FULL.to_dict(), "to_q_rank": 4}, "m.safetensors")["to_q_rank"] == 4
    older = {key: value for key, value in FULL.to_dict().items() if key != "to_q_rank"}
    assert check_options(older, "m.safetensors")["to_q_rank"] == 0  # files before the option: to_q in full


def test_training_with_a_rank_leaves_to_q_and_resumes_exactly(motion_folder, tiny_sd_folder, tmp_path):
    whole = train(tiny_config(motion_folder, tiny_sd_folder, tmp_path / "whole", steps=4, motion_dtype="fp32",
                              to_q_rank=2))
    adapter = LampMotionAdapter.from_pretrained(whole)
    assert adapter.options.to_q_rank == 2
    stored = adapter.tensors()
    b_names = [name for name in stored if ".lora_B." in name]
    assert b_names and all(torch.count_nonzero(stored[name]) > 0 for name in b_names)  # B moved from 0: it trained
    assert not [name for name in stored if name.endswith("attn1.to_q.weight")]

    train(tiny_config(motion_folder, tiny_sd_folder, tmp_path / "split", steps=2, checkpoint_every=2,
                      motion_dtype="fp32", to_q_rank=2))
    resumed = train(tiny_config(motion_folder, tiny_sd_folder, tmp_path / "split", steps=4, resume="latest",
                                motion_dtype="fp32", to_q_rank=2))
    again = LampMotionAdapter.from_pretrained(resumed).tensors()
    assert again.keys() == stored.keys()
    assert all(torch.equal(again[name], stored[name]) for name in stored)
