"""`lamp eval --suite` (the paper's protocol) and the toy metrics of `lamp eval`, on tiny models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lamp_motion.cli.main import main as lamp_main
from lamp_motion.data.toy.sets import first_frame
from lamp_motion.metrics import paper
from lamp_motion.metrics.suite import paper_prompt_sets
from lamp_motion.metrics.toy import toy_motion_for
from lamp_motion.models import MotionOptions, VideoUNet, save_motion
from lamp_motion.models.loading import load_base
from lamp_motion.video_io import write_video

PAPER_TEXT = Path("/work/shared/reference/LAMP-paper.txt")
# Table 1 of the paper, copied verbatim (tab-separated) from its text.
TABLE_1_TEXT = """\
Method	Alignment \\uparrow	Consistency \\uparrow	Diversity \\downarrow
Tune-A-Video [37]	27.2227	94.8742	84.7186
T2V-Zero [18]	26.9424	91.4713	73.0136
AnimateDiff [9]	28.8779	97.8131	73.4723
LAMP (Ours)	31.3547	98.3085	71.6535
"""
GENERATION = ["--steps", "2", "--guidance", "1", "--t2i-steps", "2", "--t2i-guidance", "1"]  # guidance 1: no CFG, half the work


@pytest.fixture(scope="module")
def motions(tiny_sd_folder, tmp_path_factory) -> dict[str, Path]:
    """Tiny motion files on the tiny base: two paper motions and one toy motion, told apart by their prompts."""
    root = tmp_path_factory.mktemp("motions")
    files = {}
    for index, prompt in enumerate(["helicopter", "a waterfall flows", "moves right"]):
        video = VideoUNet.inflate(load_base(str(tiny_sd_folder)).unet, MotionOptions(groupnorm="per_frame"))
        generator = torch.Generator().manual_seed(index)
        with torch.no_grad():  # small non-zero motion layers, so that the motion changes the frames
            for param in video.trainable_parameters().values():
                param.add_(0.02 * torch.randn(param.shape, generator=generator))
        meta = {"prompt": prompt, "base": str(tiny_sd_folder), "num_frames": "4", "height": "32", "width": "32"}
        files[prompt] = save_motion(video, root / f"run{index}" / "motion.safetensors", dtype="fp32", extra_metadata=meta)
    return files


def suite(motion_files: list[Path], out: Path, *extra: str) -> int:
    args = ["eval", "--suite", "--out", str(out), "--device", "cpu", *GENERATION, *extra]
    for path in motion_files:
        args += ["--motion", str(path)]
    return lamp_main(args)


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in markdown.splitlines() if line.startswith("| ")]
    return {row[0]: row[1:] for row in rows}


@pytest.fixture(scope="module")
def suite_run(motions, clip_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suite")
    assert suite([motions["helicopter"], motions["a waterfall flows"]], out, "--clip", str(clip_folder)) == 0
    return out


def test_suite_writes_a_row_per_motion_next_to_table_1(suite_run: Path) -> None:
    report = json.loads((suite_run / "eval.json").read_text())
    prompts = paper_prompt_sets()
    assert list(report["motions"]) == ["helicopter", "waterfall"]
    for motion in ("helicopter", "waterfall"):
        expected = [p.prompt for p in prompts[motion].prompts]
        assert [row["prompt"] for row in report["videos"] if row["motion"] == motion] == expected
        records = sorted((suite_run / "videos" / motion).glob("*.json"))
        assert len(records) == paper.PROMPTS_PER_MOTION
        assert {json.loads(path.read_text())["seed"] for path in records} == {0}
    rows = table_rows((suite_run / "eval.md").read_text())
    for motion in ("helicopter", "waterfall"):
        summary = report["motions"][motion]
        assert rows[motion] == ["6", *(f"{summary[key]:.2f}" for key in paper.METRICS)]
    assert rows["all motions"][0] == "12"
    for method, scores in paper.TABLE_1.items():
        assert rows[f"paper Table 1: {method}"] == ["48", *(f"{scores[key]:.4f}" for key in paper.METRICS)]
    assert report["suite"]["seeds"] == [0] and report["suite"]["generate_options"]["steps"] == 2


def test_two_suite_runs_give_identical_scores(suite_run, motions, clip_folder, tmp_path) -> None:
    assert suite([motions["helicopter"]], tmp_path, "--clip", str(clip_folder)) == 0
    first, second = (json.loads((out / "eval.json").read_text()) for out in (suite_run, tmp_path))
    assert second["motions"]["helicopter"] == first["motions"]["helicopter"]
    scores = [{key: row[key] for key in ("prompt", "alignment", "consistency")} for row in second["videos"]]
    assert scores == [{key: row[key] for key in ("prompt", "alignment", "consistency")}
                      for row in first["videos"] if row["motion"] == "helicopter"]


def test_unknown_motion_needs_a_prompt_file(motions, clip_folder, tmp_path, capsys) -> None:
    assert suite([motions["moves right"]], tmp_path / "out", "--clip", str(clip_folder)) == 2
    error = capsys.readouterr().err
    assert "motion prompt 'moves right'" in error and "not one of the paper's motions" in error and "--prompts FILE" in error
    assert not (tmp_path / "out").exists()


def test_prompt_file_for_a_toy_motion_without_clip(motions, tmp_path) -> None:
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("moves_right:\n  - a red circle moves right\n  - a blue square moves right\n")
    assert suite([motions["moves right"]], tmp_path / "out", "--prompts", str(prompts), "--no-clip", "--seed", "3") == 0
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert "clip_model" not in report and report["suite"]["seeds"] == [3]
    assert [row["toy_motion"] for row in report["toy"]["videos"]] == ["move_right", "move_right"]
    assert report["toy"]["motions"]["move_right"]["motion_fidelity"]["count"] == 2


def _write_clip(folder: Path, name: str, frames: np.ndarray, prompt: str, motion: str) -> None:
    write_video(folder / f"{name}.mp4", frames, fps=8)
    (folder / f"{name}.json").write_text(json.dumps({"prompt": prompt, "motion": motion}))


def test_toy_videos_get_toy_metrics_and_others_do_not(clip_folder, tmp_path, capsys) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for seed, motion in enumerate(["move_right", "grow"]):
        _, clip = first_frame(motion, seed=seed, height=32, width=32)
        _write_clip(videos, motion, clip.render(16, 32, 32), clip.caption, motion)
    noise = np.random.default_rng(0).integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    _write_clip(videos, "horse", noise, "a horse runs on the road", "horse_run")
    out = tmp_path / "eval"
    assert lamp_main(["eval", str(videos), "--clip", str(clip_folder), "--out", str(out)]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert len(report["videos"]) == 3
    toy = {row["toy_motion"]: row for row in report["toy"]["videos"]}
    assert sorted(toy) == ["grow", "move_right"]  # the horse video gets no toy metrics
    for row in toy.values():
        assert row["motion_fidelity"] >= 0.9 and row["object_found"] == 1.0
    toy_tables = (out / "eval.md").read_text().split("Toy-world motion metrics")[1]
    assert table_rows(toy_tables)["move_right"][0] == "1" and "horse" not in toy_tables

    assert lamp_main(["eval", str(videos), "--no-clip", "--out", str(tmp_path / "toy_only")]) == 0
    toy_only = json.loads((tmp_path / "toy_only" / "eval.json").read_text())
    assert set(toy_only) == {"toy", "motion"} and toy_only["toy"] == report["toy"]
    assert "motion score left out for 3 of 3" in toy_only["motion"]["notes"][0]  # no training videos known

    capsys.readouterr()
    assert lamp_main(["eval", str(videos / "horse.mp4"), "--no-clip", "--out", str(tmp_path / "none")]) == 2
    assert "--no-clip leaves nothing to score" in capsys.readouterr().err


def test_toy_motion_is_found_from_the_prompt_or_the_motion_prompt() -> None:
    assert toy_motion_for("a red circle moves right") == "move_right"
    assert toy_motion_for("An orange arrow on a striped background rotates.") == "rotate"
    assert toy_motion_for("a car moves right") is None and toy_motion_for("a horse runs on the road") is None
    assert toy_motion_for("a red circle", motion_prompt="falls and bounces") == "bounce"


def _parse_table_1(text: str) -> dict[str, dict[str, float]]:
    start = text.index("Method\tAlignment")
    rows = {}
    for line in text[start:].splitlines()[1:]:
        if not line.strip():
            break
        method, *cells = line.split("\t")
        name = re.sub(r" \[\d+\]$", "", method).replace("LAMP (Ours)", "LAMP")
        rows[name] = dict(zip(paper.METRICS, map(float, cells)))
    return rows


@pytest.mark.parametrize("source", ["copy", "paper"])
def test_paper_numbers_are_table_1(source: str) -> None:
    if source == "paper" and not PAPER_TEXT.is_file():
        pytest.skip(f"{PAPER_TEXT} is not on this machine")
    text = TABLE_1_TEXT if source == "copy" else PAPER_TEXT.read_text(encoding="utf-8")
    assert _parse_table_1(text) == paper.TABLE_1
    assert len(paper.MOTIONS) * paper.PROMPTS_PER_MOTION == paper.TABLE_1_VIDEOS
    assert list(paper_prompt_sets()) == list(paper.MOTIONS)
    assert all(len(prompts.prompts) == paper.PROMPTS_PER_MOTION for prompts in paper_prompt_sets().values())
