"""Writing output files safely: atomic replacement, normal permissions, clear disk-full errors.

Every file the library writes goes through :func:`atomic_path` (or the helpers built on
it): the content is written to a temporary file beside the target and moved into place
only when complete, so a crash or a full disk never leaves a half-written file under
the final name, and an older file of that name survives a failed write. The temporary
file is created with the permissions a plain ``open()`` would give (``0o666`` less the
umask), so outputs are as readable as any other file the user makes.

:func:`check_output_folder` tells, before any model loads, whether a folder can hold
the outputs of a command; :func:`slug` makes a file name from a prompt.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK_BYTES = 1 << 20  # bytes handed to one os.write call
# Fragments by which errors raised outside Python (safetensors, FFmpeg) say the disk is full.
_DISK_FULL_TEXT = ("No space left on device", "StorageFull", "os error 28", "Disk quota exceeded")


class OutputWriteError(OSError):
    """An output file could not be written; the message names it, says why and what to do."""

    def __init__(self, path: Path, message: str, disk_full: bool) -> None:
        super().__init__(message)
        self.path = path
        self.disk_full = disk_full  # the write failed because the disk (or quota) is full


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (an OSError, or a library's error wrapping one) says the disk or quota is full."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(text in str(error) for text in _DISK_FULL_TEXT)


def write_error(path: Path, error: BaseException) -> OutputWriteError:
    """The :class:`OutputWriteError` for a failed write of ``path``."""
    if isinstance(error, OutputWriteError):
        return error
    if is_disk_full(error):
        return OutputWriteError(path, f"disk full writing {path}: free some space on that disk (or choose an "
                                      f"output folder on another one) and run the command again", disk_full=True)
    detail = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return OutputWriteError(path, f"could not write {path} ({detail}); check that the folder is writable and run "
                                  f"the command again", disk_full=False)


def _create_temporary(path: Path) -> Path:
    """A new empty file beside ``path``, created with mode 0o666 so that the umask alone sets its permissions."""
    for _ in range(100):
        temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")  # keeps the suffix: writers pick the format by it
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temporary
    raise FileExistsError(f"could not create a temporary file beside {path}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it to ``path``, on failure remove it.

    Parent folders are created. Any error while writing (the caller's, or a full disk)
    leaves ``path`` as it was and raises :class:`OutputWriteError` naming it; an
    interrupt (Ctrl-C) removes the temporary file and propagates unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _create_temporary(path)
        normal_mode = stat.S_IMODE(temporary.stat().st_mode)
    except OSError as error:
        raise write_error(path, error) from error
    try:
        yield temporary
        os.chmod(temporary, normal_mode)  # writers that replace the file themselves (safetensors) make it 0600
        os.replace(temporary, path)
    except Exception as error:
        if isinstance(error, OSError) or is_disk_full(error):
            raise write_error(path, error) from error
        raise
    finally:
        temporary.unlink(missing_ok=True)


def _write_chunk(descriptor: int, chunk: memoryview) -> int:
    """One ``os.write`` call; returns the bytes written (a separate function so tests can fill the disk)."""
    return os.write(descriptor, chunk)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[_write_chunk(descriptor, view[:CHUNK_BYTES]):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


NAME_MAX = 255  # bytes in one file or folder name on common file systems (ext4, APFS, NTFS in UTF-16 units)


def check_output_folder(folder: str | os.PathLike[str], what: str) -> Path:
    """Check that ``folder`` is, or can be created as, a writable folder; returns it as a Path.

    Args:
        folder: the output folder (it need not exist yet).
        what: how the user named it, for the message (e.g. ``"--out"`` or ``"output_dir"``).

    Raises:
        OutputWriteError: the folder is a file, lies below a file, or cannot be written.
    """
    folder = Path(folder)
    for part in folder.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise OutputWriteError(folder, f"{what}: the name {part[:40]}... is {len(os.fsencode(part))} bytes long, over "
                                           f"the {NAME_MAX} a file system allows; choose a shorter name", disk_full=False)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the nearest ancestor that exists: the folder would be created there
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == folder else f"lies below the file {existing}"
        raise OutputWriteError(folder, f"{what} {folder} {where}, not a folder; choose a folder path "
                                       f"(it is created if missing)", disk_full=False)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputWriteError(folder, f"{what} {folder} cannot be written: {existing} is not writable for this "
                                       f"user; choose another folder or change its permissions", disk_full=False)
    return folder


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe short form of a prompt: "A red horse, running!" -> "a-red-horse-running"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "video"
