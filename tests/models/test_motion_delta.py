"""Motions on fine-tunes: the base's own trained weights (attn1.to_q) held as a difference from the base."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lamp_motion.builtin import builtin_base_path
from lamp_motion.models import (
    LampMotionAdapter,
    MotionFileError,
    MotionOptions,
    OtherBaseWarning,
    VideoUNet,
    load_motion,
    read_motion_header,
)
from lamp_motion.models.loading import load_base_unet
from tests.helpers import fine_tune, inputs, make_tiny_unet, trained_video

OLD_FILE = Path(__file__).parent.parent / "fixtures" / "toy_move_right_v0.1.0.safetensors"
OPTIONS = MotionOptions(groupnorm="per_frame")


def to_q_names(video: VideoUNet) -> list[str]:
    return [name for name in video.trainable_parameter_names() if name.endswith("attn1.to_q.weight")]


def test_base_parameters_are_the_pretrained_part_of_the_trainable_set():
    video = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)
    assert video.base_parameter_names() == to_q_names(video)
    assert not set(video.base_parameter_names()) & set(video.added_parameter_names)
    pretrained = dict(make_tiny_unet(0).named_parameters())
    assert all(torch.equal(video.base_tensors[name], pretrained[name]) for name in video.base_parameter_names())
    attn1 = VideoUNet.inflate(make_tiny_unet(0), MotionOptions(train_layers="attn1", groupnorm="per_frame"))
    assert {name.split("attn1.")[1] for name in attn1.base_parameter_names()} >= {"to_q.weight", "to_k.weight", "to_v.weight"}
    whole = VideoUNet.inflate(make_tiny_unet(0), MotionOptions(train_layers="unet", groupnorm="per_frame"))
    assert whole.base_tensors == {}  # a copy of the whole UNet is not kept: its motions are held in full
    assert LampMotionAdapter.from_video_unet(whole).base_weights == "full"


def test_the_file_holds_the_difference_and_the_same_base_gets_the_trained_values(tmp_path):
    video = trained_video()
    adapter = LampMotionAdapter.from_video_unet(video)
    path = adapter.save_motion_file(tmp_path / "m.safetensors", dtype="fp32")
    assert read_motion_header(path).base_weights == "difference"
    stored, trained = load_file(str(path)), video.trainable_parameters()
    for name in to_q_names(video):
        assert torch.equal(stored[name], trained[name].detach() - video.base_tensors[name])
        assert stored[name].abs().max() < 0.06  # the difference (0.05), not the weights
    fresh = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OtherBaseWarning)  # its own base: no note
        load_motion(fresh, path)
    loaded = fresh.trainable_parameters()
    assert all(torch.equal(loaded[name], trained[name]) for name in trained)  # bit-identical to the trained model
    latents, t, text = inputs()
    with torch.no_grad():
        assert torch.equal(fresh(latents, t, text), video(latents, t, text))


def test_a_half_precision_difference_is_closer_than_half_precision_weights(tmp_path):
    video = trained_video()
    difference = LampMotionAdapter.from_video_unet(video).save_motion_file(tmp_path / "d.safetensors", dtype="fp16")
    full = LampMotionAdapter.from_video_unet(video, base_weights="full").save_motion_file(tmp_path / "f.safetensors",
                                                                                          dtype="fp16")
    errors = {}
    for kind, path in (("difference", difference), ("full", full)):
        fresh = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)
        load_motion(fresh, path)
        errors[kind] = max(float((fresh.trainable_parameters()[name] - video.trainable_parameters()[name]).detach().abs().max())
                           for name in to_q_names(video))
    assert errors["difference"] < errors["full"] / 4


def test_a_difference_on_a_fine_tune_is_added_with_a_note(tmp_path):
    video = trained_video()
    path = LampMotionAdapter.from_video_unet(video, base="runwayml/sd-1.5").save_motion_file(tmp_path / "m.safetensors",
                                                                                            dtype="fp32")
    other = VideoUNet.inflate(fine_tune(make_tiny_unet(0)), OPTIONS)
    fine_tuned = {name: p.detach().clone() for name, p in other.trainable_parameters().items()}
    with pytest.warns(OtherBaseWarning, match=r"trained on 'runwayml/sd-1\.5', not this base .*added to this base's"):
        load_motion(other, path)
    loaded, trained = other.trainable_parameters(), video.trainable_parameters()
    for name in trained:
        if name in video.base_tensors:  # the fine-tune's to_q plus what the motion changed in the base's
            assert torch.allclose(loaded[name], fine_tuned[name] + (trained[name] - video.base_tensors[name]), atol=1e-6)
            assert not torch.allclose(loaded[name], trained[name], atol=1e-3)
        else:
            assert torch.equal(loaded[name], trained[name])
    again = LampMotionAdapter.from_video_unet(other)  # saved again from the fine-tune: the same difference
    assert all(torch.allclose(again.tensors()[name], load_file(str(path))[name], atol=1e-6) for name in trained)


def test_other_shapes_are_refused_whatever_the_form(tmp_path):
    path = LampMotionAdapter.from_video_unet(trained_video()).save_motion_file(tmp_path / "m.safetensors")
    other = VideoUNet.inflate(make_tiny_unet(0, block_out_channels=(16, 48)), OPTIONS)
    for allow in (False, True):
        with pytest.raises(MotionFileError, match=r"tensor '.*' has shape .*, expected .*another base"):
            load_motion(other, path, allow_other_base=allow)


def test_a_full_file_is_turned_into_a_difference_when_its_base_is_given(tmp_path):
    video = trained_video()
    path = LampMotionAdapter.from_video_unet(video, base_weights="full").save_motion_file(tmp_path / "m.safetensors",
                                                                                         dtype="fp32")
    other = VideoUNet.inflate(fine_tune(make_tiny_unet(0)), OPTIONS)
    fine_tuned = {name: p.detach().clone() for name, p in other.trainable_parameters().items()}
    with pytest.warns(OtherBaseWarning, match="added to this base's"):
        load_motion(other, path, trained_base=make_tiny_unet(0))
    loaded, trained = other.trainable_parameters(), video.trainable_parameters()
    for name in to_q_names(video):
        assert torch.allclose(loaded[name], fine_tuned[name] + (trained[name] - video.base_tensors[name]), atol=1e-6)

    with pytest.raises(MotionFileError, match="given as the one .* was trained on .* is not it"):
        load_motion(VideoUNet.inflate(fine_tune(make_tiny_unet(0)), OPTIONS), path, trained_base=make_tiny_unet(3))
    with pytest.raises(ValueError, match="inflated UNet"):
        load_motion(VideoUNet.inflate(fine_tune(make_tiny_unet(0)), OPTIONS), path,
                    trained_base=VideoUNet.inflate(make_tiny_unet(0), OPTIONS).unet)
    same = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)  # its own base: loaded in full, as before
    load_motion(same, path, trained_base=make_tiny_unet(0))
    assert all(torch.equal(same.trainable_parameters()[name], trained[name]) for name in trained)


def test_an_old_file_on_a_toy_fine_tune_takes_its_base_as_a_difference():
    stored = load_file(str(OLD_FILE))
    toy = load_base_unet(str(builtin_base_path()))
    options = read_motion_header(OLD_FILE).options
    other = VideoUNet.inflate(fine_tune(load_base_unet(str(builtin_base_path()))), options)
    fine_tuned = {name: p.detach().clone() for name, p in other.trainable_parameters().items()}
    with pytest.raises(MotionFileError, match="another base .*the built-in toy base.*trained_base"):
        load_motion(other, OLD_FILE)
    with pytest.warns(OtherBaseWarning, match="trained on the built-in toy base"):
        load_motion(other, OLD_FILE, trained_base=toy)
    base = dict(toy.named_parameters())
    loaded = other.trainable_parameters()
    for name in loaded:
        if name.endswith("attn1.to_q.weight"):
            expected = fine_tuned[name] + (stored[name].float() - base[name].detach())
            assert torch.allclose(loaded[name], expected, atol=1e-6)
        else:
            assert torch.equal(loaded[name], stored[name].float())


def test_checkpoints_hold_the_base_weights_in_full(tmp_path):
    from lamp_motion.training.checkpoint import save_checkpoint

    video = trained_video()
    params = [p for p in video.trainable_parameters().values()]
    optimizer = torch.optim.AdamW(params)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    folder = save_checkpoint(tmp_path, 3, video, optimizer, scheduler, {}, keep=1)
    assert read_motion_header(folder / "motion.safetensors").base_weights == "full"
    stored = load_file(str(folder / "motion.safetensors"))
    assert all(torch.equal(stored[name], p.detach()) for name, p in video.trainable_parameters().items())


def test_a_damaged_form_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = LampMotionAdapter.from_video_unet(trained_video()).save_motion_file(tmp_path / "m.safetensors")
    header = read_motion_header(path)
    save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"), metadata={**header.metadata, "base_weights": "lora"})
    with pytest.raises(MotionFileError, match="'base_weights' metadata is 'lora'"):
        read_motion_header(tmp_path / "bad.safetensors")


def test_from_motion_turns_an_old_file_into_a_difference_against_the_base_it_records(tmp_path):
    from diffusers import StableDiffusionPipeline

    from lamp_motion.pipelines.lamp_pipeline import LampPipeline

    toy = StableDiffusionPipeline.from_pretrained(str(builtin_base_path()), safety_checker=None)
    fine_tune(toy.unet)
    toy.save_pretrained(tmp_path / "toy-fine-tune")
    fine_tuned = dict(load_base_unet(str(tmp_path / "toy-fine-tune")).named_parameters())
    with pytest.warns(OtherBaseWarning, match="trained on the built-in toy base.*added to this base's"):
        pipe = LampPipeline.from_motion(str(OLD_FILE), base=str(tmp_path / "toy-fine-tune"))
    stored, base = load_file(str(OLD_FILE)), dict(load_base_unet(str(builtin_base_path())).named_parameters())
    loaded = pipe.unet.trainable_parameters()
    for name in [n for n in loaded if n.endswith("attn1.to_q.weight")]:
        expected = fine_tuned[name] + (stored[name].float() - base[name])
        assert torch.allclose(loaded[name], expected, atol=1e-6)
