"""The toy world: rendered shapes, their motions, scores, and the built-in tiny base model."""

from __future__ import annotations

from pathlib import Path

from ..builtin import builtin_base_path


def base_model_path() -> Path:
    """The folder of the built-in toy base model (a diffusers Stable Diffusion 1.x folder)."""
    return builtin_base_path()
