"""What the generation jobs share: the device, output checks, the video model's base, one written video.

:func:`write_outputs` writes a generated video: mp4, gif, a PNG contact sheet and a JSON of every
setting. The JSON has what `lamp eval` and a rerun need: ``prompt``, ``motion``, ``seed``, all
generation settings, and ``videos`` with the file names (relative to the JSON).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..builtin import resolve_base
from ..errors import SettingError
from ..files import OutputWriteError, check_output_folder, write_text_atomic
from ..models import OtherBaseWarning
from ..models.loading import BaseModel, load_base, load_recorded_base
from ..models.motion_file import DTYPES, MotionFile
from ..pipelines.lamp_pipeline import LampPipeline, recorded_base_unet
from ..video_io import write_contact_sheet, write_video

Log = Callable[[str], None]


def resolve_device(device: str = "auto", dtype: str = "auto") -> tuple[torch.device, torch.dtype]:
    """``device`` ("auto": cuda when available) and ``dtype`` ("auto": fp16 on a GPU, fp32 on a CPU) as torch objects."""
    if dtype not in ("auto", *DTYPES):
        raise SettingError(f"{{dtype}}={dtype!r} is not one of auto, {', '.join(DTYPES)}", "dtype")
    resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else torch.device(device)
    if dtype == "auto":
        dtype = "fp16" if resolved.type == "cuda" else "fp32"
    return resolved, DTYPES[dtype]


def check_out(folder: str | os.PathLike[str]) -> Path:
    """The output folder ``out`` as a Path, or a SettingError naming ``out`` when it cannot be one."""
    try:
        return check_output_folder(folder, "{out}")
    except OutputWriteError as error:
        raise SettingError(str(error), "out") from error


def load_motion_base(header: MotionFile, base: str | os.PathLike[str] | None, dtype: torch.dtype) -> BaseModel:
    """``base``, else the base the motion was trained on, else the built-in toy base."""
    if base is None and header.base:
        return load_recorded_base(header.base, header.path, dtype)
    return load_base(resolve_base(base), dtype=dtype)


def video_model(base: BaseModel, motion: str | os.PathLike[str] | list, header: MotionFile, given_base: str | None,
                allow_other_base: bool, say: Log, motion_weights=None) -> LampPipeline:
    """``base`` inflated with ``motion`` (whose header is ``header``; a list: a mix weighted by ``motion_weights``,
    ``header`` the first one's); a note on another base is said, not raised.

    A motion file holding its base weights in full, put on a ``given_base`` other than the
    one it records, is first turned into a difference against the recorded base when that
    one loads (its UNet is loaded for it); otherwise it is refused unless ``allow_other_base``."""
    trained_base, note = recorded_base_unet(header.config["base"], header.base_weights, given_base, base.unet.dtype,
                                            header.path)
    if note:
        say(f"note: {note}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OtherBaseWarning)
        pipe = LampPipeline.from_base(base, motion, allow_other_base=allow_other_base, trained_base=trained_base,
                                      motion_weights=motion_weights)
    for warning in caught:
        if issubclass(warning.category, OtherBaseWarning):
            say(f"note: {warning.message}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return pipe


@dataclass
class GeneratedVideo:
    """One video written by a job: its files (mp4, gif, PNG contact sheet, JSON of every setting) and frames."""

    json: Path
    prompt: str
    seed: int | None
    frames: np.ndarray  # (f, h, w, 3) uint8, the exact frames written
    notes: list[str] = field(default_factory=list)

    @property
    def mp4(self) -> Path:
        return self.json.with_suffix(".mp4")

    @property
    def gif(self) -> Path:
        return self.json.with_suffix(".gif")

    @property
    def sheet(self) -> Path:
        return self.json.with_suffix(".png")


def write_outputs(out_dir: Path, name: str, frames: np.ndarray, fps: float, settings: dict) -> Path:
    """Write ``name``.mp4/.gif/.png/.json for one (f, h, w, 3) uint8 video; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"mp4": f"{name}.mp4", "gif": f"{name}.gif", "sheet": f"{name}.png"}
    write_video(out_dir / files["mp4"], frames, fps)
    write_video(out_dir / files["gif"], frames, fps)
    scale = max(1, 128 // max(frames.shape[1:3]))  # tiny toy frames are upscaled so the sheet can be seen
    write_contact_sheet(out_dir / files["sheet"], frames, columns=8, scale=scale)
    record = {**settings, "fps": fps, "num_frames_written": int(frames.shape[0]), "videos": files,
              "library_version": __version__}
    return write_text_atomic(out_dir / f"{name}.json", json.dumps(record, indent=2, default=str))
