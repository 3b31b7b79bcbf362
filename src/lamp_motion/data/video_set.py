"""Scanning a folder of few-shot training videos into memory, reporting bad data up front.

A training folder holds the videos of one motion: files with a suffix from
``VIDEO_SUFFIXES`` and/or subfolders of frame images. A ``.txt`` file with the same
stem as a video (``clip.txt`` beside ``clip.mp4`` or beside the frame folder
``clip/``) is that video's caption; ``prompt.txt`` holds the set's prompt (unless a
video is called ``prompt``). Other ``.txt`` files, ``.json`` metadata (e.g. the
``set.json`` of a toy motion set) and hidden files are ignored; any
other file is skipped with a reason.

Each frame is fitted to the training size as it is decoded, so a video costs its frame
count times the training size in memory, whatever its own size. A video of more than
``max_frames`` frames (default :data:`MAX_VIDEO_FRAMES`) or ``max_seconds`` is skipped
with the reason, found from its header before decoding where the header says.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lamp_motion.data.frames import RESIZE_MODES, clip_span, resize_frames
from lamp_motion.video_io import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    VideoReadError,
    VideoTooLongError,
    natural_key,
    read_video,
)

SIZE_MULTIPLE = 8  # the VAE downsamples by 8, so training sizes must be multiples of it
MAX_VIDEO_FRAMES = 3600  # frames of one training video (2 minutes at 30 fps): each is held at the training size

_LAYOUT_HINT = (
    f"a training folder holds the videos of one motion ({', '.join(VIDEO_SUFFIXES)}) "
    f"and/or subfolders of frame images ({', '.join(IMAGE_SUFFIXES)})"
)


class DataError(ValueError):
    """The training data cannot be used; the message lists every problem found."""


@dataclass
class VideoItem:
    """One usable training video, decoded and brought to the training size."""

    path: Path  # the video file or frame folder
    prompt: str  # its sidecar caption if it has one, else the set's prompt
    frames: np.ndarray = field(repr=False)  # (f, height, width, 3) uint8, fitted to the training size
    fps: float  # frame rate of the source


@dataclass
class VideoSet:
    """The usable videos of a training folder, with what was skipped or converted."""

    folder: Path
    prompt: str  # the motion prompt of the set
    num_frames: int  # frames per training clip
    stride: int  # take every stride-th frame of the video
    height: int
    width: int
    videos: list[VideoItem]
    problems: list[tuple[Path, str]] = field(default_factory=list)  # skipped entries and why
    notes: list[str] = field(default_factory=list)  # conversions, e.g. "a.gif: converted greyscale frames to RGB"

    @property
    def clip_span(self) -> int:
        """Source frames one clip spans: ``(num_frames - 1) * stride + 1``."""
        return clip_span(self.num_frames, self.stride)

    @property
    def lengths(self) -> list[int]:
        """Frame count of each usable video."""
        return [len(video.frames) for video in self.videos]

    def report(self) -> str:
        """A readable summary: videos kept, entries skipped with reasons, conversions."""
        lines = [f"{len(self.videos)} training videos in {self.folder} (prompt: {self.prompt!r})"]
        lines += [f"  {_display(v.path)}: {len(v.frames)} frames, prompt {v.prompt!r}" for v in self.videos]
        if self.problems:
            lines.append(f"skipped {len(self.problems)}:")
            lines += _problem_lines(self.problems)
        if self.notes:
            lines.append("notes:")
            lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def scan_videos(
    folder: str | Path,
    num_frames: int,
    stride: int,
    height: int,
    width: int,
    prompt: str | None = None,
    resize: str = "crop",
    max_frames: int | None = MAX_VIDEO_FRAMES,
    max_seconds: float | None = None,
) -> VideoSet:
    """Read every video of a training folder once, fitted to ``height x width``.

    Args:
        folder: the training folder (a trailing slash is fine).
        num_frames: frames per training clip.
        stride: frame stride of a clip; a video needs ``(num_frames - 1) * stride + 1`` frames.
        height, width: training size, positive multiples of 8.
        prompt: the motion prompt; default: the text of ``prompt.txt`` in the folder (as
            ``lamp prepare`` writes it), else the folder name with ``_`` read as spaces.
        resize: how frames are fitted: ``"crop"``, ``"stretch"`` or ``"pad"`` (see
            :func:`~lamp_motion.data.frames.resize_frames`).
        max_frames, max_seconds: longest video used (None: no limit); longer ones are
            skipped with the reason, without decoding them where their header says.

    Returns:
        The usable videos. If some entries were skipped, a ``UserWarning`` lists them.

    Raises:
        DataError: bad settings, a missing or empty folder, or no usable video (the
            message lists every problem).
    """
    _check_settings(num_frames, stride, height, width)
    if resize not in RESIZE_MODES:
        raise DataError(f"resize={resize!r}; use one of {', '.join(RESIZE_MODES)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"training folder {folder} does not exist or is not a folder; {_LAYOUT_HINT}")
    entries = sorted((e for e in folder.iterdir() if not e.name.startswith(".")), key=natural_key)
    if not entries:
        raise DataError(f"training folder {folder} is empty; {_LAYOUT_HINT}")
    given = " ".join(prompt.split()) if prompt else ""
    set_prompt = given or _prompt_from_file(folder, entries) or _prompt_from_folder(folder)

    candidates, problems = _sort_entries(folder, entries)
    needed = clip_span(num_frames, stride)
    videos: list[VideoItem] = []
    notes: list[str] = []
    for entry in candidates:
        entry_notes: list[str] = []
        try:
            frames, fps = read_video(entry, notes=entry_notes, max_frames=max_frames, max_seconds=max_seconds,
                                     fit=lambda frame: resize_frames(frame[None], height, width, resize)[0])
        except VideoTooLongError as error:
            problems.append((entry, f"{error.reason}, or cut it into clips with `lamp prepare`"))
            continue
        except VideoReadError as error:
            problems.append((entry, error.reason))
            continue
        if len(frames) < needed:
            problems.append(
                (entry, f"has {len(frames)} frames but a clip of {num_frames} frames at stride {stride} needs {needed}")
            )
            continue
        notes += [f"{_display(entry)}: {note}" for note in entry_notes]
        caption = _read_caption(entry, notes)
        videos.append(VideoItem(entry, caption or set_prompt, frames, fps))

    problems.sort(key=lambda problem: (problem[0] != folder, natural_key(problem[0])))
    if not videos:
        found = "no usable training videos" if candidates else "no videos or frame folders"
        details = _problem_lines(problems) or ["  (it holds only .txt and .json files)"]
        raise DataError("\n".join([f"{found} in {folder}:", *details, _LAYOUT_HINT]))
    video_set = VideoSet(folder, set_prompt, num_frames, stride, height, width, videos, problems, notes)
    if problems:
        lines = [f"training on {len(videos)} videos of {folder}; skipped {len(problems)}:", *_problem_lines(problems)]
        warnings.warn("\n".join(lines), UserWarning, stacklevel=2)
    return video_set


def _check_settings(num_frames: int, stride: int, height: int, width: int) -> None:
    errors = [
        f"{name} must be at least 1, got {value}"
        for name, value in (("num_frames", num_frames), ("stride", stride))
        if value < 1
    ]
    for name, value in (("height", height), ("width", width)):
        if value <= 0 or value % SIZE_MULTIPLE:
            nearest = max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)
            errors.append(f"{name} must be a positive multiple of {SIZE_MULTIPLE}, got {value}; use e.g. {nearest}")
    if errors:
        raise DataError("; ".join(errors))


SET_PROMPT_FILE = "prompt.txt"  # the set's prompt, as `lamp prepare` writes it


def _prompt_from_file(folder: Path, entries: list[Path]) -> str | None:
    """The text of the folder's ``prompt.txt``, unless a video named ``prompt`` makes it that video's caption."""
    file = folder / SET_PROMPT_FILE
    if not file.is_file() or any(entry.stem == file.stem and entry != file for entry in entries):
        return None
    return " ".join(file.read_text(encoding="utf-8", errors="replace").split()) or None


def _prompt_from_folder(folder: Path) -> str:
    prompt = " ".join(folder.resolve().name.replace("_", " ").split())
    if not prompt:
        raise DataError(f"cannot take a prompt from the name of folder {folder}; set the prompt in the training config")
    return prompt


NOTE_SUFFIXES = (".txt", ".json")  # captions and metadata: neither videos nor problems


def _sort_entries(folder: Path, entries: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Split folder entries into video candidates and skipped entries (captions are neither)."""
    candidates: list[Path] = []
    problems: list[tuple[Path, str]] = []
    stray_images: list[str] = []
    for entry in entries:
        suffix = entry.suffix.lower()
        if entry.is_dir() or suffix in VIDEO_SUFFIXES:
            candidates.append(entry)
        elif suffix in IMAGE_SUFFIXES:
            stray_images.append(entry.name)
        elif suffix not in NOTE_SUFFIXES:
            problems.append((entry, f"not a video (use {', '.join(VIDEO_SUFFIXES)} or a folder of frame images)"))
    if stray_images:
        shown = ", ".join(stray_images[:3]) + (", ..." if len(stray_images) > 3 else "")
        problems.append(
            (
                folder,
                f"{len(stray_images)} images ({shown}) lie directly in the training folder; "
                "put each video's frames in a subfolder of their own",
            )
        )
    return candidates, problems


def _read_caption(entry: Path, notes: list[str]) -> str | None:
    """The caption in ``<stem>.txt`` beside a video, or None (an empty caption file is noted)."""
    stem = entry.name if entry.is_dir() else entry.stem
    sidecar = entry.parent / f"{stem}.txt"
    if not sidecar.is_file():
        return None
    caption = " ".join(sidecar.read_text(encoding="utf-8", errors="replace").split())
    if not caption:
        notes.append(f"{sidecar.name}: caption file is empty; using the set prompt")
    return caption or None


def _display(path: Path) -> str:
    return f"{path.name}/" if path.is_dir() else path.name


def _problem_lines(problems: list[tuple[Path, str]]) -> list[str]:
    return [f"  {_display(path)}: {reason}" for path, reason in problems]
