"""Motion sets: a few short videos that share one motion, with varied content.

:func:`make_set` writes ``num_videos`` mp4 files ``video_000.mp4``, ... and a
``set.json`` describing them into a folder. The content (shape, colour, background,
texture, size, start position, angle) varies from video to video and the shapes,
colours and backgrounds are dealt in turn from shuffled lists, so every value appears
about equally often and only the motion is common to all videos. ``shapes`` and
``colours`` restrict the content, so a benchmark can hold some out of training.
Everything is determined by the seed.

``set.json``::

    {"motion": "move_right", "prompt": "moves right", "num_frames": 24,
     "height": 32, "width": 32, "fps": 8.0, "seed": 0,
     "videos": [{"file": "video_000.mp4", "caption": "a red circle moves right",
                 "start": {Scene fields}, "params": {motion parameters}}, ...]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..video_io import write_video
from .motions import Params, get_motion, render_clip
from .scene import BACKGROUNDS, COLOURS, SHAPES, Scene, caption, draw

SET_FILE = "set.json"
FPS = 8.0  # frame rate of the written videos (the LAMP release writes 8 fps)


@dataclass(frozen=True)
class Clip:
    """One video of a motion: the motion's name, its start scene and its parameters."""

    motion: str
    start: Scene
    params: Params = field(default_factory=dict)

    @property
    def caption(self) -> str:
        """The video's full prompt, e.g. "a red circle moves right"."""
        return f"{caption(self.start)} {get_motion(self.motion).prompt}"

    def render(self, num_frames: int, height: int = 32, width: int | None = None) -> np.ndarray:
        """The clip's frames ``(f, h, w, 3)`` uint8."""
        return render_clip(self.motion, self.start, num_frames, height, width, self.params)


def _validated(kind: str, chosen: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    """``chosen`` (default: all of ``allowed``), raising unless it is a non-empty subset of ``allowed``."""
    values = list(allowed if chosen is None else chosen)
    if not values or any(value not in allowed for value in values):
        raise ValueError(f"{kind} must be one or more of {', '.join(allowed)}; got {values}")
    return values


def _dealt(rng: np.random.Generator, values: Sequence[str]) -> Iterator[str]:
    """Endless turns through ``values``, reshuffled each round."""
    while True:
        yield from (values[i] for i in rng.permutation(len(values)))


def sample_clips(
    motion: str,
    num_videos: int,
    seed: int = 0,
    shapes: Sequence[str] | None = None,
    colours: Sequence[str] | None = None,
) -> list[Clip]:
    """``num_videos`` clips of ``motion`` with varied content, determined by ``seed``.

    ``shapes`` / ``colours`` restrict the content (default: all the motion can show).
    """
    moving = get_motion(motion)
    if num_videos < 1:
        raise ValueError(f"num_videos must be at least 1, got {num_videos}")
    visible = [shape for shape in SHAPES if shape in moving.shapes]
    shape_list = _validated(f"the shapes of {motion!r}", shapes, visible)
    colour_list = _validated("the colours", colours, sorted(COLOURS))
    rng = np.random.default_rng(seed)
    dealt = zip(_dealt(rng, shape_list), _dealt(rng, colour_list), _dealt(rng, sorted(BACKGROUNDS)))
    clips = []
    for _, (shape, colour, background) in zip(range(num_videos), dealt):
        start, params = moving.sample(rng, shape=shape, colour=colour, background=background)
        clips.append(Clip(motion, start, params))
    return clips


def make_set(
    motion: str,
    out_dir: str | os.PathLike[str],
    num_videos: int = 12,
    num_frames: int = 24,
    height: int = 32,
    width: int = 32,
    seed: int = 0,
    shapes: Sequence[str] | None = None,
    colours: Sequence[str] | None = None,
) -> list[Path]:
    """Write a motion set (mp4 videos and ``set.json``) into ``out_dir``; returns the video paths.

    ``out_dir`` must be new or empty, so that a set never mixes with old videos.
    """
    if num_frames < 2 or min(height, width) < 8:
        raise ValueError(
            f"a set needs at least 2 frames of at least 8x8 pixels, got {num_frames} frames of {height}x{width}"
        )
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty folder; choose a new folder for the set")
    clips = sample_clips(motion, num_videos, seed, shapes, colours)
    out.mkdir(parents=True, exist_ok=True)
    paths, entries = [], []
    for index, clip in enumerate(clips):
        path = out / f"video_{index:03d}.mp4"
        write_video(path, clip.render(num_frames, height, width), FPS)
        paths.append(path)
        entries.append({"file": path.name, "caption": clip.caption, "start": asdict(clip.start), "params": clip.params})
    description = {
        "motion": motion,
        "prompt": get_motion(motion).prompt,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "fps": FPS,
        "seed": seed,
        "videos": entries,
    }
    (out / SET_FILE).write_text(json.dumps(description, indent=2) + "\n")
    return paths


def read_set(set_dir: str | os.PathLike[str]) -> tuple[dict[str, object], list[tuple[Path, Clip]]]:
    """The ``set.json`` of a set folder and, for each video, its path and :class:`Clip`."""
    path = Path(set_dir) / SET_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; a motion set folder is made with `lamp toy make-set`")
    description = json.loads(path.read_text())
    videos = [
        (path.parent / entry["file"], Clip(description["motion"], Scene(**entry["start"]), entry["params"]))
        for entry in description["videos"]
    ]
    return description, videos


def first_frame(
    motion: str,
    seed: int = 0,
    shape: str | None = None,
    colour: str | None = None,
    background: str | None = None,
    height: int = 32,
    width: int | None = None,
) -> tuple[np.ndarray, Clip]:
    """A start image ``(h, w, 3)`` uint8 that suits ``motion``, and the clip it begins.

    The object sits where the motion keeps it in frame (e.g. on the left for
    "move_right"); content not given is drawn from ``seed``. Rendering the returned
    clip gives the ground-truth video to compare a generated one with.
    """
    start, params = get_motion(motion).sample(np.random.default_rng(seed), shape, colour, background)
    return draw(start, height, width), Clip(motion, start, params)
