"""LampMotionAdapter: old motion files load, folder and file round trips, clear errors, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
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
    save_motion,
)
from lamp_motion.models.loading import load_base
from lamp_motion.pipelines.lamp_pipeline import LampPipeline
from tests.helpers import inputs, make_tiny_unet, trained_video

# Written by `lamp train` before the adapter existed; see fixtures/README.md.
OLD_FILE = Path(__file__).parent.parent / "fixtures" / "toy_move_right_v0.1.0.safetensors"
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def public(config) -> dict:
    """A config as plain JSON data, without diffusers' private ``_`` entries."""
    return json.loads(json.dumps({key: value for key, value in config.items() if not key.startswith("_")}))


def trained_adapter(**recorded) -> tuple[VideoUNet, LampMotionAdapter]:
    video = trained_video()
    fields = dict(prompt="moves right", base="some/base", num_frames=4, height=32, width=48, stride=2, steps=7,
                  generation={"steps": 3, "guidance": 2.5}, resize="pad", training_config="stride: 2\nsteps: 7\n")
    return video, LampMotionAdapter.from_video_unet(video, **{**fields, **recorded})


def test_old_motion_file_loads_with_its_recorded_fields_as_numbers():
    adapter = LampMotionAdapter.from_pretrained(OLD_FILE)
    stored = load_file(str(OLD_FILE))
    held = adapter.state_dict()
    assert held.keys() == stored.keys()
    assert all(held[name].dtype == torch.float16 and torch.equal(held[name], stored[name]) for name in stored)
    config = public(adapter.config)
    assert config["tensor_shapes"] == {name: list(t.shape) for name, t in stored.items()}
    assert config["options"] == MotionOptions(groupnorm="joint").to_dict()
    assert {key: config[key] for key in ("prompt", "base", "num_frames", "height", "width", "stride", "steps",
                                         "generation", "resize", "library_version")} == {
        "prompt": "moves right", "base": "", "num_frames": 8, "height": 32, "width": 32, "stride": 2, "steps": 2,
        "generation": {"steps": 25, "guidance": 4.0}, "resize": "crop", "library_version": "0.1.0"}
    assert "stride: 2" in config["training_config"]
    assert LampMotionAdapter.from_pretrained(OLD_FILE, dtype=torch.float32).dtype == torch.float32
    header = read_motion_header(OLD_FILE)
    assert (header.base, header.stride, header.steps) == (None, 2, 2)  # "" (the built-in base) reads as None


def test_old_motion_file_loads_onto_a_fresh_toy_base_unchanged():
    stored = load_file(str(OLD_FILE))
    video = VideoUNet.from_unet2d(load_base(str(builtin_base_path())).unet, LampMotionAdapter.from_pretrained(OLD_FILE))
    assert video.options.groupnorm == "joint"  # the adapter's options, without being told
    loaded = video.trainable_parameters()
    assert loaded.keys() == stored.keys()
    assert all(torch.equal(loaded[name], stored[name].float()) for name in stored)

    pipe = LampPipeline.from_base(load_base(str(builtin_base_path())), str(OLD_FILE))
    assert pipe.trained_size == {"height": 32, "width": 32, "num_frames": 8}
    assert pipe.generation == {"steps": 25, "guidance": 4.0}
    from_pipe = pipe.unet.trainable_parameters()
    assert all(torch.equal(from_pipe[name], stored[name].float()) for name in stored)


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_save_pretrained_round_trips_config_tensors_and_dtype(tmp_path, dtype):
    video, adapter = trained_adapter()
    adapter.save_pretrained(tmp_path / "motion", dtype=dtype)
    assert sorted(p.name for p in (tmp_path / "motion").iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert adapter.dtype == torch.float32  # the adapter in memory keeps its dtype
    with safe_open(str(tmp_path / "motion" / "diffusion_pytorch_model.safetensors"), framework="pt") as handle:
        assert sorted(handle.keys()) == sorted(video.trainable_parameter_names())
        assert {handle.get_tensor(name).dtype for name in handle.keys()} == {TORCH_DTYPES[dtype]}

    loaded = LampMotionAdapter.from_pretrained(tmp_path / "motion", dtype=TORCH_DTYPES[dtype])
    assert public(loaded.config) == public(adapter.config)
    assert loaded.dtype == TORCH_DTYPES[dtype]
    expected = {name: t.to(TORCH_DTYPES[dtype]) for name, t in adapter.tensors().items()}
    assert expected.keys() == set(video.trainable_parameter_names())
    assert all(torch.equal(loaded.state_dict()[name], expected[name]) for name in expected)
    assert LampMotionAdapter.from_pretrained(tmp_path / "motion").dtype == torch.float32  # diffusers' default


def test_motion_file_round_trip_gives_the_same_typed_fields_and_outputs(tmp_path):
    video, adapter = trained_adapter()
    path = adapter.save_motion_file(tmp_path / "motion.safetensors", dtype="fp32")
    header = read_motion_header(path)
    assert header.config == {key: value for key, value in public(adapter.config).items() if key != "tensor_shapes"}
    assert (header.prompt, header.base, header.stride, header.steps) == ("moves right", "some/base", 2, 7)
    assert header.trained_size == {"height": 32, "width": 48, "num_frames": 4}
    assert header.generation == {"steps": 3, "guidance": 2.5}
    assert public(LampMotionAdapter.from_pretrained(path).config) == public(adapter.config)

    latents, t, text = inputs()
    by_reader = VideoUNet.inflate(make_tiny_unet(0), MotionOptions(groupnorm="per_frame"))
    load_motion(by_reader, path)  # the reader older code uses
    by_adapter = VideoUNet.from_unet2d(make_tiny_unet(0), LampMotionAdapter.from_pretrained(path))
    with torch.no_grad():
        expected = video(latents, t, text)
        assert torch.equal(by_reader(latents, t, text), expected)
        assert torch.equal(by_adapter(latents, t, text), expected)


def test_rewriting_an_old_file_keeps_its_metadata_and_tensors(tmp_path):
    again = LampMotionAdapter.from_pretrained(OLD_FILE).save_motion_file(tmp_path / "again.safetensors", dtype="fp16")
    with safe_open(str(OLD_FILE), framework="pt") as old, safe_open(str(again), framework="pt") as new:
        old_metadata, new_metadata = old.metadata(), new.metadata()
        assert all(torch.equal(old.get_tensor(name), new.get_tensor(name)) for name in old.keys())
        assert sorted(old.keys()) == sorted(new.keys())
    # The stride, read from the recorded config, now has a key, and so has the form of its to_q (in full).
    assert new_metadata == {**old_metadata, "stride": "2", "base_weights": "full"}


def test_save_motion_writes_through_the_adapter_and_refuses_unknown_metadata(tmp_path):
    video = trained_video()
    path = save_motion(video, tmp_path / "m.safetensors", extra_metadata={"prompt": "x", "config": "stride: 3\n",
                                                                          "num_frames": "5", "steps": "9"})
    header = read_motion_header(path)
    assert (header.prompt, header.stride, header.steps, header.trained_size["num_frames"]) == ("x", 3, 9, 5)
    with pytest.raises(ValueError, match="unknown motion file metadata.*'speed'"):
        save_motion(video, tmp_path / "n.safetensors", extra_metadata={"speed": "2"})


def test_from_video_unet_copies_the_tensors():
    video, adapter = trained_adapter()
    assert list(adapter.state_dict()) == video.trainable_parameter_names()
    before = {name: t.clone() for name, t in adapter.state_dict().items()}
    with torch.no_grad():
        for param in video.trainable_parameters().values():
            param.add_(1.0)
    assert all(torch.equal(before[name], t) for name, t in adapter.state_dict().items())


def test_wrong_base_or_options_give_the_clear_error():
    video, adapter = trained_adapter()
    with pytest.warns(OtherBaseWarning, match="trained on 'some/base', not this base"):
        VideoUNet.from_unet2d(make_tiny_unet(seed=3), adapter)  # a difference: added, with a note
    full = LampMotionAdapter.from_video_unet(video, base="some/base", base_weights="full")
    with pytest.raises(MotionFileError, match="trained on another base .*'some/base'.*allow_other_base"):
        VideoUNet.from_unet2d(make_tiny_unet(seed=3), full)
    with pytest.warns(OtherBaseWarning, match="replace this base's"):
        VideoUNet.from_unet2d(make_tiny_unet(seed=3), full, allow_other_base=True)
    with pytest.raises(MotionFileError, match="trained with options"):
        VideoUNet.from_unet2d(make_tiny_unet(0), adapter, options=MotionOptions(temporal_attention=False, groupnorm="per_frame"))
    with pytest.raises(MotionFileError, match=r"tensor '.*' has shape .*, expected .*another base"):
        VideoUNet.from_unet2d(make_tiny_unet(0, block_out_channels=(16, 48)), adapter)


def test_old_file_on_another_base_is_refused(tiny_sd_folder):
    with pytest.raises(MotionFileError, match=f"{OLD_FILE}.*another base"):
        LampPipeline.from_base(load_base(str(tiny_sd_folder)), str(OLD_FILE))


def test_pickled_files_are_refused(tmp_path):
    pickled = tmp_path / "motion.bin"
    torch.save({"x": torch.zeros(1)}, pickled)
    with pytest.raises(MotionFileError, match="pickled file .*never loaded"):
        LampMotionAdapter.from_pretrained(pickled)
    with pytest.raises(MotionFileError, match="pickled file"):
        LampMotionAdapter.from_pretrained(tmp_path / "missing.ckpt")

    _, adapter = trained_adapter()
    with pytest.raises(ValueError, match="safetensors only"):
        adapter.save_pretrained(tmp_path / "folder", safe_serialization=False)
    adapter.save_pretrained(tmp_path / "folder")
    weights = tmp_path / "folder" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(str(weights)), weights.with_suffix(".bin"))  # a folder with pickled weights only
    weights.unlink()
    with pytest.raises(OSError, match="diffusion_pytorch_model.safetensors"):
        LampMotionAdapter.from_pretrained(tmp_path / "folder")
