"""What the package ships for a first run: the built-in toy base model, the default base.

The default is resolved here, above ``models/`` (whose loaders need a base named), and
below every job that takes an optional base.
"""

from __future__ import annotations

import os
from pathlib import Path


def builtin_base_path() -> Path:
    """The folder of the built-in toy base model (a diffusers Stable Diffusion 1.x folder)."""
    return Path(__file__).resolve().parent / "toy_base"


def resolve_base(source: str | os.PathLike[str] | None) -> str:
    """The base a job loads: ``source`` as given, or the built-in toy base when it is None or empty."""
    return str(source) if source not in (None, "") else str(builtin_base_path())
