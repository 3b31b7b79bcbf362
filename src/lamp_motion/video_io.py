"""Reading and writing videos as numpy arrays.

Every video here is a ``uint8`` array of shape ``(f, h, w, 3)`` (frames, height,
width, RGB) plus a frame rate in frames per second.

Sources :func:`read_video` understands:

- ``.mp4``, ``.webm``, ``.mov``, ``.mkv``: decoded with PyAV (FFmpeg). Frames are
  turned upright by the file's display rotation (phone videos recorded in portrait).
  A variable-frame-rate file (uneven frame intervals) is resampled by timestamp to a
  constant rate (:func:`resample_timed`), so a motion keeps its speed within a clip.
- ``.gif``: decoded with Pillow. The frame rate comes from the frame delays (8 fps
  when the file has none). GIF stores delays in hundredths of a second, so a rate
  only round-trips to that precision (8 fps is stored as 120 ms: 8.33 fps). Frames
  shown longer than the shortest delay are repeated, so the returned frames are
  evenly spaced in time; Pillow's GIF writer merges identical consecutive frames
  into one longer frame and this undoes it. A GIF whose colours are all grey counts
  as greyscale.
- a folder of frame images (``.png``, ``.jpg``, ``.jpeg``, ``.webp``, ``.bmp``),
  ordered by natural sort of the file names (``frame2`` before ``frame10``), 8 fps.

Greyscale, palette and transparent frames become RGB; transparent pixels are
composited over black. Each kind of conversion, a rotation and a resampling are
reported once through the optional ``notes`` list. Anything unreadable raises
:class:`VideoReadError`; so does a path that is not a regular file (a FIFO named
``x.mp4`` would block the reader forever). :func:`iter_timed_frames` streams a file's
upright frames with their timestamps, for long videos that should not be held in memory.

Memory and time: :func:`read_video` holds only the frames it returns, each after the
caller's ``fit`` (so a 1080p file read for 256x256 training holds 256x256 frames and
one decoded frame); ``stop_after`` ends decoding once that many frames are read;
``max_seconds`` and ``max_frames`` are checked against the container's header before
any frame is decoded and, where the header does not say, while decoding, which stops
as soon as a limit is passed (:class:`VideoTooLongError`). A variable-rate file holds a
frame on screen for at most :data:`MAX_HOLD_SECONDS`: a longer pause is shortened to
that, with a note, so a file with bursts 20 minutes apart does not become 20 minutes of
repeated frames.

:func:`write_video` writes ``.mp4`` (H.264, yuv420p) or ``.gif``; both write to a
temporary file in the target folder and move it into place, so a crash never leaves a
half-written video under the final name.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from lamp_motion.files import atomic_path

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

DEFAULT_FPS = 8.0  # frame rate of frame folders and of GIFs without delays
VFR_TOLERANCE = 0.25  # frame intervals further than this fraction from their median make a video variable-rate
RATE_AGREEMENT = 0.05  # a declared frame rate further than this fraction from the timestamps' rate is not used
MAX_HOLD_SECONDS = 3.0  # longest a variable-rate file's frame is held when resampled; a longer pause is shortened
MP4_CRF = 12  # x264 constant rate factor: visually lossless, so 32x32 toy videos keep their detail

_CONVERSION_NOTES = {
    "greyscale": "converted greyscale frames to RGB",
    "palette": "converted palette frames to RGB",
    "alpha": "composited transparent frames over black",
}


class VideoReadError(ValueError):
    """A video file or frame folder could not be read; the message names it and says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")


class VideoTooLongError(VideoReadError):
    """A video over the duration or frame-count limit it was read with (found from its header where it says)."""


def check_regular_file(path: Path) -> None:
    """Raise VideoReadError unless ``path`` is a regular file (or a link to one): never open a FIFO, device or socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VideoReadError(path, "no such file or folder") from None
    except OSError as error:
        raise VideoReadError(path, f"it cannot be looked at ({error.strerror or error})") from error
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise VideoReadError(path, f"it is {kind}, which would block or never end; copy the video in as a plain file")


@dataclass(frozen=True)
class VideoLength:
    """What a video's header says about its length (None where it does not say)."""

    seconds: float | None
    frames: int | None


def probe_length(path: str | os.PathLike[str]) -> VideoLength:
    """The duration and frame count a video file's container header gives, without decoding a frame.

    Frame folders: their image count at :data:`DEFAULT_FPS`; GIFs and unreadable headers: unknown (None).
    Raises VideoReadError for a path that is missing or not a regular file or folder."""
    path = Path(path)
    if path.is_dir():
        count = len(_frame_files(path))
        return VideoLength(count / DEFAULT_FPS, count)
    check_regular_file(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES or path.suffix.lower() == ".gif":
        return VideoLength(None, None)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return VideoLength(None, None)
            return _header_length(container, container.streams.video[0])
    except (av.FFmpegError, OSError):
        return VideoLength(None, None)


def _header_length(container, stream) -> VideoLength:
    seconds = None
    if stream.duration is not None and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    return VideoLength(seconds, int(stream.frames) if stream.frames else None)


def _over_limits(length: VideoLength, max_seconds: float | None, max_frames: int | None, source: str) -> str | None:
    """The reason a video of ``length`` is over the limits (``source``: where the length came from), or None."""
    if max_seconds is not None and length.seconds is not None and length.seconds > max_seconds:
        return f"it lasts {length.seconds:.1f} s ({source}), over the limit of {max_seconds:g} s; cut it shorter"
    if max_frames is not None and length.frames is not None and length.frames > max_frames:
        return f"it has {length.frames} frames ({source}), over the limit of {max_frames}; cut it shorter"
    return None


Fit = Callable[[np.ndarray], np.ndarray]  # one upright (h, w, 3) uint8 frame -> the frame to keep


@dataclass(frozen=True)
class _Reading:
    """How much of a video to read, and at what size (see :func:`read_video`)."""

    fit: Fit | None = None
    stop_after: int | None = None
    max_seconds: float | None = None
    max_frames: int | None = None

    def keep(self, frame: np.ndarray) -> np.ndarray:
        return self.fit(frame) if self.fit is not None else frame

    def check_count(self, path: Path, count: int, fps: float) -> None:
        """VideoTooLongError once ``count`` frames at ``fps`` pass a limit (while reading)."""
        why = _over_limits(VideoLength(count / fps, count), self.max_seconds, self.max_frames, "found while reading")
        if why:
            raise VideoTooLongError(path, why)


def read_video(path: str | os.PathLike[str], notes: list[str] | None = None, *, fit: Fit | None = None,
               stop_after: int | None = None, max_seconds: float | None = None,
               max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Read a video file or a folder of frame images.

    Args:
        path: a file with one of ``VIDEO_SUFFIXES`` or a folder of frame images.
        notes: if given, a message is appended for each kind of colour conversion
            that was needed (greyscale, palette or transparent frames made RGB).
        fit: applied to each upright ``(h, w, 3)`` frame as it is decoded (e.g. resizing
            to the training size); only its results are held, so memory is the frames
            returned at the fitted size, whatever the file's size.
        stop_after: return at most this many frames, decoding no further (a clip at the
            start of a long video).
        max_seconds, max_frames: limits on the video's length (frames decoded, and
            frames returned): checked from the container's header before decoding and
            while decoding.

    Returns:
        ``(frames, fps)``: frames of shape ``(f, h, w, 3)``, ``uint8`` RGB, ``f >= 1``.

    Raises:
        VideoTooLongError: the video is over ``max_seconds`` or ``max_frames``.
        VideoReadError: the path is missing, not a regular file or folder, has an
            unsupported suffix, or cannot be decoded.
    """
    path = Path(path)
    kinds: set[str] = set()
    messages: list[str] = []  # notes on rotation and frame timing
    reading = _Reading(fit, stop_after, max_seconds, max_frames)
    if path.is_dir():
        frames, fps = _read_frame_folder(path, kinds, reading)
    elif path.suffix.lower() not in VIDEO_SUFFIXES:
        check_regular_file(path)
        raise VideoReadError(
            path,
            f"unsupported suffix {path.suffix!r}; use one of {', '.join(VIDEO_SUFFIXES)} or a folder of frame images",
        )
    elif path.suffix.lower() == ".gif":
        check_regular_file(path)
        frames, fps = _read_gif(path, kinds, reading)
    else:
        frames, fps = _read_with_pyav(path, kinds, messages, reading)
    if notes is not None:
        notes.extend(_CONVERSION_NOTES.get(kind, f"converted {kind} frames to RGB") for kind in sorted(kinds))
        notes.extend(messages)
    return frames, fps


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: float) -> None:
    """Write frames ``(f, h, w, 3)`` ``uint8`` to ``.mp4`` or ``.gif``, creating parent folders.

    ``.mp4``: H.264, yuv420p, CRF 12. yuv420p needs even sizes, so an odd height or
    width gets one extra row or column (a copy of the last one) at the bottom or right;
    reading the file back gives that padded size.

    ``.gif``: loops forever; each frame lasts ``round(1000 / fps)`` ms, which GIF
    stores in hundredths of a second. GIF holds at most 256 colours per frame, so
    frames with more colours are quantised.
    """
    path = Path(path)
    _check_frames(frames)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    suffix = path.suffix.lower()
    writers: dict[str, Callable[[Path, np.ndarray, float], None]] = {".mp4": _write_mp4, ".gif": _write_gif}
    if suffix not in writers:
        raise ValueError(f"cannot write {path}: unsupported suffix {path.suffix!r}; use .mp4 or .gif")
    with atomic_path(path) as temporary:
        writers[suffix](temporary, frames, fps)


def write_contact_sheet(path: str | os.PathLike[str], frames: np.ndarray, columns: int = 8, scale: int = 1) -> None:
    """Write the frames as one PNG grid, left to right then top to bottom.

    Args:
        path: the ``.png`` file to write (parent folders are created).
        frames: ``(f, h, w, 3)`` ``uint8``.
        columns: frames per row (fewer if there are fewer frames). Unused cells are black.
        scale: integer nearest-neighbour upscaling, so tiny frames stay visible.
    """
    _check_frames(frames)
    if columns < 1 or scale < 1:
        raise ValueError(f"columns and scale must be at least 1, got columns={columns}, scale={scale}")
    count, height, width, _ = frames.shape
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for index, frame in enumerate(frames):
        row, column = divmod(index, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = frame
    sheet = sheet.repeat(scale, axis=0).repeat(scale, axis=1)
    with atomic_path(Path(path)) as temporary:
        Image.fromarray(sheet).save(temporary, format="PNG")


def frames_from_contact_sheet(path: str | os.PathLike[str], num_frames: int, height: int, width: int,
                              columns: int = 8) -> np.ndarray:
    """The ``(num_frames, height, width, 3)`` uint8 frames of a contact sheet that `lamp generate` wrote.

    Exact (a PNG, unlike the mp4 and the GIF): the sheet holds the frames left to right
    then top to bottom in ``columns`` columns, upscaled by a whole factor (nearest
    neighbour), which is found from the sheet's size.
    """
    sheet = np.asarray(Image.open(path).convert("RGB"))
    used = min(columns, num_frames)
    rows = math.ceil(num_frames / used)
    scale = sheet.shape[1] // (used * width)
    if scale < 1 or sheet.shape[:2] != (rows * height * scale, used * width * scale):
        raise ValueError(f"{path} is {sheet.shape[1]}x{sheet.shape[0]} px, not a contact sheet of {num_frames} "
                         f"frames of {width}x{height} in {used} columns; give the frame count and size its JSON records")
    cells = sheet[::scale, ::scale].reshape(rows, height, used, width, 3).swapaxes(1, 2)
    return np.ascontiguousarray(cells.reshape(rows * used, height, width, 3)[:num_frames])


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be a uint8 numpy array, got {type(frames).__name__} {getattr(frames, 'dtype', '')}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must have shape (f, h, w, 3) with f >= 1, got {frames.shape}")


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    _, height, width, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(MP4_CRF)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


@dataclass
class SourceInfo:
    """What decoding a video file found out about it, filled in while its frames are read."""

    nominal_fps: float  # the container's average frame rate (frames / duration)
    base_fps: float | None  # the stream's base rate: the rate all its timestamps fit (None when unknown)
    rotation: int = 0  # degrees the frames were turned counter-clockwise to stand upright: 0, 90, 180 or 270
    pixel_format: str = ""  # the decoder's pixel format, e.g. "yuv420p10le"
    has_audio: bool = False  # the file also holds an audio track (never read)
    frames_read: int = 0  # decoded frames so far


def iter_timed_frames(path: str | os.PathLike[str], info: SourceInfo | None = None,
                      kinds: set[str] | None = None, max_seconds: float | None = None,
                      max_frames: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Decode a video file (PyAV) frame by frame: ``(seconds since the first frame, (h, w, 3) uint8 RGB)``.

    Frames are turned upright by the file's display rotation (the display matrix, or a
    ``rotate`` tag as some tools write into mkv/webm). ``info``, if given, is filled in
    as the frames are read (see :class:`SourceInfo`); ``kinds`` collects colour
    conversions (keys of the conversion notes). ``max_seconds`` and ``max_frames``
    (decoded frames) are checked from the header before the first frame is decoded, and
    on each frame. Raises :class:`VideoReadError` (:class:`VideoTooLongError` over a limit).
    """
    path = Path(path)
    kinds = set() if kinds is None else kinds
    check_regular_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(path, "the file has no video stream")
            stream = container.streams.video[0]
            why = _over_limits(_header_length(container, stream), max_seconds, max_frames, "from its header")
            if why:
                raise VideoTooLongError(path, why)
            found = _stream_info(container, stream)
            if info is not None:
                vars(info).update(vars(found))
            info = found if info is None else info
            pixel_format = av.VideoFormat(stream.codec_context.pix_fmt or "rgb24")
            channels = len(pixel_format.components)
            maybe_alpha = pixel_format.has_palette or channels in (2, 4)
            if channels <= 2 and not pixel_format.has_palette:
                kinds.add("greyscale")
            tag_turns = -round(float(_rotate_tag(stream)) / 90)  # the tag counts clockwise
            first_time = None
            for index, frame in enumerate(container.decode(stream)):
                turns = round(frame.rotation / 90) if frame.rotation else tag_turns
                info.rotation = (turns % 4) * 90
                time = frame.time if frame.time is not None else index / info.nominal_fps
                first_time = time if first_time is None else first_time
                why = _over_limits(VideoLength(time - first_time, index + 1), max_seconds, max_frames,
                                   "found while decoding")
                if why:
                    raise VideoTooLongError(path, why)
                pixels = frame.to_ndarray(format="rgba" if maybe_alpha else "rgb24")
                pixels = _drop_alpha(pixels, kinds) if maybe_alpha else pixels
                info.frames_read += 1
                yield time - first_time, np.ascontiguousarray(np.rot90(pixels, turns % 4))
    except (av.FFmpegError, OSError) as error:
        detail = getattr(error, "strerror", None) or str(error)
        raise VideoReadError(path, f"the file is corrupt or not a video ({detail})") from error
    if info.frames_read == 0:
        raise VideoReadError(path, "it contains no frames")


def resample_timed(timed: Iterable[tuple[float, np.ndarray]], fps: float, max_hold: float | None = None,
                   shortened: list[float] | None = None) -> Iterator[np.ndarray]:
    """Frames at a constant ``fps`` from frames with timestamps: each output frame at time ``k / fps`` is the
    source frame on screen then (the latest one shown by ``k / fps``, give or take a quarter of an output
    frame, so that timestamps rounded by the container still land on their own output frame).

    A source frame held on screen longer than an output frame is repeated; frames shown
    for less are dropped; the last frame lasts as long as the interval before it.
    ``max_hold``: a frame is shown for at most this many seconds; the rest of a longer
    pause is cut (later frames move earlier) and the pause's length is appended to
    ``shortened``. The output frames repeat the same arrays: nothing is copied.
    """
    slack = 0.25 / fps
    index = 0  # next output frame
    previous: tuple[float, np.ndarray] | None = None
    duration = 1.0 / fps  # of the last frame, until two frames give an interval
    cut = 0.0  # seconds of long pauses cut so far
    for time, frame in timed:
        time -= cut
        if previous is not None:
            pause = time - previous[0]
            if max_hold is not None and pause > max_hold:
                cut += pause - max_hold
                time -= pause - max_hold
                if shortened is not None:
                    shortened.append(pause)
            duration = max(time - previous[0], 0.0) or duration
            while index / fps < time - slack:
                yield previous[1]
                index += 1
        previous = (time, frame)
    if previous is not None:
        while index / fps < previous[0] + duration - slack or index == 0:
            yield previous[1]
            index += 1


def is_constant_rate(times: Sequence[float]) -> bool:
    """Whether frame ``times`` are evenly spaced: every interval within 25% of their median."""
    intervals = np.diff(np.asarray(times, dtype=np.float64))
    if len(intervals) < 2:
        return True
    median = float(np.median(intervals))
    return median > 0 and not np.any(np.abs(intervals - median) > VFR_TOLERANCE * median)


def variable_rate_fps(times: Sequence[float], base_fps: float | None) -> float:
    """The constant rate a variable-rate video is resampled to: its base rate when that matches its most common
    frame interval (within 25%), else one over that interval."""
    median = float(np.median(np.diff(np.asarray(times, dtype=np.float64))))
    if base_fps and abs(1.0 / base_fps - median) <= VFR_TOLERANCE * median:
        return base_fps
    return round(1.0 / median, 3)


def _stream_info(container, stream) -> SourceInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return SourceInfo(nominal_fps=float(rate) if rate else DEFAULT_FPS,
                      base_fps=float(stream.base_rate) if stream.base_rate else None,
                      pixel_format=stream.codec_context.pix_fmt or "", has_audio=bool(container.streams.audio))


def _rotate_tag(stream) -> str:
    """The stream's ``rotate`` tag (clockwise degrees), "0" when it has none or it is not a number."""
    value = next((value for key, value in stream.metadata.items() if key.lower() == "rotate"), "0")
    return value if re.fullmatch(r"-?\d+", value.strip()) else "0"


def _read_with_pyav(path: Path, kinds: set[str], notes: list[str], reading: _Reading) -> tuple[np.ndarray, float]:
    info = SourceInfo(nominal_fps=DEFAULT_FPS, base_fps=None)
    timed: list[tuple[float, np.ndarray]] = []  # (time, fitted frame): the full-size frame is dropped at once
    upright = (0, 0)  # (w, h) of the decoded frames, upright
    for time, frame in iter_timed_frames(path, info, kinds, reading.max_seconds, reading.max_frames):
        upright = upright if timed else (frame.shape[1], frame.shape[0])
        timed.append((time, reading.keep(frame)))
        if reading.stop_after is not None and len(timed) >= reading.stop_after:
            break  # the frame rate is judged on the frames read
    if info.rotation:
        notes.append(f"turned upright: the file asks for a {info.rotation} degree counter-clockwise rotation "
                     f"(phone video), so its frames are {upright[0]}x{upright[1]} (w x h)")
    times = [time for time, _ in timed]
    if is_constant_rate(times):
        measured = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else info.nominal_fps
        agrees = abs(measured - info.nominal_fps) <= RATE_AGREEMENT * measured
        frames = [frame for _, frame in timed][:reading.stop_after]
        del timed
        return _stack(path, frames), info.nominal_fps if agrees else round(measured, 3)
    fps = variable_rate_fps(times, info.base_fps)
    intervals = np.diff(times)
    shortened: list[float] = []
    frames = []
    for frame in resample_timed(timed, fps, MAX_HOLD_SECONDS, shortened):
        frames.append(frame)
        reading.check_count(path, len(frames), fps)
        if reading.stop_after is not None and len(frames) >= reading.stop_after:
            break
    del timed
    notes.append(f"variable frame rate (frame intervals from {intervals.min() * 1000:.0f} to "
                 f"{intervals.max() * 1000:.0f} ms): placed by timestamp at a constant {fps:g} fps, {len(times)} -> "
                 f"{len(frames)} frames (a frame shown longer is repeated, so the motion keeps its speed)")
    if shortened:
        notes.append(f"{len(shortened)} pause(s) of up to {max(shortened):.1f} s shortened to {MAX_HOLD_SECONDS:g} s "
                     f"(a frame is held at most {MAX_HOLD_SECONDS:g} s)")
    return _stack(path, frames), fps


def _read_gif(path: Path, kinds: set[str], reading: _Reading) -> tuple[np.ndarray, float]:
    frames: list[np.ndarray] = []
    delays: list[int] = []
    grey = True  # every frame grey so far (a GIF's palette, not its mode, tells whether it is grey)
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                pixels = _image_to_rgb(frame, kinds)
                grey = grey and bool((pixels == pixels[..., :1]).all())
                frames.append(reading.keep(pixels))
                delays.append(int(frame.info.get("duration") or 0))
                reading.check_count(path, len(frames), _gif_fps(delays))
                if reading.stop_after is not None and len(frames) >= reading.stop_after:
                    break
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as error:
        raise VideoReadError(path, f"the file is corrupt or not a GIF ({error})") from error
    kinds.discard("palette")  # every GIF is palette-based; saying so would be noise
    if grey:
        kinds.add("greyscale")
    positive = [delay for delay in delays if delay > 0]
    if not positive:
        return _stack(path, frames), DEFAULT_FPS
    period = min(positive)
    repeats = [max(1, round(delay / period)) for delay in delays]
    evenly_spaced = [frame for frame, repeat in zip(frames, repeats, strict=True) for _ in range(repeat)]
    reading.check_count(path, len(evenly_spaced), 1000.0 / period)
    return _stack(path, evenly_spaced[:reading.stop_after]), 1000.0 / period


def _gif_fps(delays: list[int]) -> float:
    positive = [delay for delay in delays if delay > 0]
    return 1000.0 / min(positive) if positive else DEFAULT_FPS


def video_entries(folder: str | os.PathLike[str]) -> list[Path]:
    """The videos of a folder as `lamp train` sees them: video files and subfolders of frame images, sorted;
    hidden entries and other files (captions, ``set.json``) left out."""
    found = []
    for entry in sorted(Path(folder).iterdir()):
        frame_folder = entry.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir())
        if not entry.name.startswith(".") and (entry.suffix.lower() in VIDEO_SUFFIXES or frame_folder):
            found.append(entry)
    return found


def _frame_files(folder: Path) -> list[Path]:
    """The frame images of a folder, in natural order."""
    return sorted((entry for entry in folder.iterdir()
                   if entry.suffix.lower() in IMAGE_SUFFIXES and not entry.name.startswith(".")), key=natural_key)


def _read_frame_folder(folder: Path, kinds: set[str], reading: _Reading) -> tuple[np.ndarray, float]:
    files = _frame_files(folder)
    if not files:
        raise VideoReadError(folder, f"the folder has no frame images ({', '.join(IMAGE_SUFFIXES)})")
    reading.check_count(folder, len(files), DEFAULT_FPS)  # before any image is opened
    files = files[:reading.stop_after]
    frames = []
    first: tuple[int, ...] | None = None  # the first image's shape: every frame must have it, fitted or not
    for file in files:
        try:
            check_regular_file(file)
        except VideoReadError as error:
            raise VideoReadError(folder, f"frame {file.name}: {error.reason}") from error
        try:
            with Image.open(file) as image:
                pixels = _image_to_rgb(image, kinds)
        except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as error:
            raise VideoReadError(folder, f"frame {file.name} is corrupt or not an image ({error})") from error
        first = first or pixels.shape
        if pixels.shape != first:
            raise VideoReadError(folder, f"{file.name} is {pixels.shape[1]}x{pixels.shape[0]} but the first frame is "
                                         f"{first[1]}x{first[0]} (w x h)")
        frames.append(reading.keep(pixels))
    return _stack(folder, frames, [file.name for file in files]), DEFAULT_FPS


def natural_key(path: Path) -> list[int | str]:
    """Sort key that orders embedded numbers by value: ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _image_to_rgb(image: Image.Image, kinds: set[str]) -> np.ndarray:
    """One Pillow frame as ``(h, w, 3)`` ``uint8`` RGB, recording the conversions in ``kinds``."""
    mode = image.mode
    if mode.startswith("I;16"):
        kinds.add("greyscale")
        grey = (np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "P":
        kinds.add("palette")
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("1", "L", "I", "F", "LA", "La"):
        kinds.add("greyscale")
        image = image.convert("RGBA" if mode in ("LA", "La") else "RGB")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode not in ("RGB", "RGBA"):
        kinds.add(mode)
        image = image.convert("RGB")
    array = np.asarray(image, dtype=np.uint8)
    return _drop_alpha(array, kinds) if image.mode == "RGBA" else array.copy()


def _drop_alpha(frame: np.ndarray, kinds: set[str]) -> np.ndarray:
    """``(h, w, 4)`` RGBA -> ``(h, w, 3)`` RGB composited over black (notes only real transparency)."""
    colour, alpha = frame[..., :3], frame[..., 3:]
    if alpha.min() == 255:
        return colour.copy()
    kinds.add("alpha")
    return np.round(colour.astype(np.float32) * (alpha.astype(np.float32) / 255.0)).astype(np.uint8)


def _stack(path: Path, frames: list, names: list[str] | None = None) -> np.ndarray:
    """Stack frames into ``(f, h, w, 3)``, raising if there are none or their sizes differ.

    The list is emptied as the frames are copied, so the frames are not held twice (a
    frame repeated in the list is freed after its last copy)."""
    if not frames:
        raise VideoReadError(path, "it contains no frames")
    first = frames[0].shape
    for index, frame in enumerate(frames):
        if frame.shape != first:
            which = names[index] if names else f"frame {index}"
            raise VideoReadError(
                path,
                f"{which} is {frame.shape[1]}x{frame.shape[0]} but the first frame is {first[1]}x{first[0]} (w x h)",
            )
    stacked = np.empty((len(frames), *first), dtype=np.uint8)
    for index in range(len(frames)):
        stacked[index] = frames[index]
        frames[index] = None
    return stacked
