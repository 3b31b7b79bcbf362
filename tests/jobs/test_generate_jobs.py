"""Many videos in one load (`lamp generate --jobs FILE.yaml`), the manifest, and reruns that make only the missing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from lamp_motion.jobs import many_videos
from lamp_motion.jobs.generate import GenerateSettings
from lamp_motion.jobs.jobs_file import JobsFileError, load_jobs
from lamp_motion.pipelines.lamp_pipeline import LampPipeline
from tests.helpers import generate


def sheet(record_path) -> np.ndarray:
    """A video's contact sheet as pixels: its exact frames (the mp4 is lossy)."""
    record = json.loads(record_path.read_text())
    return np.asarray(Image.open(record_path.parent / record["videos"]["sheet"]))


def made_lines(log: str) -> list[str]:
    return [line.split(":")[0] for line in log.splitlines() if line.startswith("video ")]


def write_jobs(path, text: str):
    path.write_text(text)
    return path


@pytest.fixture
def loads(monkeypatch):
    """Counts of base loads and motion inflations during a run."""
    counts = {"base": 0, "motion": []}
    load_base, from_base = many_videos.load_motion_base, LampPipeline.from_base.__func__

    def counted_base(*args, **kwargs):
        counts["base"] += 1
        return load_base(*args, **kwargs)

    def counted_motion(cls, base, motion, **kwargs):
        counts["motion"].append(str(motion))
        return from_base(cls, base, motion, **kwargs)

    monkeypatch.setattr(many_videos, "load_motion_base", counted_base)
    monkeypatch.setattr(LampPipeline, "from_base", classmethod(counted_motion))
    return counts


def test_a_jobs_file_makes_every_entry_in_one_load(motion_file, tmp_path, loads):
    other = tmp_path / "other.safetensors"  # the same motion under another path: a second motion file
    shutil.copy(motion_file, other)
    jobs = write_jobs(tmp_path / "jobs.yaml", f"""
- prompt: a red circle moves right
  seed: 3
  num_videos: 2
- prompt: a blue square moves right
  motion: {other}
  frames: 3
  steps: 1
- prompt: a red circle moves right
  seed: 3
  shared_noise: 0.5
""")
    out = tmp_path / "videos"
    assert generate("--motion", str(motion_file), "--jobs", str(jobs), "--out", str(out)) == 0
    assert loads["base"] == 1 and loads["motion"] == [str(motion_file), str(other)]
    names = ["a-red-circle-moves-right-seed3", "a-red-circle-moves-right-seed4", "a-blue-square-moves-right-seed0",
             "a-red-circle-moves-right-seed3-2"]
    assert sorted(p.stem for p in out.glob("*-seed*.json")) == sorted(names)
    records = [json.loads((out / f"{name}.json").read_text()) for name in names]
    assert [(r["seed"], r["frames"], r["steps"], r["shared_noise"]) for r in records] == [
        (3, 4, 2, 0.2), (4, 4, 2, 0.2), (0, 3, 1, 0.2), (3, 4, 2, 0.5)]
    assert records[2]["motion"] == str(other)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(v["json"], v["status"], v["process"]) for v in manifest["videos"]] == [
        (f"{name}.json", "made", 0) for name in names]
    assert manifest["missing"] == [] and manifest["videos"][2]["settings"]["frames"] == 3

    # An entry makes the video `lamp generate` makes with the same flags.
    alone = tmp_path / "alone"
    assert generate("--motion", str(other), "--prompt", "a blue square moves right", "--frames", "3", "--steps", "1",
                    "--out", str(alone)) == 0
    assert np.array_equal(sheet(alone / f"{names[2]}.json"), sheet(out / f"{names[2]}.json"))


@pytest.mark.parametrize("entry, message", [
    ("  colour: red", "entry 2 of 2: unknown key 'colour'"),
    ("  height: 30", "entry 2 of 2: height=30 must be a positive multiple of 8"),
    ("  steps: 0", "entry 2 of 2: steps=0 must be at least 1"),
    ("  seed: -1", "entry 2 of 2: seed=-1 is not a seed"),
    ("  frames: four", "entry 2 of 2: frames='four' must be a whole number"),
    ("  adain: 1", "entry 2 of 2: adain=1 must be true or false"),
    ("  image: missing.png", "entry 2 of 2: "),
    ("  motion: missing.safetensors", "entry 2 of 2: motion file missing.safetensors does not exist"),
])
def test_a_bad_entry_is_refused_by_index_and_key_before_any_model_loads(motion_file, tmp_path, monkeypatch, capsys,
                                                                         entry, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(many_videos, "load_motion_base", lambda *a, **k: pytest.fail("a model loaded"))
    jobs = write_jobs(tmp_path / "jobs.yaml", f"- prompt: a red circle\n- prompt: a blue square\n{entry}\n")
    assert generate("--motion", str(motion_file), "--jobs", str(jobs), "--out", str(tmp_path / "videos")) == 2
    error = capsys.readouterr().err
    assert "jobs.yaml, entry 2 of 2" in error and message in error, error
    assert not (tmp_path / "videos").exists()


def test_an_entry_without_prompt_or_motion_is_refused(tmp_path):
    jobs = write_jobs(tmp_path / "jobs.yaml", "- seed: 1\n")
    with pytest.raises(JobsFileError, match="entry 1 of 1: give its prompt"):
        load_jobs(jobs, GenerateSettings(motion=None))
    with pytest.raises(JobsFileError, match="entry 1 of 1: give its motion file"):
        load_jobs(jobs, GenerateSettings(motion=None, prompt="a cat"))
    with pytest.raises(JobsFileError, match="must be a non-empty YAML list"):
        load_jobs(write_jobs(tmp_path / "empty.yaml", "prompt: a cat\n"), GenerateSettings(motion=None))


def test_a_failed_video_is_missing_in_the_manifest_and_a_rerun_makes_only_it(motion_file, tmp_path, monkeypatch,
                                                                            capsys):
    out = tmp_path / "videos"
    sample = LampPipeline.sample

    def failing(self, prompt, *args, **kwargs):
        if prompt == "a blue square":
            raise RuntimeError("out of memory")
        return sample(self, prompt, *args, **kwargs)

    jobs = write_jobs(tmp_path / "jobs.yaml", "- prompt: a red circle\n  num_videos: 2\n- prompt: a blue square\n"
                                              "- prompt: a green circle\n")
    monkeypatch.setattr(LampPipeline, "sample", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        generate("--motion", str(motion_file), "--jobs", str(jobs), "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert [v["status"] for v in manifest["videos"]] == ["made", "made", "missing", "missing"]
    assert manifest["missing"] == ["a-blue-square-seed0.json", "a-green-circle-seed0.json"]
    assert manifest["videos"][2]["error"] == "RuntimeError: out of memory"
    assert not (out / "a-blue-square-seed0.json").exists()
    made = {p.name: p.stat().st_mtime_ns for p in out.glob("a-red-circle-*")}

    monkeypatch.setattr(LampPipeline, "sample", sample)
    capsys.readouterr()
    assert generate("--motion", str(motion_file), "--jobs", str(jobs), "--out", str(out)) == 0
    log = capsys.readouterr().out
    assert "2 of 4 videos are complete already" in log and made_lines(log) == ["video 3/4", "video 4/4"]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("a-red-circle-*")} == made  # not made again
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(v["status"], v["process"]) for v in manifest["videos"]] == [
        ("complete before", 0), ("complete before", 0), ("made", 0), ("made", 0)]
    assert manifest["missing"] == []

    # A video whose files are gone is made again; so is every video with other settings.
    (out / "a-red-circle-seed1.png").unlink()
    assert generate("--motion", str(motion_file), "--jobs", str(jobs), "--out", str(out)) == 0
    assert made_lines(capsys.readouterr().out) == ["video 2/4"]
    assert generate("--motion", str(motion_file), "--jobs", str(jobs), "--out", str(out), "--shared-noise", "0.3") == 0
    assert "complete already" not in capsys.readouterr().out
    assert json.loads((out / "a-red-circle-seed0.json").read_text())["shared_noise"] == 0.3
