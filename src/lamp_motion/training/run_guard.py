"""Keeping training runs apart: one run per output folder, no silent overwrite, no resume that mixes settings.

* :class:`RunLock`: an exclusive ``flock`` on ``output_dir/.lamp-train.lock`` for the
  whole run. A second run into the same folder is refused, naming the process that holds
  it; the operating system drops the lock when its process ends, however it ends, so a
  crashed run never leaves the folder locked (a run that ends normally also removes the file).
* :func:`earlier_run`: a run that does not resume refuses a folder that already
  holds a motion file or checkpoints (it would overwrite the one and a later
  ``resume=latest`` would continue the other), unless ``overwrite=true`` says so.
* :func:`resume_changes`: the settings a resumed run would train with that differ from
  the checkpoint's; the trainer refuses them unless ``resume_override=true``, and then
  applies the new optimiser values, so the motion file records what was really used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from ..errors import TrainingError

LOCK_NAME = ".lamp-train.lock"
SCORE_FILES = ("best.safetensors", "scores.json")  # the motion score's files of a run (training/motion_progress.py)
# TrainConfig fields that do not change what a run trains on or how: where it writes, how often it
# saves, logs and validates, how the result is sampled, and memory/speed switches with the same result.
RUN_ONLY_FIELDS = frozenset({
    "output_dir", "resume", "resume_override", "overwrite", "steps", "checkpoint_every", "keep_checkpoints",
    "log_every", "tensorboard", "motion_dtype", "cache_latents", "gradient_checkpointing", "tf32", "fused_adamw",
    "fused_step",
    "validate_every", "validation_images", "validation_prompts", "validation_steps", "validation_guidance",
    "validation_clip", "motion_score", "sample_steps", "sample_guidance", "sample_frame_init",
})

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None


class RunLock:
    """Hold ``folder/.lamp-train.lock`` exclusively while a run writes into ``folder``."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self._handle = None
        self._created = False

    def acquire(self) -> RunLock:
        """Take the lock (creating the folder); raises :class:`TrainingError` when another run holds it."""
        if fcntl is None:
            return self
        self._created = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise TrainingError(
                    f"output_dir {self.path.parent} is in use by another training run ({holder}); two runs in one "
                    f"folder would overwrite each other's checkpoints and motion file. Wait for it to finish (or stop "
                    f"it), or give this run another output_dir") from None
            try:  # the holder before us removes the file as it lets go: lock the file that is there now
                if os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            handle.close()
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)  # while still held, so no other run locks a file about to vanish
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
            if self._created and not any(self.path.parent.iterdir()):
                self.path.parent.rmdir()  # a run that stopped before writing anything leaves no folder behind

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def earlier_run(folder: Path, overwrite: bool) -> list[Path]:
    """What an earlier run left in ``folder`` that a new (not resumed) run would replace: its motion file, checkpoints.

    Raises :class:`TrainingError` when there is any and ``overwrite`` is false: the new
    run would overwrite the motion file, and a later ``resume=latest`` would continue
    the old run from its checkpoints.
    """
    folder = Path(folder)
    motion, checkpoints = folder / "motion.safetensors", folder / "checkpoints"
    found = [motion] if motion.is_file() else []
    found += [checkpoints] if checkpoints.is_dir() and any(checkpoints.iterdir()) else []
    found += [folder / name for name in SCORE_FILES if found and (folder / name).is_file()]
    if found and not overwrite:
        resume = " continue that run with resume=latest," if checkpoints in found else ""
        named = [path for path in found if path.name not in SCORE_FILES]
        raise TrainingError(
            f"output_dir {folder} already holds {' and '.join(map(str, named))} of an earlier run; a new run would "
            f"overwrite them. Give this run another output_dir,{resume} or set overwrite=true to replace the earlier run")
    return found


def replace_earlier_run(found: list[Path]) -> list[str]:
    """Remove an earlier run's checkpoints (``overwrite=true``, once the new run is set up); notes of what changed."""
    notes = []
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
            notes.append(f"overwrite=true: removed the earlier run's checkpoints in {path}")
        elif path.name in SCORE_FILES:  # its best motion and motion scores belong to the earlier run
            path.unlink(missing_ok=True)
            notes.append(f"overwrite=true: removed the earlier run's {path}")
        else:
            notes.append(f"overwrite=true: the earlier motion file {path} is replaced at the end of this run")
    return notes


def resume_changes(checkpoint: Path, now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (checkpoint's value, this run's value)}`` for every training setting that differs.

    ``now``: this run's resolved config (``dataclasses.asdict``). Fields in
    :data:`RUN_ONLY_FIELDS` are left out, as are fields the checkpoint does not record
    (checkpoints written before a field existed)."""
    state = json.loads((Path(checkpoint) / "state.json").read_text())
    recorded = state.get("config") or {}
    if not isinstance(recorded, dict):
        return {}
    changes = {key: (recorded[key], value) for key, value in now.items()
               if key not in RUN_ONLY_FIELDS and key in recorded and _normal(recorded[key]) != _normal(value)}
    if "data" in changes and "data_digest" not in changes and recorded.get("data_digest") and now.get("data_digest"):
        del changes["data"]  # the same videos at another path (the web page uploads each run to a new folder)
    return changes


def data_digest(data: str | os.PathLike) -> str | None:
    """A digest of every file under the data folder (relative names and contents); None when it is not a folder.

    Recorded in each checkpoint, so that a resume from the same videos at another path is
    not a change, and a resume from other videos in the same folder is."""
    root = Path(data)
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _normal(value: Any) -> Any:
    """Values as state.json gives them back (tuples as lists), so that equal settings compare equal."""
    return json.loads(json.dumps(value, default=str))


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join("the files in data differ from those it was trained on" if key == "data_digest"
                     else f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
