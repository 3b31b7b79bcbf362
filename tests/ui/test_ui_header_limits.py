"""The web UI refuses an over-long video from its header, before decoding it."""

from __future__ import annotations

import pytest

from lamp_motion import video_io
from lamp_motion.ui import uploads
from lamp_motion.ui.uploads import UploadError, UploadLimits, check_header_lengths, check_source_video
from lamp_motion.video_io import VideoLength, write_video
from tests.helpers import video


def test_a_long_video_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch) -> None:
    long = tmp_path / "long.mp4"
    write_video(long, video(frames=80, height=16, width=16), 8)  # 10 s
    short = tmp_path / "short.mp4"
    write_video(short, video(frames=8, height=16, width=16), 8)

    def never(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(uploads, "iter_timed_frames", never)
    limits = UploadLimits(max_video_seconds=2)
    with pytest.raises(UploadError, match=r"videos over the limit of 2 s:\n  long.mp4: 10.0 s$"):
        check_header_lengths([short, long], limits)
    with pytest.raises(UploadError, match="long.mp4: 10.0 s"):
        check_source_video(long, limits)
    check_source_video(short, limits)  # within the limit by its header: not decoded either


def test_a_source_without_a_header_duration_is_decoded_only_up_to_the_limit(tmp_path, monkeypatch) -> None:
    path = tmp_path / "long.mp4"
    write_video(path, video(frames=80, height=16, width=16), 8)
    no_header = VideoLength(None, None)
    monkeypatch.setattr(uploads, "probe_length", lambda p: no_header)
    monkeypatch.setattr(video_io, "_header_length", lambda container, stream: no_header)
    with pytest.raises(UploadError, match=r"long.mp4: it lasts 2\.\d s \(found while decoding\), over the limit of 2 s"):
        check_source_video(path, UploadLimits(max_video_seconds=2))
