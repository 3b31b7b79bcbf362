"""benchmarks/gpu_suite.sh: its dry run takes every code path of the GPU suite on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "benchmarks" / "gpu_suite.sh"
SECTIONS = ("train-gpu", "generate-gpu", "animatediff-gpu", "compile-gpu")


def run_suite(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(SUITE), *args], env=env, capture_output=True, text=True, timeout=900)


def test_dry_run_runs_every_section_and_writes_nothing():
    page = REPO / "docs" / "performance.md"
    before = page.read_text()
    result = run_suite("--dry-run")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for section in SECTIONS:
        assert f"---- {section}" in result.stdout, section
    assert "ran in a fused SDPA kernel" in result.stdout
    assert "out of memory" not in result.stdout
    assert page.read_text() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where there is no GPU")
def test_without_a_gpu_the_suite_says_to_dry_run():
    result = run_suite("--only", "train")
    assert result.returncode != 0
    assert "no CUDA GPU" in result.stderr and "--dry-run" in result.stderr
