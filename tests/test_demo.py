"""A cut-down `lamp demo` (few steps): every stage runs through the CLI and its files are readable.

Quality is the benchmark's job (benchmarks/bench_toy.py), not this test's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamp_motion.cli.main import main
from lamp_motion.toy.demo import HELD_OUT_COLOURS, SCORES
from lamp_motion.video_io import read_video


def test_cut_down_demo_writes_readable_outputs(tmp_path) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--train-steps", "2", "--videos", "1", "--steps", "2"])
    assert code == 0

    motion = out / "motion" / "motion.safetensors"
    assert motion.is_file() and (out / "motion" / "config.yaml").is_file()
    training = sorted((out / "data").glob("*/*.mp4"))
    assert len(training) == 12

    records = sorted((out / "videos").glob("*.json"))
    assert len(records) == 2  # one video from a rendered first frame, one from the base model
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
    assert len(report["videos"]) == 2
    for row in report["videos"]:
        assert all(0.0 <= row[key] <= 1.0 for key in SCORES)
    truth = report["summary"]["training videos (ground truth)"]
    assert truth["motion_fidelity"]["mean"] > 0.9  # the rendered training set itself scores near 1
    assert (out / "report.md").read_text().startswith("# LAMP toy demo")
    assert np.isfinite([row["motion_fidelity"] for row in report["videos"]]).all()


@pytest.mark.parametrize("option", [["--videos", "0"], ["--train-steps", "0"]])
def test_demo_refuses_nothing_to_do_before_rendering(tmp_path, capsys, option) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo"), *option]) == 2
    assert "both must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()
