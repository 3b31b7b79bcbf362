"""Reading hostile or large videos: memory bounded by what is kept, limits from the header, FIFOs refused.

Every bound here counts frames or bytes allocated (deterministic), never time.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lamp_motion import video_io
from lamp_motion.video_io import (
    MAX_HOLD_SECONDS,
    SourceInfo,
    VideoReadError,
    VideoTooLongError,
    iter_timed_frames,
    probe_length,
    read_video,
    resample_timed,
)


def write_timed(path: Path, times_ms: list[int], height: int = 16, width: int = 48) -> Path:
    """An H.264 file whose frame i has timestamp ``times_ms[i]`` and a white column at x = i % width."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for index, time in enumerate(times_ms):
            pixels = np.zeros((height, width, 3), np.uint8)
            pixels[:, index % width] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = time, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def steady(path: Path, count: int, fps: int = 30, size: int = 2) -> Path:
    return write_timed(path, [round(i * 1000 / fps) for i in range(count)], size, size)


def test_a_long_gap_in_a_variable_rate_file_is_shortened_not_filled(tmp_path) -> None:
    # two bursts of 20 frames at 30 fps, 1200 s apart: filling the gap would be 36,000 frames
    times = [round(i * 1000 / 30) for i in range(20)] + [1_200_000 + round(i * 1000 / 30) for i in range(20)]
    notes: list[str] = []
    frames, fps = read_video(write_timed(tmp_path / "bursts.mp4", times), notes)
    assert fps == pytest.approx(30)
    assert len(frames) <= 40 + MAX_HOLD_SECONDS * 30 + 1
    shown = [int(np.argmax(frame[8, :, 0])) for frame in frames]
    assert shown[:20] == list(range(20)) and shown[-20:] == list(range(20, 40))
    assert set(shown[20:-20]) == {19}  # the pause holds the last frame of the first burst
    assert any("1 pause(s) of up to 1199.4 s shortened to 3 s" in note for note in notes)


def test_resampling_holds_a_frame_at_most_max_hold() -> None:
    timed = [(0.0, np.zeros(1)), (0.1, np.ones(1)), (100.0, np.full(1, 2.0)), (100.1, np.full(1, 3.0))]
    shortened: list[float] = []
    frames = [int(frame[0]) for frame in resample_timed(timed, 10, max_hold=1.0, shortened=shortened)]
    assert frames == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3]
    assert shortened == [pytest.approx(99.9)]
    assert len(list(resample_timed(timed, 10))) == 1002  # without a cap the pause is filled


def test_a_duration_limit_is_refused_from_the_header_without_decoding(tmp_path) -> None:
    path = steady(tmp_path / "long.mp4", 300)  # 10 s
    assert probe_length(path).seconds == pytest.approx(10, abs=0.05) and probe_length(path).frames == 300
    info = SourceInfo(nominal_fps=0.0, base_fps=None)
    with pytest.raises(VideoTooLongError, match=r"lasts 10\.0 s \(from its header\), over the limit of 2 s"):
        list(iter_timed_frames(path, info, max_seconds=2))
    assert info.frames_read == 0
    with pytest.raises(VideoTooLongError, match=r"has 300 frames \(from its header\), over the limit of 50"):
        read_video(path, max_frames=50)


def test_without_a_header_duration_decoding_stops_at_the_limit(tmp_path, monkeypatch) -> None:
    path = steady(tmp_path / "long.mp4", 300)
    monkeypatch.setattr(video_io, "_header_length", lambda container, stream: video_io.VideoLength(None, None))
    info = SourceInfo(nominal_fps=0.0, base_fps=None)
    with pytest.raises(VideoTooLongError, match="found while decoding"):
        list(iter_timed_frames(path, info, max_seconds=2))
    assert info.frames_read <= 2 * 30 + 1  # stopped at 2 s of 10
    info = SourceInfo(nominal_fps=0.0, base_fps=None)
    with pytest.raises(VideoTooLongError, match="over the limit of 40"):
        list(iter_timed_frames(path, info, max_frames=40))
    assert info.frames_read == 40


def test_stop_after_decodes_no_further(tmp_path, monkeypatch) -> None:
    path = steady(tmp_path / "long.mp4", 300)
    decoded = []
    real = video_io.iter_timed_frames

    def counting(*args, **kwargs):
        for item in real(*args, **kwargs):
            decoded.append(item[0])
            yield item

    monkeypatch.setattr(video_io, "iter_timed_frames", counting)
    frames, _ = read_video(path, stop_after=7)
    assert len(frames) == 7 and len(decoded) == 7


def test_fit_keeps_only_fitted_frames_in_memory(tmp_path) -> None:
    path = write_timed(tmp_path / "big.mp4", [round(i * 1000 / 30) for i in range(40)], 240, 320)
    full_frame = 240 * 320 * 3
    tracemalloc.start()
    try:
        frames, _ = read_video(path, fit=lambda frame: np.ascontiguousarray(frame[::30, ::40]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames.shape == (40, 8, 8, 3)
    assert peak < 6 * full_frame  # 40 full frames would be 9.2 MB; a few decoded frames at a time are 1.4 MB


def test_frame_folder_over_the_frame_limit_is_refused_before_any_image_is_opened(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(12):
        (folder / f"frame{index}.png").write_bytes(b"not opened")
    with pytest.raises(VideoTooLongError, match="has 12 frames"):
        read_video(folder, max_frames=10)


def read_in_thread(path: Path) -> BaseException | None:
    """What reading ``path`` raised (None if it returned), failing the test rather than hanging if it blocks."""
    result: list[BaseException | None] = []

    def target() -> None:
        try:
            read_video(path)
            result.append(None)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            result.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():  # unblock the reader so the daemon thread can end
        with open(path, "wb"):
            pass
        pytest.fail(f"reading {path} blocked")
    return result[0]


@pytest.mark.parametrize("name", ["x.mp4", "x.gif", "x.txt"])
def test_a_fifo_named_like_a_video_is_refused_not_opened(tmp_path, name) -> None:
    os.mkfifo(tmp_path / name)
    error = read_in_thread(tmp_path / name)
    assert isinstance(error, VideoReadError)
    assert "FIFO (named pipe)" in error.reason and "copy the video in as a plain file" in error.reason


def test_a_fifo_among_frame_images_is_refused(tmp_path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    os.mkfifo(folder / "frame0.png")
    error = read_in_thread(folder)
    assert isinstance(error, VideoReadError) and "frame frame0.png: it is a FIFO" in error.reason


def test_prepare_shortens_a_long_pause_instead_of_cutting_clips_of_a_still_frame(tmp_path) -> None:
    from lamp_motion.jobs.prepare import PrepareSettings, prepare_videos

    raw = tmp_path / "raw"
    raw.mkdir()
    times = [round(i * 1000 / 30) for i in range(20)] + [600_000 + round(i * 1000 / 30) for i in range(20)]
    write_timed(raw / "bursts.mp4", times, height=16, width=48)
    result = prepare_videos(PrepareSettings(raw, tmp_path / "out", fps=30, frames=4, height=16, width=16,
                                            max_clips_per_video=0))
    [row] = result.rows
    # 40 moving frames and at most 3 s (90 frames) of the held one: at most 130 / 4 clips, not 600 s' worth
    assert row.status == "used" and 10 <= len(row.clips) <= 130 // 4
    assert any("1 pause(s) of up to 599.4 s shortened to 3 s" in note for note in row.notes), row.notes
