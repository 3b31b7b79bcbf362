"""Motion sets: a few short videos that share one motion, with varied content.

:func:`make_set` writes ``num_videos`` mp4 files ``video_000.mp4``, ... and a
``set.json`` describing them into a folder. The content (shape, colour, background,
texture, size, start position, angle) varies from video to video and the shapes,
colours and backgrounds are dealt in turn from shuffled lists, so every value appears
about equally often and only the motion is common to all videos. ``shapes`` and
``colours`` restrict the content, so a benchmark can hold some out of training.
Everything is determined by the seed.

Users tune a motion on a few clips that share one look, so a set can also look like
theirs (:func:`resolve_options`): ``num_colours`` of the colours, backgrounds of one
family (``pale`` or ``dark``, see :data:`~lamp_motion.data.toy.scene.BACKGROUND_FAMILIES`)
or a list of them, plain or striped backgrounds only, a size range, a speed scale,
and translations at any angle (motion ``move_deg_<DEG>``). Left at their defaults,
these options give exactly the sets made before they existed.

``set.json``::

    {"motion": "move_right", "prompt": "moves right", "num_frames": 24,
     "height": 32, "width": 32, "fps": 8.0, "seed": 0,
     "options": {SetOptions fields: the shapes, colours and backgrounds dealt, ...},
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

from ...video_io import write_video
from .motions import TEXTURES, Params, SizeRange, Variation, get_motion, render_clip
from .scene import ALL_BACKGROUNDS, BACKGROUND_FAMILIES, BACKGROUNDS, COLOURS, SHAPES, Scene, caption, draw

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


@dataclass(frozen=True)
class SetOptions:
    """What a set's clips may show, resolved to explicit values (``set.json`` records it as ``"options"``)."""

    shapes: list[str]  # the shapes dealt in turn
    colours: list[str]  # the colours dealt in turn (after picking num_colours of them)
    num_colours: int | None  # how many colours were asked for; None = all given
    backgrounds: list[str]  # the backgrounds dealt in turn
    texture: str  # one of TEXTURES: "mixed" (TEXTURED_SHARE striped), "none", "striped" or "strong" (amplitude 0.9-1)
    size_range: list[float]  # [least, largest] start size, fractions of the shorter side
    speed_scale: float  # multiplies the motion's speed (see lamp_motion.data.toy.motions.Variation)

    @property
    def variation(self) -> Variation:
        """The sizes and speed, as the motions take them."""
        low, high = self.size_range
        return Variation((low, high), self.speed_scale)


def resolve_options(
    motion: str,
    seed: int = 0,
    shapes: Sequence[str] | None = None,
    colours: Sequence[str] | None = None,
    num_colours: int | None = None,
    backgrounds: str | Sequence[str] | None = None,
    texture: str = "mixed",
    size_range: SizeRange | None = None,
    speed_scale: float = 1.0,
) -> SetOptions:
    """The content and variation a set of ``motion`` deals, checked; ValueError names a bad option and the valid ones.

    ``shapes`` / ``colours``: subsets (default: all the motion can show / all).
    ``num_colours``: keep the first N of a shuffle (seeded by ``seed``) of those colours.
    ``backgrounds``: family names (``pale``, ``dark``) and/or background names, or
    one family name (default: the base model's four, ``sorted(BACKGROUNDS)``).
    ``texture``: ``mixed``, ``none``, ``striped`` or ``strong`` (every background striped at
    amplitude 0.9-1: the style of the toy fine-tune in benchmarks/bench_motion_delta.py). ``size_range``: start sizes
    (default: the motion's own). ``speed_scale``: multiplies the motion's speed.
    """
    moving = get_motion(motion)
    visible = [shape for shape in SHAPES if shape in moving.shapes]
    shape_list = _validated(f"the shapes of {moving.name!r}", shapes, visible)
    colour_list = _validated("the colours", colours, sorted(COLOURS))
    if num_colours is not None:
        if not 1 <= num_colours <= len(colour_list):
            raise ValueError(f"num_colours must be 1 to {len(colour_list)} (the colours to choose from: "
                             f"{', '.join(colour_list)}), got {num_colours}")
        order = np.random.default_rng([seed, 1]).permutation(len(colour_list))  # a stream apart from the clips'
        colour_list = [colour_list[i] for i in order[:num_colours]]
    if texture not in TEXTURES:
        raise ValueError(f"texture must be one of {', '.join(TEXTURES)}, got {texture!r}")
    low, high = moving.size_range(Variation(size_range, speed_scale))
    return SetOptions(shape_list, colour_list, num_colours, background_names(backgrounds), texture, [low, high],
                      float(speed_scale))


def background_names(chosen: str | Sequence[str] | None) -> list[str]:
    """Background names from family and/or background names (default: ``sorted(BACKGROUNDS)``), each once."""
    if chosen is None:
        return sorted(BACKGROUNDS)
    names: list[str] = []
    for item in [chosen] if isinstance(chosen, str) else chosen:
        if item not in BACKGROUND_FAMILIES and item not in ALL_BACKGROUNDS:
            raise ValueError(f"backgrounds must be a family ({', '.join(BACKGROUND_FAMILIES)}) or names from "
                             f"{', '.join(ALL_BACKGROUNDS)}; got {item!r}")
        names += [name for name in BACKGROUND_FAMILIES.get(item, (item,)) if name not in names]
    if not names:
        raise ValueError("backgrounds must name at least one family or background, got none")
    return names


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
    options: SetOptions | None = None,
) -> list[Clip]:
    """``num_videos`` clips of ``motion`` with varied content, determined by ``seed``.

    ``shapes`` / ``colours`` restrict the content (default: all the motion can show);
    ``options`` (from :func:`resolve_options`) sets everything instead of them.
    """
    moving = get_motion(motion)
    if num_videos < 1:
        raise ValueError(f"num_videos must be at least 1, got {num_videos}")
    if options is None:
        options = resolve_options(motion, seed, shapes, colours)
    elif shapes is not None or colours is not None:
        raise ValueError("give shapes and colours through options (resolve_options) when giving options")
    rng = np.random.default_rng(seed)
    dealt = zip(_dealt(rng, options.shapes), _dealt(rng, options.colours), _dealt(rng, options.backgrounds))
    clips = []
    for _, (shape, colour, background) in zip(range(num_videos), dealt):
        start, params = moving.sample(rng, shape, colour, background, options.texture, options.variation)
        clips.append(Clip(moving.name, start, params))
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
    num_colours: int | None = None,
    backgrounds: str | Sequence[str] | None = None,
    texture: str = "mixed",
    size_range: SizeRange | None = None,
    speed_scale: float = 1.0,
) -> list[Path]:
    """Write a motion set (mp4 videos and ``set.json``) into ``out_dir``; returns the video paths.

    ``out_dir`` must be new or empty, so that a set never mixes with old videos. The
    content options are those of :func:`resolve_options`.
    """
    if num_frames < 2 or min(height, width) < 8:
        raise ValueError(
            f"a set needs at least 2 frames of at least 8x8 pixels, got {num_frames} frames of {height}x{width}"
        )
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty folder; choose a new folder for the set")
    options = resolve_options(motion, seed, shapes, colours, num_colours, backgrounds, texture, size_range, speed_scale)
    clips = sample_clips(motion, num_videos, seed, options=options)
    out.mkdir(parents=True, exist_ok=True)
    paths, entries = [], []
    for index, clip in enumerate(clips):
        path = out / f"video_{index:03d}.mp4"
        write_video(path, clip.render(num_frames, height, width), FPS)
        paths.append(path)
        entries.append({"file": path.name, "caption": clip.caption, "start": asdict(clip.start), "params": clip.params})
    description = {
        "motion": clips[0].motion,
        "prompt": get_motion(motion).prompt,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "fps": FPS,
        "seed": seed,
        "options": asdict(options),
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
    texture: str = "mixed",
    size_range: SizeRange | None = None,
    speed_scale: float = 1.0,
) -> tuple[np.ndarray, Clip]:
    """A start image ``(h, w, 3)`` uint8 that suits ``motion``, and the clip it begins.

    The object sits where the motion keeps it in frame (e.g. on the left for
    "move_right"); content not given is drawn from ``seed`` (a background from the
    base model's four). ``background`` may be any of ``ALL_BACKGROUNDS``, ``motion``
    a ``move_deg_<DEG>``; ``texture``, ``size_range`` and ``speed_scale`` are as for
    :func:`resolve_options`. Rendering the returned clip gives the ground-truth video
    to compare a generated one with.
    """
    moving = get_motion(motion)
    variation = Variation(size_range, speed_scale)
    start, params = moving.sample(np.random.default_rng(seed), shape, colour, background, texture, variation)
    return draw(start, height, width), Clip(moving.name, start, params)
