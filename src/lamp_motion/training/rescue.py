"""Keeping trained weights when the disk fills up during training.

A checkpoint (fp32 weights + optimiser state) is several times larger than the motion
file (the trainable tensors alone), so when a checkpoint cannot be written the motion
file of that step usually still fits. :func:`save_checkpoint_or_rescue` and
:func:`save_motion_or_rescue` wrap the two writers of the training loop: on a failed
write they save the weights wherever they still fit (beside the outputs, else in the
system's temporary folder) and stop with a :class:`TrainingError` that says what was
lost, what was kept, the last good checkpoint, and how to continue.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import TrainingError
from ..files import OutputWriteError
from ..models import LampMotionAdapter, VideoUNet
from .checkpoint import checkpoint_problem, list_checkpoints, save_checkpoint


def save_checkpoint_or_rescue(folder: Path, step: int, video: VideoUNet, optimizer, lr_scheduler, config: dict,
                              keep: int) -> Path:
    """:func:`.checkpoint.save_checkpoint`; if that fails, save step ``step``'s weights as a motion file and stop."""
    try:
        return save_checkpoint(folder, step, video, optimizer, lr_scheduler, config, keep)
    except OutputWriteError as error:
        name = f"motion-step-{step:06d}.safetensors"
        adapter = LampMotionAdapter.from_video_unet(video, steps=step)
        fallback = Path(tempfile.gettempdir()) / f"lamp-{os.getpid()}-{name}"
        kept = _save_somewhere(adapter, [folder.parent / name, fallback], "fp32")
        raise TrainingError(_message(error, f"checkpoint {folder / f'step-{step:06d}'}", step, kept, folder)) from error


def save_motion_or_rescue(adapter: LampMotionAdapter, path: Path, dtype: str) -> Path:
    """``adapter.save_motion_file`` to ``path``; if that fails, save it in the system's temporary folder and stop."""
    try:
        return adapter.save_motion_file(path, dtype)
    except OutputWriteError as error:
        fallback = Path(tempfile.gettempdir()) / f"lamp-{os.getpid()}-{path.name}"
        kept = _save_somewhere(adapter, [fallback], dtype)
        step = adapter.config.steps or 0
        raise TrainingError(_message(error, f"the motion file {path}", step, kept, path.parent / "checkpoints")) from error


def _save_somewhere(adapter: LampMotionAdapter, paths: list[Path], dtype: str) -> Path | None:
    """The first of ``paths`` the motion file could be written to, or None; an existing file is never replaced
    (``name-2.safetensors``, ``name-3...`` are tried instead: two runs' rescues must not overwrite each other)."""
    for path in paths:
        try:
            return adapter.save_motion_file(_free_name(path), dtype)
        except OutputWriteError:
            continue
    return None


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def _message(error: OutputWriteError, what: str, step: int, kept: Path | None, checkpoints: Path) -> str:
    cause = "the disk is full" if error.disk_full else f"the write failed ({error})"
    intact = [path for path in reversed(list_checkpoints(checkpoints)) if checkpoint_problem(path) is None]
    last_good = f"the last good checkpoint is {intact[0]}" if intact else f"there is no intact checkpoint in {checkpoints}"
    weights = (f"the weights of step {step} were saved instead as {kept} (a motion file: `lamp generate --motion` "
               f"can use it)" if kept else f"the weights of step {step} could not be saved anywhere")
    return (f"could not write {what}: {cause}. Temporary files were removed; {weights}; {last_good}. Free some space "
            f"(or set output_dir on another disk) and continue with resume=latest")
