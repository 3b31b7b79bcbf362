"""Training under faults: a full disk, damaged checkpoints, unusable outputs and configs, all before or without a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lamp_motion.cli.main import main
from lamp_motion.config_io import ConfigError, load_config
from lamp_motion.models import read_motion_header
from lamp_motion.training import checkpoint, rescue
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import TrainingError, train
from tests.helpers import tiny_config


def disk_full_on_calls(monkeypatch, module, failing: set[int]) -> None:
    """Make the given calls (1 = first) of ``module.save_file`` (safetensors' writer) write part of the file and
    fail as safetensors does on a full disk; the other calls write normally."""
    real = module.save_file
    count = {"calls": 0}

    def save_file(tensors, filename, metadata=None):
        count["calls"] += 1
        if count["calls"] in failing:
            Path(filename).write_bytes(b"partial")
            raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                               "message: \"No space left on device\" })")
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(module, "save_file", save_file)


def hidden_or_temporary(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name)


def test_disk_full_at_a_checkpoint_saves_the_weights_and_names_the_last_good_one(motion_folder, tiny_sd_folder,
                                                                                  tmp_path, monkeypatch):
    from lamp_motion.models import motion_file

    out = tmp_path / "out"
    train(tiny_config(motion_folder, tiny_sd_folder, out, steps=2, checkpoint_every=2))
    # The optimiser file of the next checkpoint (step 4) does not fit; its motion file and the rescue do.
    disk_full_on_calls(monkeypatch, checkpoint, failing={1})
    with pytest.raises(TrainingError) as stopped:
        train(tiny_config(motion_folder, tiny_sd_folder, out, steps=4, checkpoint_every=2, resume="latest"))
    message = str(stopped.value)
    rescued = out / "motion-step-000004.safetensors"
    assert "the disk is full" in message and "Temporary files were removed" in message
    assert f"saved instead as {rescued}" in message
    assert f"the last good checkpoint is {out / 'checkpoints' / 'step-000002'}" in message
    assert "resume=latest" in message
    assert hidden_or_temporary(out) == []
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000002"]
    assert read_motion_header(rescued).steps == 4
    monkeypatch.setattr(checkpoint, "save_file", motion_file.save_file)  # space freed
    assert train(tiny_config(motion_folder, tiny_sd_folder, out, steps=4, checkpoint_every=2, resume="latest")).is_file()


def test_disk_full_writing_the_final_motion_file_keeps_the_weights_elsewhere(motion_folder, tiny_sd_folder, tmp_path,
                                                                             monkeypatch):
    from lamp_motion.models import motion_file

    monkeypatch.setattr(rescue.tempfile, "gettempdir", lambda: str(tmp_path / "elsewhere"))
    disk_full_on_calls(monkeypatch, motion_file, failing={1})  # the output disk is full; the temporary folder is not
    out = tmp_path / "out"
    with pytest.raises(TrainingError) as stopped:
        train(tiny_config(motion_folder, tiny_sd_folder, out, steps=2, checkpoint_every=0, motion_dtype="fp32"))
    kept = next((tmp_path / "elsewhere").glob("lamp-*-motion.safetensors"))
    assert f"could not write the motion file {out / 'motion.safetensors'}: the disk is full" in str(stopped.value)
    assert f"saved instead as {kept}" in str(stopped.value)
    assert "there is no intact checkpoint" in str(stopped.value)
    assert not (out / "motion.safetensors").exists() and hidden_or_temporary(out) == []
    assert read_motion_header(kept).metadata["steps"] == "2"


def test_resume_latest_skips_damaged_checkpoints_and_says_why(motion_folder, tiny_sd_folder, tmp_path):
    out = tmp_path / "out"
    train(tiny_config(motion_folder, tiny_sd_folder, out, steps=6, checkpoint_every=2, keep_checkpoints=0,
                      motion_dtype="fp32"))
    folder = out / "checkpoints"
    state = folder / "step-000006" / "state.json"
    state.write_text(state.read_text()[:40])  # truncated JSON
    optimizer = folder / "step-000004" / "optimizer.safetensors"
    optimizer.write_bytes(optimizer.read_bytes()[:-16])  # truncated tensors
    with pytest.warns(UserWarning, match=r"skipped damaged checkpoint\(s\) step-000006: state.json is missing or not "
                                         r"valid JSON .*; step-000004: optimizer.safetensors is missing or damaged"):
        assert checkpoint.resolve_resume("latest", folder) == folder / "step-000002"
    with pytest.raises(FileNotFoundError, match="the checkpoint is damaged"):
        checkpoint.resolve_resume(str(folder / "step-000004"), folder)
    shutil.rmtree(folder / "step-000002")
    with pytest.raises(FileNotFoundError, match="every checkpoint in .* is damaged"):
        checkpoint.resolve_resume("latest", folder)


def test_output_dir_that_is_a_file_is_refused_before_any_model_loads(motion_folder, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert main(["train", "-", f"data={motion_folder}", f"output_dir={taken}", "base=/no/such/base"]) == 2
    assert f"output_dir {taken} is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("override,message", [
    ("learning_rate=-1", "learning_rate=-1.0 must be a number above 0"),
    ("learning_rate=.nan", "learning_rate=nan must be a number above 0"),
    ("lr_scheduler=bogus", "lr_scheduler='bogus' is not a scheduler name; use one of linear, cosine"),
    ("adam_beta2=1", "adam_beta2=1.0 must be in [0, 1)"),
    ("checkpoint_every=-5", "checkpoint_every=-5 must be at least 0"),
    ("resize=squash", "resize='squash'; use one of crop, stretch, pad"),
    ("steps=[1", "override 'steps=[1' is not valid YAML at line 1"),
])
def test_bad_config_values_are_named_with_the_fix(override, message, capsys):
    with pytest.raises(ConfigError) as refused:
        load_config(TrainConfig, None, [override])
    assert message in str(refused.value)
    assert main(["train", "-", override]) == 2
    assert message in capsys.readouterr().err


def test_malformed_yaml_file_names_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("data: x\nsteps: [1, 2\nflip: true\n")
    assert main(["train", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"config file {path} is not valid YAML at line" in error and "close every bracket" in error


def test_motion_file_records_the_resize_mode(motion_folder, tiny_sd_folder, tmp_path):
    path = train(tiny_config(motion_folder, tiny_sd_folder, tmp_path, steps=1, resize="pad"))
    assert read_motion_header(path).metadata["resize"] == "pad"
