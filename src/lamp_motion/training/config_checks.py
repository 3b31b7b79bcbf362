"""Checks of a training config's numbers and names, run when the config is built (before any model loads)."""

from __future__ import annotations

import math
from typing import Any

from diffusers.optimization import SchedulerType

from ..data import RESIZE_MODES

LR_SCHEDULERS = tuple(kind.value for kind in SchedulerType)  # names diffusers.optimization.get_scheduler accepts


def check_training_numbers(config: Any) -> None:
    """Raise ValueError naming the first field of a TrainConfig that no training run could use, and the fix."""
    positive = {"learning_rate": "the paper uses 3e-5", "adam_epsilon": "e.g. 1e-8"}
    for name, hint in positive.items():
        value = getattr(config, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}={value} must be a number above 0 ({hint})")
    for name in ("adam_weight_decay", "max_grad_norm"):
        value = getattr(config, name)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}={value} must be a number of at least 0")
    for name in ("sample_guidance", "validation_guidance"):  # validation_guidance None = sample_guidance
        value = getattr(config, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}={value} must be a number >= 0 (1 or less turns guidance off)")
    if not (math.isfinite(config.noise_offset) and 0.0 <= config.noise_offset <= 1.0):
        raise ValueError(f"noise_offset={config.noise_offset} must be from 0 (off) to 1; 0.1 is the usual value")
    if not 0.0 <= config.colour_augment <= 1.0:
        raise ValueError(f"colour_augment={config.colour_augment} is a share of clips: use a number from 0 (off) to 1 (every clip)")
    for name in ("adam_beta1", "adam_beta2"):
        value = getattr(config, name)
        if not 0 <= value < 1:  # also refuses nan
            raise ValueError(f"{name}={value} must be in [0, 1) (AdamW's defaults are 0.9 and 0.999)")
    for name in ("lr_warmup_steps", "checkpoint_every", "keep_checkpoints", "log_every", "validate_every"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name}={getattr(config, name)} must be at least 0")
    if config.validation_steps < 1:
        raise ValueError(f"validation_steps={config.validation_steps} must be at least 1")
    if config.lr_scheduler not in LR_SCHEDULERS:
        raise ValueError(f"lr_scheduler={config.lr_scheduler!r} is not a scheduler name; use one of {', '.join(LR_SCHEDULERS)}")
    if config.resize not in RESIZE_MODES:
        raise ValueError(f"resize={config.resize!r}; use one of {', '.join(RESIZE_MODES)}")
