"""Training on two processes (accelerate, gloo on CPU) keeps the ranks in step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file

from lamp_motion.config_io import config_to_yaml
from lamp_motion.training.trainer import Trainer, TrainingError
from tests.helpers import free_port, tiny_config

WORKER = Path(__file__).parent.parent / "ddp_worker.py"


def test_two_cpu_processes_end_with_identical_weights(motion_folder, tiny_sd_folder, tmp_path):
    out = tmp_path / "out"
    # Gradient checkpointing on, as in the paper configs: DDP must cope with the recomputed forward.
    config = tiny_config(motion_folder, tiny_sd_folder, out, steps=4, checkpoint_every=2, gradient_checkpointing=True,
                         motion_dtype="fp32")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config_to_yaml(config))
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), str(WORKER), str(config_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-4000:]

    ranks = [load_file(str(out / f"rank{r}-of-2.safetensors")) for r in range(2)]
    draws = [json.loads((out / f"rank{r}-of-2.json").read_text()) for r in range(2)]
    assert [d["backend"] for d in draws] == ["gloo", "gloo"]
    assert draws[0]["clips"] != draws[1]["clips"]  # the ranks trained on different clips...
    assert ranks[0].keys() == ranks[1].keys()
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # ...and still agree on every weight
    assert any(t.abs().sum() > 0 for n, t in ranks[0].items() if ".conv1d." in n)  # training moved the zero-init convs
    written = load_file(str(out / "motion.safetensors"))
    # The added layers as trained; the base's attn1.to_q as what training changed in it (base_weights "difference").
    base = dict(UNet2DConditionModel.from_pretrained(str(tiny_sd_folder), subfolder="unet").named_parameters())
    for name in ranks[0]:
        expected = (ranks[0][name].float() - base[name].detach().float()) if name in base else ranks[0][name]
        assert torch.equal(written[name], expected.to(ranks[0][name].dtype)), name
    assert (out / "checkpoints" / "step-000004").is_dir()


def test_processes_that_accelerate_does_not_join_are_refused(tiny_sd_folder, tmp_path, monkeypatch):
    """Two processes that accelerate sets up as single ones would race on one output folder."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(TrainingError, match=r"launched as 2 processes.*ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu"):
        Trainer(tiny_config(tmp_path, tiny_sd_folder, tmp_path / "out"))
