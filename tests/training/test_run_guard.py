"""Runs that never mix: one run per output folder, no silent overwrite, resumes that keep their settings,
SIGTERM handled as Ctrl-C, rescues that never overwrite each other, a training check that skips bad files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, fields

import numpy as np
import pytest

from lamp_motion.metrics.toy import palette_from_folder
from lamp_motion.models import LampMotionAdapter, read_motion_header
from lamp_motion.training import rescue
from lamp_motion.training.checkpoint import list_checkpoints
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.hooks import TrainingHooks
from lamp_motion.training.run_guard import LOCK_NAME, RUN_ONLY_FIELDS, RunLock, data_digest, resume_changes
from lamp_motion.training.trainer import Trainer, TrainingError, train
from lamp_motion.video_io import write_video
from tests.helpers import moving_square_video, tiny_config, trained_video


def test_run_only_fields_are_config_fields():
    assert RUN_ONLY_FIELDS <= {f.name for f in fields(TrainConfig)}


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_folder_in_use_is_refused_and_a_killed_holder_leaves_no_lock(motion_folder, tiny_sd_folder, tmp_path):
    out = tmp_path / "out"
    with RunLock(out):
        with pytest.raises(TrainingError, match=rf"output_dir {out} is in use by another training run \(pid {os.getpid()}"):
            train(tiny_config(motion_folder, tiny_sd_folder, out, steps=1))
    assert not (out / LOCK_NAME).exists()
    # A run killed outright (no clean-up at all) leaves its lock file, but not the lock.
    code = ("import os, signal, sys; from lamp_motion.training.run_guard import RunLock; "
            "RunLock(sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)")
    subprocess.run([sys.executable, "-c", code, str(out)], check=False)
    assert (out / LOCK_NAME).exists()
    assert train(tiny_config(motion_folder, tiny_sd_folder, out, steps=1)).is_file()
    assert not (out / LOCK_NAME).exists()


def test_a_new_run_over_an_earlier_one_is_refused_unless_overwrite(motion_folder, tiny_sd_folder, tmp_path):
    out = tmp_path / "out"
    first = train(tiny_config(motion_folder, tiny_sd_folder, out, steps=2, checkpoint_every=2))
    before = first.read_bytes()
    with pytest.raises(TrainingError, match="already holds .*motion.safetensors and .*checkpoints of an earlier run.*"
                                            "resume=latest.*overwrite=true"):
        train(tiny_config(motion_folder, tiny_sd_folder, out, steps=3, seed=6))
    assert first.read_bytes() == before and [p.name for p in list_checkpoints(out / "checkpoints")] == ["step-000002"]
    train(tiny_config(motion_folder, tiny_sd_folder, out, steps=3, seed=6, overwrite=True))
    assert first.read_bytes() != before and read_motion_header(first).steps == 3
    assert not (out / "checkpoints").exists()  # a later resume=latest cannot continue the old run


def test_a_resume_with_other_settings_is_refused_unless_overridden(motion_folder, tiny_sd_folder, tmp_path):
    out = tmp_path / "out"
    train(tiny_config(motion_folder, tiny_sd_folder, out, steps=2, checkpoint_every=2))
    changed = tiny_config(motion_folder, tiny_sd_folder, out, steps=4, resume="latest", learning_rate=1e-4, height=40)
    with pytest.raises(TrainingError, match=r"height 32 -> 40, learning_rate 0.001 -> 0.0001.*resume_override=true"):
        train(changed)
    with pytest.raises(TrainingError, match="is at step 2, beyond steps=1"):
        train(tiny_config(motion_folder, tiny_sd_folder, out, steps=1, resume="latest"))
    trainer = Trainer(tiny_config(motion_folder, tiny_sd_folder, out, steps=3, resume="latest", learning_rate=1e-4,
                                  adam_weight_decay=0.5, resume_override=True))
    motion = trainer.run()
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-4]  # the new value, not the checkpoint's 1e-3
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.5]
    assert "learning_rate: 0.0001" in LampMotionAdapter.from_pretrained(str(motion)).config.training_config


def test_a_resume_from_the_same_videos_elsewhere_is_no_change_but_other_videos_are(motion_folder, tiny_sd_folder, tmp_path):
    out, copy = tmp_path / "out", tmp_path / "uploaded-again" / motion_folder.name
    train(tiny_config(motion_folder, tiny_sd_folder, out, steps=2, checkpoint_every=2))
    shutil.copytree(motion_folder, copy)  # the web page uploads each tuning run into a new folder
    assert data_digest(copy) == data_digest(motion_folder) and data_digest(tmp_path / "none") is None
    checkpoint = list_checkpoints(out / "checkpoints")[-1]
    now = {**asdict(tiny_config(copy, tiny_sd_folder, out, steps=3, resume="latest")), "data_digest": data_digest(copy)}
    assert resume_changes(checkpoint, now) == {}
    assert train(tiny_config(copy, tiny_sd_folder, out, steps=3, resume="latest")).is_file()
    first = sorted(copy.iterdir())[0]
    first.write_bytes(first.read_bytes()[:-1] + b"x")  # other content under the same names
    with pytest.raises(TrainingError, match="data .* -> .*the files in data differ from those it was trained on"):
        train(tiny_config(copy, tiny_sd_folder, out, steps=4, resume="latest"))


def test_sigterm_saves_a_checkpoint_like_ctrl_c(motion_folder, tiny_sd_folder, tmp_path):
    out = tmp_path / "out"
    hooks = TrainingHooks(on_step=lambda step, total, loss: os.kill(os.getpid(), signal.SIGTERM) if step == 1 else None)
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 1; checkpoint saved"):
        train(tiny_config(motion_folder, tiny_sd_folder, out, steps=3, checkpoint_every=0), hooks=hooks)
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["step-000001"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_rescues_never_overwrite_an_earlier_rescue(tmp_path):
    adapter = LampMotionAdapter.from_video_unet(trained_video(), steps=7)
    target = tmp_path / "motion-step-000007.safetensors"
    target.write_bytes(b"another run's rescue")
    kept = rescue._save_somewhere(adapter, [target], "fp32")
    assert kept == tmp_path / "motion-step-000007-2.safetensors" and read_motion_header(kept).steps == 7
    assert target.read_bytes() == b"another run's rescue"


def test_the_training_palette_skips_unreadable_videos_naming_each(tmp_path):
    folder = tmp_path / "moves_right"
    write_video(folder / "good.mp4", moving_square_video(1), fps=8)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable video\(s\).*broken.mp4.*empty.mp4"):
        palette = palette_from_folder(folder)
    assert len(palette.objects) > 0 and np.isfinite(palette.backgrounds).all()
