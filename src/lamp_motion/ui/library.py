"""The motion library: a folder with one subfolder per tuned motion (``NAME/motion.safetensors``).

A tuning run's output folder is ``LIBRARY/NAME``, so its config, checkpoints and
validation videos stay beside the motion file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..models import read_motion_header
from ..models.motion_file import MotionFileError

MOTION_FILE = "motion.safetensors"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class MotionEntry:
    name: str
    path: Path  # the motion file
    prompt: str
    height: int | None
    width: int | None
    frames: int | None
    base: str  # "" = the built-in toy base
    steps: int | None  # optimiser steps it was tuned for (None: not recorded)

    def describe(self) -> str:
        size = f"{self.frames} frames of {self.height}x{self.width}" if self.height else "size not recorded"
        return (f"**{self.name}**: prompt *{self.prompt}*, {size}, base `{self.base or 'built-in toy base'}`, "
                f"{self.steps or '?'} steps")


def check_name(name: str) -> str:
    """A motion name: letters, digits, ``-`` and ``_`` (it becomes a folder name)."""
    name = name.strip()
    if not _NAME.match(name):
        raise ValueError(f"motion name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def list_motions(library: Path) -> list[MotionEntry]:
    """The readable motions in ``library``, by name (files that are not motion files are left out)."""
    entries = []
    for path in sorted(Path(library).glob(f"*/{MOTION_FILE}")):
        try:
            header = read_motion_header(path)
        except MotionFileError:
            continue
        size = header.trained_size
        entries.append(MotionEntry(path.parent.name, path, header.prompt or "", size["height"], size["width"],
                                   size["num_frames"], header.base or "", header.steps))
    return entries


def find_motion(library: Path, name: str | None) -> MotionEntry:
    """The library's motion ``name``; ValueError naming the motions there when it is not one."""
    motions = list_motions(library)
    for entry in motions:
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in motions) or "none yet: tune one first"
    raise ValueError(f"motion {name!r} is not in the library {library} (motions: {known})")
