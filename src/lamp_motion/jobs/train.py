"""Train: tune a motion on a folder of videos (the trainer itself is :mod:`lamp_motion.training.trainer`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config_io import build_config, load_config, parse_overrides
from ..training.checks import VideoCheck, default_check
from ..training.config import TrainConfig
from ..training.hooks import TrainingHooks
from ..training.trainer import train as run_trainer


@dataclass
class TrainResult:
    """The motion file written, its output folder (checkpoints, samples, logs) and the config it was tuned with."""

    motion_file: Path
    output_dir: Path
    config: TrainConfig


def train_config(config: TrainConfig | str | os.PathLike[str] | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """A TrainConfig: ``config`` itself, or read from a YAML file (None: the defaults), with ``key=value`` overrides."""
    if not isinstance(config, TrainConfig):
        return load_config(TrainConfig, None if config is None else Path(config), list(overrides))
    if not overrides:
        return config
    return build_config(TrainConfig, {**asdict(config), **parse_overrides(list(overrides))}, source="config")


def train(config: TrainConfig | str | os.PathLike[str] | None, overrides: Sequence[str] = (),
          check: VideoCheck | str | None = "auto", hooks: TrainingHooks | None = None) -> TrainResult:
    """Tune a motion; ``config`` is a TrainConfig or a YAML file of its fields, ``overrides`` ``key=value`` strings.

    ``check`` scores the validation videos: "auto" picks the toy world's check for toy
    motions on the toy base, or the CLIP frame-1 check when ``validation_clip`` is set
    (:func:`lamp_motion.training.checks.default_check`); None makes none. ``hooks``: progress
    callbacks and a stop request (:class:`lamp_motion.training.hooks.TrainingHooks`).
    """

    resolved = train_config(config, overrides)
    chosen = default_check(resolved) if check == "auto" else check
    motion_file = run_trainer(resolved, chosen, hooks=hooks)
    return TrainResult(motion_file=Path(motion_file), output_dir=Path(resolved.output_dir), config=resolved)
