"""`lamp eval`'s toy leakage: the training palette from --training-set or the motion file, and exact frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamp_motion.cli.main import main as lamp_main
from lamp_motion.data.toy.motions import MOTIONS
from lamp_motion.data.toy.scene import COLOURS, draw
from lamp_motion.data.toy.sets import first_frame, make_set
from lamp_motion.jobs.common import write_outputs
from lamp_motion.metrics.toy import palette_from_folder, toy_motion_for
from lamp_motion.models import MotionOptions, VideoUNet, save_motion
from lamp_motion.video_io import frames_from_contact_sheet, write_contact_sheet, write_video
from tests.helpers import make_tiny_unet


@pytest.mark.parametrize("num_frames, columns, scale", [(16, 8, 4), (13, 8, 1), (3, 8, 2), (10, 4, 3)])
def test_contact_sheet_frames_round_trip_exactly(tmp_path, num_frames: int, columns: int, scale: int) -> None:
    frames = np.random.default_rng(num_frames).integers(0, 256, size=(num_frames, 6, 5, 3), dtype=np.uint8)
    write_contact_sheet(tmp_path / "sheet.png", frames, columns=columns, scale=scale)
    back = frames_from_contact_sheet(tmp_path / "sheet.png", num_frames, 6, 5, columns=columns)
    assert back.dtype == np.uint8 and np.array_equal(back, frames)
    with pytest.raises(ValueError, match="not a contact sheet of"):
        frames_from_contact_sheet(tmp_path / "sheet.png", num_frames, 7, 5, columns=columns)


def test_palette_from_any_training_folder(tmp_path) -> None:
    folder = tmp_path / "videos"
    make_set("move_right", folder, num_videos=2, num_frames=4, colours=["red"], backgrounds="pale", texture="none")
    (folder / "video_000.txt").write_text("a red circle moves right")  # a caption is no video
    frame_folder = folder / "clip"
    frame_folder.mkdir()
    _, clip = first_frame("move_right", seed=3, colour="blue", background="navy")
    for index, frame in enumerate(clip.render(4, 32)):
        Image.fromarray(frame).save(frame_folder / f"{index:02d}.png")
    palette = palette_from_folder(folder)
    assert len(palette.objects) == 3 and len(palette.backgrounds) == 3
    assert np.abs(palette.objects - COLOURS["blue"]).max(axis=1).min() <= 2  # the frame folder's, exact
    with pytest.raises(ValueError, match="holds no videos"):
        palette_from_folder(frame_folder.parent.parent)
    with pytest.raises(ValueError, match="is not a folder"):
        palette_from_folder(tmp_path / "missing")


def test_angled_translations_are_toy_motions() -> None:
    assert toy_motion_for("a red circle moves at 30 degrees") == "move_deg_30"
    assert toy_motion_for("a red circle", motion_prompt="moves at 22.5 degrees") == "move_deg_22.5"
    assert toy_motion_for("a red circle moves at many degrees") is None


def _leaking_and_clean(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A purple-on-dark-green move_right video, and the same whose later frames turn red on white (training look)."""
    _, clip = first_frame("move_right", seed=seed, colour="purple", background="dark_green", texture="none")
    scenes = MOTIONS["move_right"].scenes(clip.start, 16, clip.params)
    clean = np.stack([draw(scene, 32) for scene in scenes])
    leaking = np.stack([clean[0]] + [draw(scene.moved(colour="red", background="white"), 32) for scene in scenes[1:]])
    return clean, leaking


@pytest.fixture(scope="module")
def training_set(tmp_path_factory) -> Path:
    """A user-like training set: red and blue objects on plain pale backgrounds."""
    folder = tmp_path_factory.mktemp("train") / "moves_right"
    make_set("move_right", folder, num_videos=6, num_frames=4, colours=["red", "blue"], backgrounds="pale",
             texture="none")
    return folder


def test_eval_training_set_option_adds_leakage(tmp_path, training_set, capsys) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, frames in zip(("clean", "leaking"), _leaking_and_clean(1)):
        write_video(videos / f"{name}.mp4", frames, fps=8)
        (videos / f"{name}.json").write_text(json.dumps({"prompt": "a purple circle moves right", "motion": "m"}))
    assert lamp_main(["eval", str(videos), "--no-clip", "--training-set", str(training_set),
                      "--out", str(tmp_path / "with")]) == 0
    toy = json.loads((tmp_path / "with" / "eval.json").read_text())["toy"]
    leak = {Path(row["name"]).stem: row["leakage"] for row in toy["videos"]}
    assert leak["clean"] < 0.1 and leak["leaking"] > 0.8  # mp4 (lossy) frames
    assert toy["metrics"][-1] == "leakage" and toy["training_sets"] == [str(training_set)] * 2
    assert "leakage: 0-1, lower is better" in (tmp_path / "with" / "eval.md").read_text()

    assert lamp_main(["eval", str(videos), "--no-clip", "--out", str(tmp_path / "without")]) == 0
    toy = json.loads((tmp_path / "without" / "eval.json").read_text())["toy"]
    assert "leakage" not in toy["metrics"] and all("leakage" not in row for row in toy["videos"])
    assert "leakage left out for 2 of 2 toy video(s)" in toy["notes"][0]
    assert "give it with --training-set DIR" in (tmp_path / "without" / "eval.md").read_text()

    capsys.readouterr()
    assert lamp_main(["eval", str(videos), "--no-clip", "--training-set", str(tmp_path / "nowhere"),
                      "--out", str(tmp_path / "bad")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_eval_finds_the_training_set_in_the_motion_file_and_scores_the_contact_sheet(
        tmp_path, training_set, monkeypatch) -> None:
    monkeypatch.chdir(training_set.parent)  # `lamp train` read data: relative to the folder it ran in
    config = f"data: {training_set.name}\nsteps: 2\n"
    motion = save_motion(VideoUNet.inflate(make_tiny_unet(), MotionOptions(groupnorm="per_frame")), tmp_path / "run" / "motion.safetensors", dtype="fp32",
                         extra_metadata={"prompt": "moves right", "config": config})
    clean, leaking = _leaking_and_clean(2)
    out = tmp_path / "videos"
    for name, frames in (("clean", clean), ("leaking", leaking)):
        write_outputs(out, name, frames, 8.0, {"prompt": "a purple circle moves right", "motion": str(motion),
                                               "motion_prompt": "moves right", "height": 32, "width": 32})
    (out / "clean.mp4").write_bytes((out / "leaking.mp4").read_bytes())  # a wrong mp4: the exact sheet is scored
    assert lamp_main(["eval", str(out), "--no-clip", "--out", str(tmp_path / "eval")]) == 0
    toy = json.loads((tmp_path / "eval" / "eval.json").read_text())["toy"]
    rows = {Path(row["name"]).stem: row for row in toy["videos"]}
    assert rows["clean"]["leakage"] < 0.02 and rows["leaking"]["leakage"] > 0.9
    assert rows["clean"]["content_preservation"] == 1.0 and toy["training_sets"] == [training_set.name] * 2

    monkeypatch.chdir(tmp_path)  # from here the recorded folder does not exist: leakage is left out, with a note
    assert lamp_main(["eval", str(out), "--no-clip", "--out", str(tmp_path / "elsewhere")]) == 0
    toy = json.loads((tmp_path / "elsewhere" / "eval.json").read_text())["toy"]
    assert "leakage" not in toy["metrics"] and toy["notes"]
