"""Writing generated videos: mp4, gif, a PNG contact sheet and a JSON of every setting.

The JSON has what `lamp eval` and a rerun need: ``prompt``, ``motion``, ``seed``, all
generation settings, and ``videos`` with the file names (relative to the JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..files import write_text_atomic
from ..video_io import write_contact_sheet, write_video


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
