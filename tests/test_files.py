"""Output files: normal permissions, atomic replacement, disk-full errors, output folders checked early."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lamp_motion import files
from lamp_motion.files import OutputWriteError, check_output_folder, write_bytes_atomic
from lamp_motion.video_io import write_contact_sheet, write_video


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def fill_disk_after(monkeypatch, limit: int) -> None:
    """Make every atomic byte write fail with ENOSPC once ``limit`` bytes have been written."""
    written = {"bytes": 0}

    def write(descriptor: int, chunk: memoryview) -> int:
        room = limit - written["bytes"]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        count = os.write(descriptor, chunk[:room])
        written["bytes"] += count
        return count

    monkeypatch.setattr(files, "_write_chunk", write)


def test_written_files_get_the_umask_mode_not_0600(tmp_path, umask_022) -> None:
    from lamp_motion.models import save_motion
    from tests.helpers import trained_video

    frames = np.zeros((2, 8, 8, 3), np.uint8)
    written = [tmp_path / "v.mp4", tmp_path / "v.gif", tmp_path / "v.png", tmp_path / "m.safetensors", tmp_path / "t.txt"]
    write_video(written[0], frames, 8)
    write_video(written[1], frames, 8)
    write_contact_sheet(written[2], frames)
    save_motion(trained_video(), written[3])
    files.write_text_atomic(written[4], "x")
    assert {path.name: oct(mode(path)) for path in written} == {path.name: "0o644" for path in written}


def test_disk_full_keeps_the_old_file_removes_the_temporary_and_names_the_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    fill_disk_after(monkeypatch, 10)
    with pytest.raises(OutputWriteError, match=f"disk full writing {target}: free some space") as caught:
        write_bytes_atomic(target, b"x" * 100)
    assert caught.value.disk_full
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_video_writer_failing_mid_file_leaves_no_temporary(tmp_path, monkeypatch) -> None:
    from lamp_motion import video_io

    def full(path, frames, fps):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(video_io, "_write_mp4", full)
    with pytest.raises(OutputWriteError, match="disk full writing"):
        write_video(tmp_path / "v.mp4", np.zeros((2, 8, 8, 3), np.uint8), 8)
    assert list(tmp_path.iterdir()) == []


def test_output_folder_that_is_a_file_is_refused_by_name(tmp_path) -> None:
    existing = tmp_path / "taken"
    existing.write_text("a file")
    with pytest.raises(OutputWriteError, match="--out .*taken is a file, not a folder"):
        check_output_folder(existing, "--out")
    with pytest.raises(OutputWriteError, match="lies below the file"):
        check_output_folder(existing / "sub", "output_dir")
    assert check_output_folder(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
