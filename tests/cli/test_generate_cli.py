"""`lamp generate` end to end on a tiny model: files, settings JSON, and bad inputs."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from lamp_motion.cli.main import main
from lamp_motion.models import LampMotionAdapter, VideoUNet, read_motion_header
from lamp_motion.models.loading import load_base_unet
from lamp_motion.video_io import read_video
from tests.helpers import generate, make_tiny_pipeline


def test_generate_writes_mp4_gif_sheet_and_settings(motion_file, tmp_path):
    out = tmp_path / "videos"
    assert generate("--motion", str(motion_file), "--prompt", "a red circle moves right", "--out", str(out),
                    "--num-videos", "2", "--seed", "3", "--fps", "10") == 0
    records = sorted(out.glob("*-seed*.json"))
    assert [p.name for p in records] == ["a-red-circle-moves-right-seed3.json", "a-red-circle-moves-right-seed4.json"]
    record = json.loads(records[0].read_text())
    assert (record["seed"], record["frames"], record["height"], record["width"]) == (3, 4, 32, 32)
    assert record["first_frame"] == "base" and record["motion_prompt"] == "moves right"
    assert record["motion_scale"] == 1.0
    for kind in ("mp4", "gif"):
        frames, fps = read_video(out / record["videos"][kind])
        assert frames.shape == (4, 32, 32, 3)
        assert fps == pytest.approx(10, abs=0.01)
    assert Image.open(out / record["videos"]["sheet"]).size == (4 * 128, 128)


def test_generate_from_image_and_long_video(motion_file, tmp_path):
    image = tmp_path / "first.png"
    Image.fromarray(np.full((48, 40, 3), 128, np.uint8)).save(image)
    out = tmp_path / "videos"
    assert generate("--motion", str(motion_file), "--prompt", "a grey frame", "--image", str(image), "--out", str(out),
                    "--frames", "7") == 0
    record = json.loads(next(out.glob("*-seed*.json")).read_text())
    assert record["first_frame"] == f"image:{image}" and record["window"] == 4
    frames, _ = read_video(out / record["videos"]["gif"])
    assert frames.shape[0] == 7


@pytest.mark.parametrize("args,message", [
    (["--motion", "missing.safetensors"], "motion file missing.safetensors does not exist"),
    (["--height", "30"], "height=30 must be a positive multiple of 8"),
    (["--image", "nope.png"], "nope.png"),
    (["--motion-scale", "3.5"], "--motion-scale=3.5 must be a number from 0 to 3 (0: a still video of frame 1"),
    (["--motion-scale", "nan"], "--motion-scale=nan must be a number from 0 to 3"),
])
def test_bad_inputs_give_their_message(motion_file, tmp_path, capsys, args, message):
    base = ["--motion", str(motion_file), "--prompt", "x", "--out", str(tmp_path)]
    assert generate(*base, *args) == 2
    assert message in capsys.readouterr().err


def test_the_motion_scale_is_used_and_recorded(motion_file, tmp_path):
    runs = {}
    for scale in ("1", "0.5"):
        out = tmp_path / scale
        assert generate("--motion", str(motion_file), "--prompt", "a red circle moves right", "--out", str(out),
                        "--motion-scale", scale) == 0
        record = json.loads(next(out.glob("*.json")).read_text())
        assert record["motion_scale"] == float(scale)
        runs[scale] = np.asarray(Image.open(out / record["videos"]["sheet"]))
    assert not np.array_equal(runs["1"], runs["0.5"])


def test_two_motions_are_mixed_by_their_weights_and_recorded(motion_file, tmp_path, capsys):
    sheets = {}
    for name, weights in [("alone", None), ("halves", ["0.5", "0.5"]), ("doubled", ["1", "1"])]:
        out = tmp_path / name
        motions = ["--motion", str(motion_file)] * (1 if weights is None else 2)
        extra = [] if weights is None else ["--motion-weights", *weights]
        assert generate(*motions, *extra, "--prompt", "a red circle moves right", "--out", str(out)) == 0
        record = json.loads(next(out.glob("*.json")).read_text())
        sheets[name] = np.asarray(Image.open(out / record["videos"]["sheet"])).astype(int)
        if weights is None:
            assert record["motion"] == str(motion_file) and record["motion_weights"] is None
        else:
            assert record["motion"] == [str(motion_file)] * 2 and record["motion_weights"] == [float(w) for w in weights]
    # the motion mixed with itself at 0.5 + 0.5 is the motion (up to rounding); at 1 + 1 it is twice the branches
    assert np.abs(sheets["halves"] - sheets["alone"]).max() <= 2
    assert np.abs(sheets["doubled"] - sheets["alone"]).max() > 10
    assert generate("--motion", str(motion_file), "--motion", str(motion_file), "--motion-weights", "1",
                    "--prompt", "x", "--out", str(tmp_path / "bad")) == 2
    assert "--motion-weights: 1 motion weight(s) for 2 motion(s)" in capsys.readouterr().err


def test_frame_init_is_a_flag_both_ways_and_recorded(motion_file, tmp_path):
    runs = {}
    for name, flags in [("default", []), ("on", ["--frame-init"]), ("off", ["--no-frame-init"])]:
        out = tmp_path / name
        assert generate("--motion", str(motion_file), "--prompt", "a red circle moves right", "--out", str(out),
                        *flags) == 0
        record = json.loads(next(out.glob("*.json")).read_text())
        runs[name] = (record["frame_init"], np.asarray(Image.open(out / record["videos"]["sheet"])))
    assert [runs[name][0] for name in ("default", "on", "off")] == [False, True, False]  # the file records none
    assert np.array_equal(runs["default"][1], runs["off"][1]) and not np.array_equal(runs["on"][1], runs["off"][1])


def test_motion_for_another_base_is_added_with_a_note_or_refused_when_held_in_full(motion_file, tmp_path, capsys):
    other = tmp_path / "other-sd"
    make_tiny_pipeline(seed=4).save_pretrained(other)  # same shapes, other weights: a "fine-tune"
    out = tmp_path / "videos"
    assert generate("--motion", str(motion_file), "--prompt", "x", "--base", str(other), "--out", str(out)) == 0
    assert f"note: {motion_file} was trained on " in capsys.readouterr().out
    assert list(out.glob("*.mp4"))

    header = read_motion_header(motion_file)
    full = LampMotionAdapter.from_motion_file(header)
    with torch.no_grad():  # the same motion held as today's older files hold it: to_q in full
        video = VideoUNet.from_unet2d(load_base_unet(header.base), full)
    full = LampMotionAdapter.from_video_unet(video, base=str(tmp_path / "gone"), base_weights="full")
    full.save_motion_file(tmp_path / "full.safetensors")
    assert generate("--motion", str(tmp_path / "full.safetensors"), "--prompt", "x", "--base", str(other),
                    "--out", str(tmp_path)) == 2  # its recorded base does not load: refused as before
    err = capsys.readouterr()
    assert "trained on another base" in err.err and "does not load" in err.out

    full = LampMotionAdapter.from_video_unet(video, base=header.base, base_weights="full")
    full.save_motion_file(tmp_path / "full.safetensors")  # its recorded base loads: turned into a difference
    assert generate("--motion", str(tmp_path / "full.safetensors"), "--prompt", "x", "--base", str(other),
                    "--out", str(tmp_path / "converted")) == 0
    assert "added to this base's" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["generate", "edit"])
@pytest.mark.parametrize("fps", ["0", "-4", "nan"])
def test_a_frame_rate_not_above_zero_is_refused_before_any_work(command, fps, tmp_path, capsys) -> None:
    out = tmp_path / "videos"
    with pytest.raises(SystemExit) as stopped:
        main([command, "--motion", "missing.safetensors", "--prompt", "p", "--out", str(out), "--fps", fps])
    assert stopped.value.code == 2
    assert f"--fps: {fps} is not a frame rate" in capsys.readouterr().err
    assert not out.exists()


def test_prompts_sharing_a_file_name_never_overwrite_and_a_long_prompt_is_noted(motion_file, tmp_path, capsys):
    out = tmp_path / "videos"
    long_prompt = "a red circle moves right " + "very " * 40
    assert generate("--motion", str(motion_file), "--prompt", "A red circle!", "--out", str(out)) == 0
    assert generate("--motion", str(motion_file), "--prompt", "a red circle", "--out", str(out)) == 0
    assert generate("--motion", str(motion_file), "--prompt", "A red circle!", "--out", str(out)) == 0  # a rerun
    assert generate("--motion", str(motion_file), "--prompt", long_prompt, "--out", str(out)) == 0
    prompts = {p.name: json.loads(p.read_text())["prompt"] for p in out.glob("*-seed*.json")}
    assert prompts["a-red-circle-seed0.json"] == "A red circle!"
    assert prompts["a-red-circle-seed0-2.json"] == "a red circle"
    assert len(prompts) == 3
    assert "the rest is ignored" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--fps", "inf"], "--fps: inf is not a frame rate"),
    (["--fps", "1e9"], "at most 100"),
    (["--seed", str(2**70)], f"--seed={2**70} is not a seed"),
    (["--out", "x" * 300], "over the 255 a file system allows"),
])
def test_out_of_range_fps_seed_and_out_name_are_refused_before_generating(motion_file, tmp_path, monkeypatch, capsys,
                                                                         flags, message):
    monkeypatch.chdir(tmp_path)
    parse_time = flags[0] == "--fps"  # refused by argparse (exit 2), the rest by the job
    with pytest.raises(SystemExit) if parse_time else contextlib.nullcontext():
        assert generate("--motion", str(motion_file), "--prompt", "a red circle", *flags) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.mp4"))



@pytest.mark.parametrize("command, settings, required, given", [
    ("generate", "GenerateSettings", dict(motion="m.safetensors", prompt="p"), dict(seed=7, t2i_steps=3)),
    ("edit", "EditSettings", dict(motion="m.safetensors", video="v.mp4", prompt="p", image="f.png"),
     dict(canny_steps=3, start=2)),
    ("demo", "DemoSettings", {}, dict(videos=2, steps=3)),
    ("prepare", "PrepareSettings", {}, dict(fps=12.0, frames=8, resize="pad")),
])
def test_flags_left_out_take_the_job_settings_defaults(command, settings, required, given):
    """Each default is written once, in the job's settings dataclass: the command line passes on what it is given."""
    import importlib

    from lamp_motion.cli.main import build_parser

    def flags(values: dict) -> list[str]:
        return [part for key, value in values.items() for part in (f"--{key.replace('_', '-')}", str(value))]

    job = getattr(importlib.import_module(f"lamp_motion.jobs.{command}"), settings)
    from_args = importlib.import_module(f"lamp_motion.cli.{command}").settings_from_args
    positional = ["raw", "out"] if command == "prepare" else []
    required = {**required, **({"raw_dir": "raw", "out_dir": "out"} if command == "prepare" else {})}
    named = flags({k: v for k, v in required.items() if k not in ("raw_dir", "out_dir")})
    assert from_args(build_parser().parse_args([command, *positional, *named])) == job(**required)
    assert from_args(build_parser().parse_args([command, *positional, *named, *flags(given)])) == job(**required, **given)
