"""The training loop's hooks: progress per step, validation videos as they are written, stop with a checkpoint."""

from __future__ import annotations

import pytest
from PIL import Image

from lamp_motion.training.checkpoint import list_checkpoints
from lamp_motion.training.hooks import TrainingHooks
from lamp_motion.training.trainer import train
from tests.helpers import tiny_config


def test_hooks_report_steps_and_validation_videos(motion_folder, tiny_sd_folder, tmp_path):
    image = tmp_path / "first.png"
    Image.new("RGB", (32, 32), (200, 20, 20)).save(image)
    steps, videos = [], []
    hooks = TrainingHooks(on_step=lambda step, total, loss: steps.append((step, total, loss)),
                          on_validation=lambda step, paths: videos.append((step, paths)))
    config = tiny_config(motion_folder, tiny_sd_folder, tmp_path / "out", steps=3, validate_every=2,
                         validation_images=[str(image)], validation_steps=2)
    train(config, hooks=hooks)
    assert [(step, total) for step, total, _ in steps] == [(1, 3), (2, 3), (3, 3)]
    assert all(loss > 0 for _, _, loss in steps)
    assert [(step, [p.name for p in paths]) for step, paths in videos] == [(2, ["00-moves-right.mp4"])]
    assert all(p.is_file() for _, paths in videos for p in paths)


def test_stop_saves_a_checkpoint_like_ctrl_c(motion_folder, tiny_sd_folder, tmp_path):
    hooks = TrainingHooks()
    hooks.on_step = lambda step, total, loss: hooks.stop.set() if step == 2 else None
    config = tiny_config(motion_folder, tiny_sd_folder, tmp_path / "out", steps=6)
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 2; checkpoint saved"):
        train(config, hooks=hooks)
    assert [p.name for p in list_checkpoints(tmp_path / "out" / "checkpoints")] == ["step-000002"]
    assert not (tmp_path / "out" / "motion.safetensors").exists()
