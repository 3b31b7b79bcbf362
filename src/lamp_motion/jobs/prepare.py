"""`lamp prepare`: raw phone and web videos in, a clean few-shot training set out.

From a folder of raw videos (any mix of ``.mp4 .mov .mkv .webm .gif`` and frame
folders, portrait phone clips, variable frame rates, audio tracks, 10-bit, long
clips) :func:`prepare_videos` writes::

    OUT_DIR/clips/<source>-00.mp4 ...   constant-rate clips of exactly the training window, upright, at the
                                        training size (what `lamp train data=OUT_DIR/clips` reads)
    OUT_DIR/clips/prompt.txt            the set's prompt; <clip>.txt overrides it for one clip
    OUT_DIR/sheets/<clip>.png           a contact sheet per clip: the frames the model will see
    OUT_DIR/prepare.json, prepare.md    one row per source: used or skipped and why, rotation, fps in and
                                        out, clips made, notes

Each source is decoded frame by frame (a long clip is never held in memory), turned
upright, resampled by timestamp to ``fps`` (:func:`~lamp_motion.video_io.resample_timed`),
fitted to ``height x width`` (``crop``, ``stretch`` or ``pad``), optionally split at
shot cuts (a colour-histogram detector), and cut into consecutive clips of
``(frames - 1) * stride + 1`` frames, at most ``max_clips_per_video`` per source.
A source's caption comes from ``<stem>.txt`` beside it in the raw folder.

Reruns skip done work: a source whose file and settings are unchanged since the
last run, and whose clips are all still there, is reused; clips of sources that
changed or disappeared are replaced or removed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.frames import RESIZE_MODES, clip_span, resize_frames
from ..data.video_set import SET_PROMPT_FILE, SIZE_MULTIPLE
from ..files import check_output_folder, write_text_atomic
from ..video_io import (
    IMAGE_SUFFIXES,
    MAX_HOLD_SECONDS,
    VIDEO_SUFFIXES,
    SourceInfo,
    VideoReadError,
    is_constant_rate,
    iter_timed_frames,
    natural_key,
    read_video,
    resample_timed,
    write_contact_sheet,
    write_video,
)

REPORT_VERSION = 1  # of prepare.json; another version is never reused
HISTOGRAM_BINS = 16  # per colour channel, for the shot-cut detector
SHEET_PIXELS = 128  # contact sheets upscale tiny frames to about this size


@dataclass
class PrepareSettings:
    """What `lamp prepare` makes of a raw folder. Every field has a default that suits the paper's setting."""

    raw_dir: Path  # folder of raw videos (files and/or frame folders); <stem>.txt beside one is its caption
    out_dir: Path  # where clips/, sheets/, prepare.json and prepare.md go
    fps: float = 8.0  # constant frame rate of the clips (sources are resampled by timestamp)
    frames: int = 16  # the motion's window: frames per training clip (lamp train num_frames)
    stride: int = 1  # clip frame stride the trainer will use (lamp train stride); a clip spans (frames-1)*stride+1
    max_clips_per_video: int = 4  # clips cut from one source at most, from its start (0 = no limit)
    height: int = 320  # clip height, a multiple of 8 (lamp train height)
    width: int = 512  # clip width, a multiple of 8 (lamp train width)
    resize: str = "crop"  # "crop" (cover, centre-crop), "stretch" (the authors' release) or "pad" (black borders)
    split_shots: bool = False  # start a new clip at every shot cut, so no clip spans two shots
    shot_threshold: float = 0.4  # colour-histogram change (0..1) between frames that counts as a cut
    prompt: str | None = None  # the set's prompt; None = raw folder's prompt.txt, else its name with _ as spaces

    def __post_init__(self) -> None:
        self.raw_dir, self.out_dir = Path(self.raw_dir), Path(self.out_dir)
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps={self.fps} must be a frame rate above 0, e.g. 8")
        if self.frames < 2:
            raise ValueError(f"frames={self.frames}: a clip needs at least 2 frames (frame 1 is the condition)")
        if self.stride < 1 or self.max_clips_per_video < 0:
            raise ValueError(f"stride={self.stride} must be at least 1 and max_clips_per_video="
                             f"{self.max_clips_per_video} at least 0 (0 = no limit)")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value <= 0 or value % SIZE_MULTIPLE:
                raise ValueError(f"{name}={value} must be a positive multiple of {SIZE_MULTIPLE} "
                                 f"(e.g. {max(SIZE_MULTIPLE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)})")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize={self.resize!r}; use one of {', '.join(RESIZE_MODES)}")
        if not 0 < self.shot_threshold <= 1:
            raise ValueError(f"shot_threshold={self.shot_threshold} must be in (0, 1]; 0.4 finds hard cuts")

    @property
    def span(self) -> int:
        """Frames in one clip."""
        return clip_span(self.frames, self.stride)

    def key(self) -> dict:
        """The settings that shape the clips: a source is redone when any of them changes."""
        return {name: value for name, value in asdict(self).items() if name not in ("raw_dir", "out_dir", "prompt")}


@dataclass
class SourceRow:
    """One raw source in the report: what was made of it and why."""

    source: str  # name inside the raw folder
    status: str  # "used" (clips made or reused) or "skipped"
    reason: str = ""  # why it was skipped
    rotation: int = 0  # degrees it was turned counter-clockwise to stand upright
    fps_in: float | None = None  # the source's frame rate (nominal; see notes for variable rates)
    fps_out: float = 0.0  # frame rate of its clips
    size_in: str = ""  # upright source size, "w x h"
    clips: list[str] = field(default_factory=list)  # clip file names in clips/
    caption: str | None = None  # its caption when it overrides the set's prompt
    notes: list[str] = field(default_factory=list)  # conversions, resampling, cuts, reuse
    fingerprint: str = ""  # size and modification time of the source, to find unchanged sources on a rerun


@dataclass
class PrepareResult:
    """What :func:`prepare_videos` wrote."""

    clips_dir: Path  # the training folder
    prompt: str  # the set's prompt (in clips_dir/prompt.txt)
    rows: list[SourceRow]  # one per raw source, in name order
    removed: list[str]  # clips of vanished or changed sources that were deleted
    report_md: Path
    report_json: Path

    @property
    def clip_count(self) -> int:
        return sum(len(row.clips) for row in self.rows)


def prepare_videos(settings: PrepareSettings) -> PrepareResult:
    """Turn ``settings.raw_dir`` into a training set under ``settings.out_dir`` (see the module docstring).

    Raises:
        ValueError: the raw folder is missing or holds no source; no source gave a clip (every reason listed).
        lamp_motion.files.OutputWriteError: the output folder is unusable or the disk filled up.
    """
    raw, out = settings.raw_dir, settings.out_dir
    if not raw.is_dir():
        raise ValueError(f"raw folder {raw} does not exist or is not a folder; give the folder of your videos")
    check_output_folder(out, "OUT_DIR")
    if out.resolve() == raw.resolve() or raw.resolve() in out.resolve().parents:
        raise ValueError(f"OUT_DIR {out} lies inside the raw folder {raw}; choose a folder outside it")
    clips_dir, sheets_dir = out / "clips", out / "sheets"
    previous = _previous_rows(out / "prepare.json", settings)
    entries = [e for e in sorted(raw.iterdir(), key=natural_key) if not e.name.startswith(".")]
    sources = [e for e in entries if e.is_dir() or e.suffix.lower() in VIDEO_SUFFIXES]
    if not sources:
        raise ValueError(f"raw folder {raw} holds no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders")
    prompt = _set_prompt(settings, raw)

    rows, removed = [], []
    for source in sources:
        old = previous.pop(source.name, None)
        fingerprint = _fingerprint(source)
        caption = _caption(source, prompt)
        if old and old.fingerprint == fingerprint and all((clips_dir / c).is_file() for c in old.clips):
            old.caption, old.notes = caption, [*old.notes, "unchanged since the last run: clips reused"]
            rows.append(old)
        else:
            removed += _remove_clips(old.clips if old else [], clips_dir, sheets_dir)
            row = _prepare_source(source, settings, clips_dir, sheets_dir)
            row.fingerprint, row.caption = fingerprint, caption
            rows.append(row)
        _write_captions(rows[-1], clips_dir)
    for gone in previous.values():  # sources no longer in the raw folder
        removed += _remove_clips(gone.clips, clips_dir, sheets_dir)
    rows += [SourceRow(e.name, "skipped", f"not a video (use {', '.join(VIDEO_SUFFIXES)} or a folder of frame images)")
             for e in entries if e not in sources and e.suffix.lower() not in (".txt", ".json", *IMAGE_SUFFIXES)]
    rows += [SourceRow(e.name, "skipped", "a lone image: put a video's frames in a subfolder of their own")
             for e in entries if e.suffix.lower() in IMAGE_SUFFIXES and e.is_file()]

    rows.sort(key=lambda row: natural_key(Path(row.source)))
    write_text_atomic(clips_dir / SET_PROMPT_FILE, prompt + "\n")
    result = PrepareResult(clips_dir, prompt, rows, removed, out / "prepare.md", out / "prepare.json")
    write_text_atomic(result.report_json, json.dumps(
        {"version": REPORT_VERSION, "settings": settings.key(), "prompt": prompt,
         "sources": [asdict(row) for row in rows], "removed": removed}, indent=2) + "\n")
    write_text_atomic(result.report_md, report_markdown(result, settings))
    if result.clip_count == 0:
        reasons = "; ".join(f"{row.source}: {row.reason}" for row in rows)
        raise ValueError(f"no clip could be made from {raw} ({reasons}); see {result.report_md}")
    return result


def _prepare_source(source: Path, settings: PrepareSettings, clips_dir: Path, sheets_dir: Path) -> SourceRow:
    """Decode one source and write its clips and contact sheets."""
    row = SourceRow(source.name, "used", fps_out=settings.fps)
    kinds: set[str] = set()
    info = SourceInfo(nominal_fps=0.0, base_fps=None)
    times: list[float] = []
    try:
        timed = _timed_frames(source, info, kinds, row)
        clips = _cut_clips(_record_times(timed, times, row), settings, row)
        for index, clip in enumerate(clips):
            name = f"{_safe_name(source.name)}-{index:02d}.mp4"
            write_video(clips_dir / name, clip, settings.fps)
            scale = max(1, SHEET_PIXELS // max(clip.shape[1:3]))
            write_contact_sheet(sheets_dir / f"{Path(name).stem}.png", clip, columns=8, scale=scale)
            row.clips.append(name)
    except VideoReadError as error:  # a file that breaks off midway: its clips so far are not kept
        _remove_clips(row.clips, clips_dir, sheets_dir)
        return SourceRow(source.name, "skipped", error.reason)
    row.rotation = info.rotation
    row.fps_in = round(info.nominal_fps, 3) if info.nominal_fps else None
    row.notes[:0] = sorted(f"converted {kind} frames to RGB" for kind in kinds)
    if info.has_audio:
        row.notes.append("audio track ignored")
    if re.search(r"p1[0246]", info.pixel_format):
        row.notes.append(f"{info.pixel_format} (more than 8 bits per channel) converted to 8-bit RGB")
    if len(times) > 2 and not is_constant_rate(times):
        intervals = np.diff(times)
        row.notes.append(f"variable frame rate (frame intervals {intervals.min() * 1000:.0f} to "
                         f"{intervals.max() * 1000:.0f} ms): frames placed by timestamp")
    if info.rotation:
        row.notes.append(f"turned {_turn(info.rotation)} to stand upright (the file's display rotation)")
    if not row.clips:
        row.status = "skipped"
        row.reason = (f"too short: {row.reason or 'no stretch'} of {settings.span} frames at {settings.fps:g} fps "
                      f"({settings.span / settings.fps:.1f} s) without a cut; lower --frames or --stride, or use a "
                      f"longer video")
    return row


def _timed_frames(source: Path, info: SourceInfo, kinds: set[str], row: SourceRow) -> Iterator[tuple[float, np.ndarray]]:
    """The source's upright frames with their times; GIFs and frame folders through :func:`read_video`."""
    if source.is_file() and source.suffix.lower() != ".gif":
        return iter_timed_frames(source, info, kinds)
    notes: list[str] = []
    frames, fps = read_video(source, notes)
    row.notes += notes
    info.nominal_fps = fps
    return ((index / fps, frame) for index, frame in enumerate(frames))


def _record_times(timed: Iterator[tuple[float, np.ndarray]], times: list[float],
                  row: SourceRow) -> Iterator[tuple[float, np.ndarray]]:
    """Pass ``timed`` through, keeping each time (to tell a variable rate) and the upright size."""
    for time, frame in timed:
        times.append(time)
        row.size_in = row.size_in or f"{frame.shape[1]}x{frame.shape[0]}"
        yield time, frame


def _cut_clips(timed: Iterator[tuple[float, np.ndarray]], settings: PrepareSettings, row: SourceRow) -> Iterator[np.ndarray]:
    """Consecutive clips of ``settings.span`` resampled, resized frames; a shot cut starts a new clip."""
    buffer: list[np.ndarray] = []
    previous: np.ndarray | None = None
    made = cuts = longest = 0
    shortened: list[float] = []  # pauses longer than MAX_HOLD_SECONDS: repeating a still frame teaches no motion
    for frame in resample_timed(timed, settings.fps, MAX_HOLD_SECONDS, shortened):
        frame = resize_frames(frame[None], settings.height, settings.width, settings.resize)[0]
        if settings.split_shots:
            histogram = _histogram(frame)
            if previous is not None and _histogram_change(previous, histogram) > settings.shot_threshold:
                cuts, buffer = cuts + 1, []
            previous = histogram
        buffer.append(frame)
        longest = max(longest, len(buffer))
        if len(buffer) == settings.span:
            yield np.stack(buffer)
            buffer, made = [], made + 1
            if made == settings.max_clips_per_video:
                row.notes.append(f"stopped after {made} clips (--max-clips-per-video); the rest was not read")
                break
    if shortened:
        row.notes.append(f"{len(shortened)} pause(s) of up to {max(shortened):.1f} s shortened to {MAX_HOLD_SECONDS:g} s")
    if cuts:
        row.notes.append(f"{cuts} shot cut(s) found; no clip spans one")
    if made == 0:
        row.reason = f"its longest stretch is {longest} frames"


def _histogram(frame: np.ndarray) -> np.ndarray:
    """Per-channel colour histograms ``(3, HISTOGRAM_BINS)``, each summing to 1."""
    bins = frame.astype(np.int64) * HISTOGRAM_BINS // 256  # (h, w, 3) bin of each value
    counts = [np.bincount(bins[..., c].ravel(), minlength=HISTOGRAM_BINS) for c in range(3)]
    return np.stack(counts) / frame[..., 0].size


def _histogram_change(before: np.ndarray, after: np.ndarray) -> float:
    """How much of the colour distribution moved between two frames: 0 (same) to 1 (disjoint)."""
    return float(0.5 * np.abs(after - before).sum(-1).mean())


def _set_prompt(settings: PrepareSettings, raw: Path) -> str:
    if settings.prompt and settings.prompt.strip():
        return " ".join(settings.prompt.split())
    file = raw / SET_PROMPT_FILE
    text = " ".join(file.read_text(encoding="utf-8", errors="replace").split()) if file.is_file() else ""
    return text or " ".join(raw.resolve().name.replace("_", " ").split()) or "a video"


def _caption(source: Path, prompt: str) -> str | None:
    """The source's own caption (``<stem>.txt`` beside it) when it differs from the set's prompt."""
    sidecar = source.parent / f"{source.name if source.is_dir() else source.stem}.txt"
    text = " ".join(sidecar.read_text(encoding="utf-8", errors="replace").split()) if sidecar.is_file() else ""
    return text if text and text != prompt else None


def _write_captions(row: SourceRow, clips_dir: Path) -> None:
    """``<clip>.txt`` for each clip of a source with its own caption; none (and stale ones removed) otherwise."""
    for clip in row.clips:
        sidecar = clips_dir / f"{Path(clip).stem}.txt"
        if row.caption:
            write_text_atomic(sidecar, row.caption + "\n")
        else:
            sidecar.unlink(missing_ok=True)


def _remove_clips(clips: list[str], clips_dir: Path, sheets_dir: Path) -> list[str]:
    for clip in clips:
        for path in (clips_dir / clip, clips_dir / f"{Path(clip).stem}.txt", sheets_dir / f"{Path(clip).stem}.png"):
            path.unlink(missing_ok=True)
    return list(clips)


def _fingerprint(source: Path) -> str:
    """Size and modification time of a file, or of every file in a frame folder."""
    files = sorted(source.iterdir()) if source.is_dir() else [source]
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]


def _previous_rows(report: Path, settings: PrepareSettings) -> dict[str, SourceRow]:
    """The used rows of the last run's prepare.json, by source name, if its settings were the same."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        if data.get("version") != REPORT_VERSION or data.get("settings") != settings.key():
            return {}
        rows = [SourceRow(**row) for row in data["sources"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # no report, or one from another version: everything is redone
    return {row.source: row for row in rows if row.status == "used"}


def _safe_name(name: str) -> str:
    """A source's file name as a clip-name prefix: "IMG 0042.MOV" -> "img-0042-mov"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "video"


def report_markdown(result: PrepareResult, settings: PrepareSettings) -> str:
    """prepare.md: what was made, one row per source, and how to train on it."""
    used = [row for row in result.rows if row.status == "used"]
    lines = [
        f"# Training set from {settings.raw_dir}", "",
        f"{result.clip_count} clips of {settings.span} frames at {settings.fps:g} fps, {settings.width}x"
        f"{settings.height} ({settings.resize}), from {len(used)} of {len(result.rows)} sources. "
        f"Prompt: \"{result.prompt}\" (in clips/{SET_PROMPT_FILE}; a clips/<clip>.txt overrides it).", "",
        "Train on it with:", "",
        f"    lamp train CONFIG.yaml data={result.clips_dir} num_frames={settings.frames} stride={settings.stride} "
        f"height={settings.height} width={settings.width}", "",
        "| source | status | rotation | size in | fps in | fps out | clips | notes |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for row in result.rows:
        notes = "; ".join(([row.reason] if row.reason else []) + row.notes + ([f"caption: {row.caption}"] if row.caption else []))
        fps_in = f"{row.fps_in:g}" if row.fps_in else ""
        fps_out = f"{row.fps_out:g}" if row.status == "used" else ""
        lines.append(f"| {row.source} | {row.status} | {_turn(row.rotation)} | {row.size_in} | {fps_in} | {fps_out} | "
                     f"{len(row.clips)} | {notes.replace('|', '/')} |")
    if result.removed:
        lines += ["", f"Removed {len(result.removed)} clip(s) of changed or vanished sources: {', '.join(result.removed)}"]
    lines += ["", "Contact sheets of every clip (the frames the model sees) are in sheets/."]
    return "\n".join(lines) + "\n"


def _turn(rotation: int) -> str:
    """A counter-clockwise rotation as people say it: 90 -> "90 ccw", 270 -> "90 cw", 0 -> ""."""
    return {0: "", 90: "90 ccw", 180: "180", 270: "90 cw"}[rotation % 360]
