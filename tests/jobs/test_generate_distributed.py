"""`lamp generate` on two processes (accelerate, gloo on CPU): the videos are split, each the same as one process makes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.helpers import free_port

GENERATION = ["--steps", "2", "--guidance", "3", "--t2i-steps", "2"]
ENV = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def lamp(*args: str, processes: int = 1) -> subprocess.CompletedProcess:
    """``lamp ARGS`` in a fresh process, or under ``accelerate launch`` on ``processes`` gloo processes."""
    if processes == 1:
        command = [sys.executable, "-m", "lamp_motion.cli.main", *args]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(free_port()), "-m", "lamp_motion.cli.main", *args]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)


def sheets(folder) -> dict[str, np.ndarray]:
    """Every video's contact sheet as pixels, by JSON name: the exact frames (libx264's mp4 is not bit-repeatable)."""
    found = {}
    for path in sorted(folder.glob("*-seed*.json")):
        record = json.loads(path.read_text())
        found[path.name] = np.asarray(Image.open(folder / record["videos"]["sheet"]))
    return found


def test_two_processes_split_the_videos_and_make_each_as_one_process_does(motion_file, tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- prompt: a red circle moves right\n  num_videos: 2\n  seed: 5\n"
                    "- prompt: a blue square moves left\n  frames: 3\n")
    common = ["generate", "--motion", str(motion_file), "--jobs", str(jobs), *GENERATION]
    one = lamp(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-4000:]
    two = lamp(*common, "--out", str(tmp_path / "two"), processes=2)
    assert two.returncode == 0, two.stderr[-4000:]

    alone, split = sheets(tmp_path / "one"), sheets(tmp_path / "two")
    assert len(alone) == 3 and alone.keys() == split.keys()
    for name in alone:
        assert np.array_equal(alone[name], split[name]), name  # seeded per video, never per process
        records = [json.loads((tmp_path / run / name).read_text()) for run in ("one", "two")]
        assert records[0] == records[1]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["missing"] == []
    assert [(v["json"], v["process"]) for v in manifest["videos"]] == [  # contiguous shares, in run order
        ("a-red-circle-moves-right-seed5.json", 0), ("a-red-circle-moves-right-seed6.json", 0),
        ("a-blue-square-moves-left-seed0.json", 1)]
    assert not list((tmp_path / "two").glob("manifest.json.part*"))

    # A rerun on two processes makes only what is missing.
    (tmp_path / "two" / "a-blue-square-moves-left-seed0.json").unlink()
    again = lamp(*common, "--out", str(tmp_path / "two"), processes=2)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "2 of 3 videos are complete already" in again.stdout
    made = [line for line in again.stdout.splitlines() if "] video " in line]
    assert len(made) == 1 and "video 3/3: " in made[0]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert [v["status"] for v in manifest["videos"]] == ["complete before", "complete before", "made"]
