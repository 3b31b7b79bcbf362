"""Training reports whether the motion was learnt: the motion score per validation step, best.safetensors, warnings."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from PIL import Image

from lamp_motion.data.toy.sets import make_set, sample_clips
from lamp_motion.metrics.motion import reference_tracks
from lamp_motion.models.motion_file import read_motion_header
from lamp_motion.training.motion_progress import MotionProgress
from lamp_motion.training.trainer import train
from tests.helpers import tiny_config


def test_progress_keeps_the_best_and_warns_on_a_fall_and_when_not_learnt():
    clips = [clip.render(8) for clip in sample_clips("move_right", 2, seed=1)]
    progress = MotionProgress(references=reference_tracks(clips), still_score=0.1)
    assert progress.update(2, 0.3) == (True, [])
    assert progress.update(4, 0.6) == (True, [])
    is_best, warnings = progress.update(6, 0.4)
    assert not is_best and "fell to 0.400 from 0.600 at step 4" in warnings[0] and "over-trained" in warnings[0]
    assert progress.best == (4, 0.6)
    assert "not learnt" not in progress.final_message() and "at step 4" in progress.final_message()
    flat = MotionProgress(references=progress.references, still_score=0.1)
    for step in (2, 4, 6, 8, 10):
        _, warnings = flat.update(step, 0.15)
    assert "has not risen for 3 validation steps" in warnings[0]
    assert "the motion was not learnt" in flat.final_message()
    # the score itself: a training clip scores about 1 against its set, its still copy low
    assert progress.score(clips[0]).score > 0.9
    assert progress.score(np.repeat(clips[0][:1], 8, axis=0)).score < 0.3


def test_train_scores_each_validation_step_and_keeps_the_best(tiny_sd_folder, tmp_path, capsys):
    data = tmp_path / "my_clips"  # a toy set read as plain mp4 files; no toy check (check=None)
    make_set("move_right", data, num_videos=2, num_frames=8, seed=0)
    (data / "set.json").unlink()
    image = tmp_path / "first.png"
    Image.fromarray(sample_clips("move_right", 1, seed=3)[0].render(2)[0]).save(image)
    config = tiny_config(data, tiny_sd_folder, tmp_path / "out", steps=4, validate_every=2, validation_steps=2,
                         validation_images=[str(image)], checkpoint_every=4)
    train(config, check=None)
    out = tmp_path / "out"
    history = json.loads((out / "scores.json").read_text())
    assert [row["step"] for row in history["steps"]] == [2, 4]
    values = [row["motion_score"] for row in history["steps"]]
    assert all(-1 <= v <= 1 for v in values) and history["best"]["motion_score"] == max(values)
    per_video = json.loads((out / "validation" / "step-000004" / "scores.json").read_text())
    assert per_video["00-my-clips"]["motion_score"] == values[1]
    assert read_motion_header(out / "best.safetensors").steps == history["best"]["step"]
    log = "".join(capsys.readouterr())
    assert f"step 4: motion score {values[1]:.3f}" in log
    assert f"best motion score {max(values):.3f} at step {history['best']['step']}" in log
    assert str(out / "best.safetensors") in log

    # A resumed run keeps the earlier steps' scores (and so the best so far); overwrite=true starts them afresh.
    resumed = dataclasses.replace(config, steps=6, resume="latest")
    train(resumed, check=None)
    history = json.loads((out / "scores.json").read_text())
    assert [row["step"] for row in history["steps"]] == [2, 4, 6] and history["steps"][1]["motion_score"] == values[1]
    train(dataclasses.replace(config, steps=2, overwrite=True, validate_every=0), check=None)
    assert not (out / "scores.json").exists() and not (out / "best.safetensors").exists()
