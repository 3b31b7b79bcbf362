"""`lamp generate`, `edit` and `eval` on odd inputs: one clear error before any model loads, or a correct result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from lamp_motion.cli.main import main
from lamp_motion.models import MotionFileError, read_motion_header
from lamp_motion.pipelines.editing import source_clip
from lamp_motion.video_io import read_video, write_video
from tests.helpers import generate


def test_zero_frames_and_nan_guidance_are_refused(motion_file, tmp_path, capsys):
    out = tmp_path / "videos"
    assert generate("--motion", str(motion_file), "--prompt", "x", "--out", str(out), "--frames", "0") == 2
    assert "--frames=0: a video needs at least 2 frames" in capsys.readouterr().err
    assert main(["generate", "--motion", str(motion_file), "--prompt", "x", "--out", str(out), "--guidance", "nan"]) == 2
    assert "--guidance=nan must be a number >= 0" in capsys.readouterr().err
    assert not out.exists()


def test_frames_size_and_steps_over_their_limits_are_refused_before_any_model_loads(motion_file, tmp_path, capsys):
    out = tmp_path / "videos"
    for flag, value, message in [("--frames", "1000000", "--frames=1000000 is over the limit of 1024 frames per video"),
                                 ("--height", "4096", "--height=4096 is over the limit of 2048 pixels"),
                                 ("--steps", "5000", "--steps=5000 is over the limit of 1000")]:
        assert generate("--motion", str(motion_file), "--prompt", "x", "--out", str(out), "--base", "/no/such/base",
                        flag, value) == 2
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_out_that_is_a_file_is_refused_before_any_model_loads(motion_file, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert generate("--motion", str(motion_file), "--prompt", "x", "--out", str(taken), "--base", "/no/such/base") == 2
    assert f"--out {taken} is a file, not a folder" in capsys.readouterr().err


def test_transparent_first_image_is_composited_with_a_note(motion_file, tmp_path, capsys):
    pixels = np.zeros((32, 32, 4), np.uint8)
    pixels[..., :3] = 255
    Image.fromarray(pixels, "RGBA").save(tmp_path / "clear.png")
    assert generate("--motion", str(motion_file), "--prompt", "x", "--image", str(tmp_path / "clear.png"),
                    "--out", str(tmp_path / "videos")) == 0
    assert "note: image clear.png has transparent pixels: composited over black" in capsys.readouterr().out


def test_motion_file_with_a_damaged_header_is_named(tmp_path):
    path = tmp_path / "half.safetensors"
    save_file({"x": torch.zeros(2)}, str(path), metadata={"format": "lamp-motion/1", "options": "{not json"})
    with pytest.raises(MotionFileError, match="says it is a LAMP motion file but its header is damaged"):
        read_motion_header(path)
    assert main(["generate", "--motion", str(path), "--prompt", "x", "--out", str(tmp_path / "v")]) == 2


def test_editing_a_one_frame_video_does_not_suggest_one_frame():
    video = np.zeros((1, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError) as refused:
        source_clip(video, 4, 2, 32, 32)
    assert "editing needs at least 2" in str(refused.value) and "--frames 1" not in str(refused.value)


def test_eval_skips_a_corrupt_video_and_scores_the_rest(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, 8:16, 8:16] = (220, 30, 30)
    write_video(videos / "good.mp4", frames, 8)
    (videos / "bad.mp4").write_bytes(b"not a video")
    for name in ("good", "bad"):
        (videos / f"{name}.json").write_text(json.dumps({"prompt": "a red square moves right", "motion": "move_right"}))
    out = tmp_path / "eval"
    assert main(["eval", str(videos), "--no-clip", "--out", str(out)]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert [row["video"] for row in report["skipped"]] == [str(videos / "bad.mp4")]
    assert len(report["toy"]["videos"]) == 1
    assert "Skipped 1 video(s) that could not be read" in (out / "eval.md").read_text()


def test_eval_does_not_follow_paths_out_of_a_generate_json(tmp_path, capsys):
    inner = tmp_path / "runs" / "a"
    inner.mkdir(parents=True)
    write_video(tmp_path / "secret.mp4", np.zeros((4, 8, 8, 3), np.uint8), 8)
    record = inner / "x.json"
    record.write_text(json.dumps({"prompt": "p", "motion": "m", "videos": {"mp4": "../../secret.mp4"}}))
    assert main(["eval", str(record), "--no-clip", "--out", str(tmp_path / "eval")]) == 2
    assert "outside the JSON's own folder" in capsys.readouterr().err
    assert read_video(tmp_path / "secret.mp4")[0].shape[0] == 4
