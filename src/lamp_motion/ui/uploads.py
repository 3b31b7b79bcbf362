"""What the web UI accepts from a browser: limits, safe zip extraction, server folders under a root.

Uploaded files are copied into a fresh folder and then read only through
:func:`lamp_motion.video_io.read_video` (via :func:`lamp_motion.data.scan_videos`), the
reader `lamp train` uses. Every limit is checked here, on the server; a video's duration
from its container's header before it is decoded (:func:`check_header_lengths`).
"""

from __future__ import annotations

import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..video_io import VIDEO_SUFFIXES, VideoReadError, VideoTooLongError, iter_timed_frames, probe_length

CAPTION_SUFFIXES = (".txt",)  # a video's caption (<stem>.txt) or the set's prompt.txt
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(ValueError):
    """An upload or server folder that is refused; the message says which file and why."""


@dataclass(frozen=True)
class UploadLimits:
    max_file_mb: float = 200.0  # largest uploaded file (a zip counts as one file; so does each video inside it)
    max_files: int = 16  # most videos in one training set (uploaded, in a zip, or in a server folder)
    max_video_seconds: float = 120.0  # longest video accepted
    max_total_mb: float = 1024.0  # all files of one upload together, zips counted by what they hold

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_total_bytes(self) -> int:
        return int(self.max_total_mb * 1024 * 1024)

    def describe(self) -> str:
        return (f"at most {self.max_files} videos, {self.max_file_mb:g} MB per file, "
                f"{self.max_video_seconds:g} s per video")


def safe_name(name: str) -> str:
    """A file name without folders or odd characters (``../a b.mp4`` -> ``a_b.mp4``)."""
    cleaned = _UNSAFE.sub("_", PurePosixPath(name.replace("\\", "/")).name).strip("._")
    return cleaned or "file"


def collect_uploads(files: list[str | Path], folder: Path, limits: UploadLimits) -> list[str]:
    """Copy uploaded videos (and the videos of uploaded zips) flat into the new ``folder``.

    Returns notes on entries left out (e.g. a zip's other files). Raises UploadError when
    a file or all together are too large, there are too many videos (counted before
    anything is extracted), a zip is damaged, or nothing usable was given; ``folder`` is
    then removed, so a refused upload leaves nothing on the server.
    """
    if not files:
        raise UploadError("no files uploaded; upload the motion's videos (or one zip of them)")
    folder.mkdir(parents=True, exist_ok=False)
    try:
        return _collect(files, folder, limits)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _collect(files: list[str | Path], folder: Path, limits: UploadLimits) -> list[str]:
    _check_counts(files, limits)
    notes: list[str] = []
    budget = _Budget(limits)
    for given in files:
        path = Path(given)
        name = safe_name(path.name)
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise UploadError(f"{name}: {size / 2**20:.1f} MB is over the limit of {limits.max_file_mb:g} MB per file")
        suffix = path.suffix.lower()
        if suffix == ".zip":
            notes += _extract_zip(path, folder, limits, budget)
        elif suffix in VIDEO_SUFFIXES or suffix in CAPTION_SUFFIXES:
            budget.take(size, name)
            shutil.copyfile(path, _free_path(folder, name))
        else:
            notes.append(f"{name}: left out, not a video ({', '.join(VIDEO_SUFFIXES)}), caption (.txt) or zip")
    count_videos(folder, limits)
    return notes


def count_videos(folder: Path, limits: UploadLimits) -> int:
    """The number of videos in ``folder``; UploadError when there are none or more than the limit."""
    count = sum(1 for entry in folder.iterdir() if entry.suffix.lower() in VIDEO_SUFFIXES or entry.is_dir())
    if count == 0:
        raise UploadError(f"no videos found; give {', '.join(VIDEO_SUFFIXES)} files")
    if count > limits.max_files:
        raise UploadError(f"{count} videos is over the limit of {limits.max_files}; a motion needs 4-16")
    return count


class _Budget:
    """Bytes an upload may still write in all (``UploadLimits.max_total_mb``)."""

    def __init__(self, limits: UploadLimits):
        self.limits, self.left = limits, limits.max_total_bytes

    def take(self, count: int, name: str) -> None:
        self.left -= count
        if self.left < 0:
            raise UploadError(f"{name}: the upload is over the limit of {self.limits.max_total_mb:g} MB in all; "
                              f"upload fewer or shorter videos")


def _zip_entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist()
            if not (info.is_dir() or "__MACOSX" in info.filename or PurePosixPath(info.filename).name.startswith("."))]


def _check_counts(files: list[str | Path], limits: UploadLimits) -> None:
    """Too many videos, counted from the file names and the zips' directories before anything is written."""
    count = 0
    for given in files:
        path = Path(given)
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    count += sum(1 for info in _zip_entries(archive)
                                 if Path(safe_name(info.filename)).suffix.lower() in VIDEO_SUFFIXES)
            except (zipfile.BadZipFile, OSError) as error:
                raise UploadError(f"{safe_name(path.name)}: not a readable zip file ({error})") from error
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            count += 1
    if count > limits.max_files:
        raise UploadError(f"{count} videos is over the limit of {limits.max_files}; a motion needs 4-16")


def _extract_zip(path: Path, folder: Path, limits: UploadLimits, budget: _Budget) -> list[str]:
    """The zip's videos and captions, flat, each checked against the size limits while it is written."""
    notes = []
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise UploadError(f"{path.name}: not a readable zip file ({error})") from error
    with archive:
        for info in _zip_entries(archive):
            name = safe_name(info.filename)
            suffix = Path(name).suffix.lower()
            if suffix not in VIDEO_SUFFIXES and suffix not in CAPTION_SUFFIXES:
                notes.append(f"{path.name}: {info.filename}: left out, not a video or caption")
                continue
            if info.file_size > limits.max_file_bytes:
                raise UploadError(f"{path.name}: {info.filename}: {info.file_size / 2**20:.1f} MB is over the limit "
                                  f"of {limits.max_file_mb:g} MB per file")
            target = _free_path(folder, name)
            try:
                with archive.open(info) as source, open(target, "wb") as out:
                    written = 0
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        budget.take(len(chunk), f"{path.name}: {info.filename}")
                        if written > limits.max_file_bytes:  # the header's size can lie
                            raise UploadError(f"{path.name}: {info.filename}: over the limit of "
                                              f"{limits.max_file_mb:g} MB per file")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
                # a bad CRC, a damaged stream, an unsupported compression method or an encrypted entry
                raise UploadError(f"{path.name}: {info.filename}: cannot be extracted ({error}); make the zip "
                                  f"again (plain, not encrypted) or upload the videos themselves") from error
    return notes


def _free_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.suffix`` ... when that is taken."""
    target, stem, index = folder / name, Path(name).stem, 2
    while target.exists():
        target = folder / f"{stem}-{index}{Path(name).suffix}"
        index += 1
    return target


def server_folder(root: Path | None, relative: str) -> Path:
    """The folder ``relative`` under ``root``; UploadError for a path that leaves the root or is not a folder."""
    if root is None:
        raise UploadError("server folders are off; start `lamp ui --data-root DIR` to train on folders under DIR")
    text = relative.strip().replace("\\", "/")
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", text):
        raise UploadError(f"server folder {relative!r} refused: give a path relative to the data root, without '..'")
    base = root.resolve()
    folder = (base / text).resolve()
    if not folder.is_relative_to(base):  # a link that points out of the root
        raise UploadError(f"server folder {relative!r} refused: it leads outside the data root")
    if not folder.is_dir():
        raise UploadError(f"server folder {relative!r} is not a folder under the data root")
    return folder


def server_folders(root: Path | None) -> list[str]:
    """Subfolders of ``root`` (two levels), relative, for the page's choice list."""
    if root is None or not root.is_dir():
        return []
    found = []
    for depth in ("*", "*/*"):
        found += [str(p.relative_to(root)) for p in root.glob(depth) if p.is_dir() and not p.name.startswith(".")]
    return sorted(found)


def check_video_lengths(videos: list[tuple[Path, int, float]], limits: UploadLimits) -> None:
    """UploadError naming every ``(path, frames, fps)`` longer than the limit."""
    long = [f"  {path.name}: {frames / fps:.1f} s" for path, frames, fps in videos
            if fps > 0 and frames / fps > limits.max_video_seconds]
    if long:
        raise UploadError("\n".join([f"videos over the limit of {limits.max_video_seconds:g} s:", *long]))


def check_header_lengths(paths: list[Path], limits: UploadLimits) -> None:
    """UploadError naming every video whose header says it is longer than the limit, before any is decoded.

    Videos whose header gives no duration, and entries that cannot be read, are left to
    the reader (which stops decoding at the limit, or skips them with the reason)."""
    long = []
    for path in paths:
        try:
            seconds = probe_length(path).seconds
        except VideoReadError:
            continue
        if seconds is not None and seconds > limits.max_video_seconds:
            long.append(f"  {path.name}: {seconds:.1f} s")
    if long:
        raise UploadError("\n".join([f"videos over the limit of {limits.max_video_seconds:g} s:", *long]))


def check_source_video(path: Path, limits: UploadLimits) -> None:
    """UploadError when an edit's source video is over the duration limit: from its header, else by decoding it
    (holding no frame) until the limit is passed."""
    check_header_lengths([path], limits)
    try:
        if probe_length(path).seconds is None:
            for _ in iter_timed_frames(path, max_seconds=limits.max_video_seconds):
                pass
    except VideoTooLongError as error:
        raise UploadError(f"{path.name}: {error.reason}") from error
