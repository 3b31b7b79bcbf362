"""Motion-file headers from anyone: sizes, nesting, options and base are checked before they drive any work."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from lamp_motion.models import LampMotionAdapter, MotionFileError, MotionOptions, read_motion_header
from lamp_motion.models.loading import BaseModelError, load_recorded_base
from lamp_motion.models.motion_file import FORMAT, MAX_JSON_DEPTH, json_depth


def header(**changes: str) -> dict[str, str]:
    """The metadata of a good motion file (as `lamp train` writes it), with ``changes``."""
    metadata = {"format": FORMAT, "library_version": "0.1.0", "dtype": "fp16",
                "options": json.dumps(MotionOptions().to_dict()), "base_fingerprint": "{}",
                "prompt": "moves right", "base": "", "num_frames": "8", "height": "32", "width": "32",
                "stride": "1", "steps": "10", "generation": json.dumps({"steps": 25, "guidance": 4.0})}
    return {**metadata, **changes}


def write(tmp_path, **changes: str):
    path = tmp_path / "motion.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata=header(**changes))
    return path


def test_a_good_header_reads(tmp_path) -> None:
    motion = read_motion_header(write(tmp_path))
    assert motion.trained_size == {"height": 32, "width": 32, "num_frames": 8}
    assert motion.generation == {"steps": 25, "guidance": 4.0}


@pytest.mark.parametrize("key,value,allowed", [
    ("height", "65536", "8..2048"), ("width", "4", "8..2048"), ("num_frames", "100000", "1..256"),
    ("stride", "0", "1..64"), ("steps", "1000000000000", "0..100000000"),
])
def test_recorded_sizes_outside_their_range_are_refused_by_name(tmp_path, key, value, allowed) -> None:
    with pytest.raises(MotionFileError, match=f"its '{key}' metadata is {value}, outside {allowed}"):
        read_motion_header(write(tmp_path, **{key: value}))


@pytest.mark.parametrize("generation,named", [
    ({"steps": 10**9}, "'steps' is 1000000000, outside 1..1000"),
    ({"guidance": float("inf")}, "'guidance' is inf, outside 0..100"),
    ({"guidance": -3.0}, "'guidance' is -3.0, outside 0..100"),
])
def test_generation_settings_outside_their_range_are_refused(tmp_path, generation, named) -> None:
    with pytest.raises(MotionFileError, match=named):
        read_motion_header(write(tmp_path, generation=json.dumps(generation)))


@pytest.mark.parametrize("key", ["options", "base_fingerprint", "generation"])
def test_json_nested_100k_deep_is_refused_without_a_recursion_error(tmp_path, key) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(MotionFileError, match=f"its '{key}' metadata nests 100000 levels deep, more than the 16"):
        read_motion_header(write(tmp_path, **{key: deep}))


def test_json_depth_skips_brackets_inside_strings() -> None:
    assert json_depth('{"a": ["[[[[", {"b": "\\"]]]"}]}') == 3
    assert json_depth(json.dumps({"k": "[" * 100})) == 1
    assert MAX_JSON_DEPTH >= json_depth(header()["options"])


@pytest.mark.parametrize("options,named", [
    ([1, 2], "its 'options' metadata is a list, not a mapping"),
    ({"motion_conv": True}, "lacks 'conv_mode', 'first_frame_attention', 'temporal_attention'"),
    ({**MotionOptions().to_dict(), "motion_conv": "yes"}, "motion option 'motion_conv' is 'yes' \\(str\\), expected a bool"),
    ({**MotionOptions().to_dict(), "conv_mode": 1}, "motion option 'conv_mode' is 1 \\(int\\), expected a str"),
])
def test_options_of_the_wrong_type_or_missing_keys_are_refused_by_name(tmp_path, options, named) -> None:
    with pytest.raises(MotionFileError, match=named):
        read_motion_header(write(tmp_path, options=json.dumps(options)))


def test_options_added_later_may_be_missing() -> None:
    old = {key: value for key, value in MotionOptions().to_dict().items() if key not in ("train_layers", "groupnorm")}
    adapter = LampMotionAdapter(tensor_shapes={}, options=old)
    assert adapter.options == MotionOptions(groupnorm="per_frame")
    with pytest.raises(MotionFileError, match="lacks 'conv_mode'"):
        LampMotionAdapter(tensor_shapes={}, options={"motion_conv": True})


def test_a_base_of_many_lines_is_refused(tmp_path) -> None:
    with pytest.raises(MotionFileError, match="its 'base' metadata is not one line"):
        read_motion_header(write(tmp_path, base="a\nb"))


def test_a_recorded_base_that_is_a_folder_names_the_motion_file_not_the_folder_entries(tmp_path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "passwd").write_text("secret")
    motion = read_motion_header(write(tmp_path, base=str(folder)))
    with pytest.raises(BaseModelError) as raised:
        load_recorded_base(motion.base, motion.path)
    message = str(raised.value)
    assert f"{motion.path} records the base {str(folder)!r}, which cannot be loaded" in message
    assert "not a diffusers model folder" in message and message.endswith("pass the base it was trained on as base")
    assert "passwd" not in message
    assert raised.value.render({"base": "--base"}).endswith("as --base")
