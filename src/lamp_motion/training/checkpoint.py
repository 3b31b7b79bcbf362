"""Training checkpoints without pickle: safetensors for tensors, JSON for the rest.

A checkpoint is a folder ``checkpoints/step-000500/`` holding

* ``motion.safetensors`` — the trainable tensors in fp32 (a motion file, see
  :mod:`lamp_motion.models.motion_file`), so a resumed run starts from exact weights;
* ``optimizer.safetensors`` — the optimiser's per-parameter state tensors;
* ``state.json`` — step, optimiser param groups, lr-scheduler state, resolved config.

It is written to a temporary folder and renamed into place, so a crash mid-write
never leaves a half checkpoint under a real name. Sampling and noise are derived from
``(seed, rank, step)``, so no random-number-generator state needs saving.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..files import atomic_path, write_error, write_text_atomic
from ..models import LampMotionAdapter, VideoUNet, load_motion

_NAME = re.compile(r"^step-(\d+)$")


def _optimizer_to_files(state: dict) -> tuple[dict[str, torch.Tensor], list[dict]]:
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    groups = [dict(group, _scalars=scalars) if i == 0 else dict(group) for i, group in enumerate(state["param_groups"])]
    return tensors, groups


def _optimizer_from_files(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict:
    scalars = groups[0].pop("_scalars", {}) if groups else {}
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(scalars.items()):
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def save_checkpoint(folder: Path, step: int, video: VideoUNet, optimizer, lr_scheduler, config: dict, keep: int) -> Path:
    """Write checkpoint ``step`` under ``folder`` atomically and keep only the newest ``keep``.

    Raises:
        OutputWriteError: a file could not be written (e.g. the disk is full); the
            temporary folder is removed and older checkpoints are left as they were.
    """
    final = folder / f"step-{step:06d}"
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".step-{step:06d}-", suffix=".tmp", dir=folder))  # a name of its own
        tmp.chmod(0o755)  # mkdtemp's folder is private; a checkpoint is not
        # In full: resuming onto the same base is then exact (a difference added back may round).
        adapter = LampMotionAdapter.from_video_unet(video, steps=step, base_weights="full")
        adapter.save_motion_file(tmp / "motion.safetensors", dtype="fp32")
        tensors, groups = _optimizer_to_files(optimizer.state_dict())
        with atomic_path(tmp / "optimizer.safetensors") as temporary:
            save_file(tensors, str(temporary))
        state = {"step": step, "param_groups": groups, "lr_scheduler": lr_scheduler.state_dict(), "config": config}
        write_text_atomic(tmp / "state.json", json.dumps(state, indent=1, default=_jsonable))
    except OSError as error:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(final, error) from error
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _jsonable(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.item() if value.numel() == 1 else value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint's state.json")


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and (p / "state.json").is_file()]
    return [p for _, p in sorted(found)]


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from (a missing, truncated or damaged file), or None.

    Reads ``state.json`` and the headers of both tensor files; safetensors refuses a
    file shorter than its header says, so a truncated tensor file is found here too.
    """
    try:
        state = json.loads((path / "state.json").read_text())
    except (OSError, ValueError) as error:
        return f"state.json is missing or not valid JSON ({error})"
    if not isinstance(state, dict) or not {"step", "param_groups", "lr_scheduler"} <= set(state):
        return "state.json lacks step, param_groups or lr_scheduler"
    for name in ("motion.safetensors", "optimizer.safetensors"):
        try:
            with safe_open(str(path / name), framework="pt") as handle:
                handle.keys()
        except Exception as error:  # safetensors raises its own error type for damaged files
            return f"{name} is missing or damaged ({str(error).splitlines()[0]})"
    return None


def resolve_resume(resume: str, folder: Path) -> Path:
    """The checkpoint folder that ``resume`` ("latest" or a path) names, checked to be intact.

    With "latest", damaged checkpoints (e.g. cut short by a full disk) are skipped for the
    newest intact one, with a ``UserWarning`` naming each skipped folder and why.
    """
    if resume == "latest":
        found = list_checkpoints(folder)
        if not found:
            raise FileNotFoundError(f"resume=latest, but {folder} holds no checkpoint yet; drop resume to start afresh")
        skipped = []
        for path in reversed(found):
            problem = checkpoint_problem(path)
            if problem is None:
                if skipped:
                    warnings.warn(f"resume=latest: skipped damaged checkpoint(s) {'; '.join(skipped)}; resuming from "
                                  f"{path}", UserWarning, stacklevel=2)
                return path
            skipped.append(f"{path.name}: {problem}")
        raise FileNotFoundError(f"resume=latest, but every checkpoint in {folder} is damaged ({'; '.join(skipped)}); "
                                f"delete them and drop resume to start afresh")
    path = Path(resume)
    if not (path / "state.json").is_file():
        raise FileNotFoundError(f"resume={resume!r} is not a checkpoint folder (no state.json); use resume=latest or a checkpoints/step-N folder")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise FileNotFoundError(f"resume={resume!r}: the checkpoint is damaged ({problem}); resume from an older "
                                f"checkpoint folder or use resume=latest, which skips damaged ones")
    return path


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint folder was written at."""
    return int(json.loads((Path(path) / "state.json").read_text())["step"])


def load_checkpoint(path: Path, video: VideoUNet, optimizer, lr_scheduler) -> int:
    """Restore weights, optimiser and lr schedule from ``path``; returns its step."""
    state = json.loads((path / "state.json").read_text())
    load_motion(video, path / "motion.safetensors")
    optimizer.load_state_dict(_optimizer_from_files(load_file(str(path / "optimizer.safetensors")), state["param_groups"]))
    lr_scheduler.load_state_dict(state["lr_scheduler"])
    return int(state["step"])
