"""A cut-down `lamp demo` (few steps): every stage runs through the CLI and its files are readable.

Quality is the benchmark's job (benchmarks/bench_toy.py), not this test's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamp_motion.cli.main import main
from lamp_motion.data.toy.motions import MOTIONS
from lamp_motion.data.toy.scene import draw
from lamp_motion.data.toy.sets import first_frame, make_set
from lamp_motion.jobs.common import write_outputs
from lamp_motion.jobs.demo import HELD_OUT_COLOURS, SCORES, TRAIN_COLOURS, write_report
from lamp_motion.video_io import read_video


def test_cut_down_demo_writes_readable_outputs(tmp_path) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--train-steps", "2", "--videos", "1", "--steps", "2"])
    assert code == 0

    motion = out / "motion" / "motion.safetensors"
    assert motion.is_file() and (out / "motion" / "config.yaml").is_file()
    training = sorted((out / "data").glob("*/*.mp4"))
    assert len(training) == 12

    records = sorted((out / "videos").glob("*-seed*.json"))
    assert len(records) == 2  # one video from a rendered first frame, one from the base model
    raw = sorted((out / "videos_raw").glob("*-seed*.json"))  # the same two with AdaIN and histogram matching off
    assert [json.loads(r.read_text())["adain"] for r in raw] == [False, False]
    assert [r.name for r in raw] == [r.name for r in records]
    sources = set()
    for record_path in records:
        record = json.loads(record_path.read_text())
        sources.add(record["first_frame"].split(":")[0])
        assert any(colour in record["prompt"] for colour in HELD_OUT_COLOURS)  # unseen content
        for kind in ("mp4", "gif"):
            frames, fps = read_video(record_path.parent / record["videos"][kind])
            assert frames.shape == (16, 32, 32, 3)
            assert abs(fps - record["fps"]) < 0.5
        assert (record_path.parent / record["videos"]["sheet"]).is_file()
    assert sources == {"image", "base"}

    report = json.loads((out / "report.json").read_text())
    assert sorted(row["mode"] for row in report["videos"]) == ["raw", "raw", "shipped", "shipped"]
    assert {"rendered image, shipped", "rendered image, raw", "base model, raw"} <= set(report["summary"])
    for row in report["videos"]:
        assert all(0.0 <= row[key] <= 1.0 for key in SCORES)
    truth = report["summary"]["training videos (ground truth)"]
    assert truth["motion_fidelity"]["mean"] > 0.9  # the rendered training set itself scores near 1
    # the motion score, each training video against the others: the same motion scores high
    assert truth["motion_score"]["mean"] > 0.7 and all(-1.0 <= row["motion_score"] <= 1.0 for row in report["videos"])
    assert (out / "report.md").read_text().startswith("# LAMP toy demo")
    assert np.isfinite([row["motion_fidelity"] for row in report["videos"]]).all()


@pytest.mark.parametrize("option", [["--videos", "0"], ["--train-steps", "0"]])
def test_demo_refuses_nothing_to_do_before_rendering(tmp_path, capsys, option) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo"), *option]) == 2
    assert "both must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_report_scores_the_exact_frames_and_leakage(tmp_path) -> None:
    data = tmp_path / "data"
    make_set("move_right", data, num_videos=4, num_frames=8, colours=TRAIN_COLOURS)
    _, clip = first_frame("move_right", seed=1000, colour="purple", background="grey")
    scenes = MOTIONS["move_right"].scenes(clip.start, 16, clip.params)
    kept = np.stack([draw(scene, 32) for scene in scenes])
    leaked = np.stack([kept[0]] + [draw(scene.moved(colour="red"), 32) for scene in scenes[1:]])
    generated = tmp_path / "videos"
    for name, frames, source in (("kept", kept, "image:kept.png"), ("leaked", leaked, "base")):
        write_outputs(generated, name, frames, 8.0, {"prompt": f"a purple {clip.start.shape} moves right",
                                                     "first_frame": source, "height": 32, "width": 32})
        (generated / f"{name}.gif").write_bytes(b"")  # the report reads the contact sheet, not the GIF
    write_report(tmp_path, "move_right", generated, data)
    rows = {row["video"]: row for row in json.loads((tmp_path / "report.json").read_text())["videos"]}
    assert rows["kept"]["content_preservation"] == 1.0 and rows["kept"]["leakage"] < 0.02
    assert rows["leaked"]["leakage"] > 0.9 and rows["leaked"]["content_preservation"] == 0.0
    assert "| leakage |" in (tmp_path / "report.md").read_text()
