"""Merge: several motion files into one that applies them at their weights (``lamp motion merge``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SettingError
from ..models import LampMotionAdapter, read_motion_header
from ..models.mixing import merge_motions, unfold
from .common import Log


@dataclass
class MergeSettings:
    """``motions``: two or more motion files; ``weights``: one per motion (default 1 each); ``out``: the file to
    write (an existing one only with ``overwrite``); ``dtype``: of the stored tensors."""

    motions: list[str | os.PathLike[str]]
    out: str | os.PathLike[str]
    weights: tuple[float, ...] | None = None
    dtype: str = "fp16"
    overwrite: bool = False


@dataclass
class MergeResult:
    """The merged file, its size in bytes, and the motions it applies with their weights (merged inputs unfolded)."""

    path: Path
    size: int
    parts: list[tuple[str, float]] = field(default_factory=list)


def merge(settings: MergeSettings, log: Log | None = print) -> MergeResult:
    """Write ``settings.out``: one motion file that applies ``settings.motions`` at ``settings.weights`` exactly as
    ``lamp generate --motion A --motion B --motion-weights ...`` does (:func:`lamp_motion.models.mixing.merge_motions`)."""
    say = log or (lambda _: None)
    out = Path(settings.out)
    if out.suffix.lower() != ".safetensors":
        raise SettingError(f"{{out}}={out} must name a .safetensors file", "out")
    if out.exists() and not settings.overwrite:
        raise SettingError(f"{out} exists; choose another {{out}} or pass {{overwrite}} to replace it", "out",
                           "overwrite")
    if out.resolve() in {Path(m).resolve() for m in settings.motions}:
        raise SettingError(f"{{out}}={out} is one of the motions being merged; write the merge to another file", "out")
    # A .safetensors path is read as a motion file (a missing one is named as such), anything else as from_pretrained does.
    adapters = [LampMotionAdapter.from_motion_file(read_motion_header(m)) if str(m).lower().endswith(".safetensors")
                else LampMotionAdapter.from_pretrained(str(m)) for m in settings.motions]
    try:
        path = merge_motions(adapters, settings.weights, out, settings.dtype)
    except ValueError as error:
        if "weight" in str(error):
            raise SettingError(f"{{weights}}: {error}", "weights") from error
        raise
    parts = [(part.source, weight) for part, weight in unfold(adapters, settings.weights)]
    result = MergeResult(path=path, size=path.stat().st_size, parts=parts)
    say(f"merged {len(parts)} motions ({', '.join(f'{source} x {w:g}' for source, w in parts)}) into {path} "
        f"({result.size / 1e6:.1f} MB); it applies them exactly as mixing them at generation does")
    return result
