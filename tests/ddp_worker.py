"""Run under ``accelerate launch`` by test_train_distributed.py: train one config, then
let every rank write what it ended with, so the test can compare the ranks.

Usage: ``accelerate launch ... tests/ddp_worker.py CONFIG.yaml``. Each rank writes
``rank<i>-of-<n>.safetensors`` (its trainable weights) and ``rank<i>-of-<n>.json``
(the clips it drew and the distributed backend) into the config's output_dir.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from lamp_motion.config_io import load_config
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import Trainer


def main(config_path: str) -> None:
    config = load_config(TrainConfig, config_path)
    trainer = Trainer(config)
    trainer.run()
    acc = trainer.accelerator
    stem = Path(config.output_dir) / f"rank{acc.process_index}-of-{acc.num_processes}"
    weights = {name: p.detach().cpu().contiguous() for name, p in trainer.video.trainable_parameters().items()}
    save_file(weights, f"{stem}.safetensors")
    clips = [dataclasses.astuple(trainer.sampler.clip_at(i)) for i in range(config.steps * config.batch_size)]
    Path(f"{stem}.json").write_text(json.dumps({"clips": clips, "backend": acc.state.backend}))


if __name__ == "__main__":
    main(sys.argv[1])
