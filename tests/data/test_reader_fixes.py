"""Real-world video quirks read correctly: phone rotation, variable frame rate, transparent images."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from lamp_motion.data import scan_videos
from lamp_motion.pipelines.images import load_image
from lamp_motion.video_io import read_video, resample_timed

MARK = (255, 0, 0)


def marked_landscape(count: int = 3, height: int = 32, width: int = 48) -> np.ndarray:
    """Landscape frames, dark, with a red block in the top-left corner (as the camera stored them)."""
    frames = np.full((count, height, width, 3), 30, np.uint8)
    frames[:, :8, :8] = MARK
    return frames


def write_pyav(path: Path, frames: np.ndarray, times_ms: list[int] | None = None, rotation: int | None = None,
               codec: str = "libx264", tags: dict[str, str] | None = None) -> Path:
    """Encode ``frames`` with PyAV; ``times_ms`` sets each frame's timestamp, ``rotation`` the display matrix
    (counter-clockwise degrees, as phones record portrait video), ``tags`` stream metadata."""
    times_ms = times_ms if times_ms is not None else [round(i * 1000 / 8) for i in range(len(frames))]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        stream.metadata.update(tags or {})
        for frame, time in zip(frames, times_ms):
            encoded = av.VideoFrame.from_ndarray(frame, format="rgb24")
            encoded.pts, encoded.time_base = time, Fraction(1, 1000)
            container.mux(stream.encode(encoded))
        container.mux(stream.encode())
    return path


def corner_of_mark(frame: np.ndarray) -> str:
    """Which corner the red block sits in: 'top-left', 'top-right', 'bottom-left' or 'bottom-right'."""
    red = (frame[..., 0] > 180) & (frame[..., 1] < 80)
    rows, columns = np.nonzero(red)
    vertical = "top" if rows.mean() < frame.shape[0] / 2 else "bottom"
    horizontal = "left" if columns.mean() < frame.shape[1] / 2 else "right"
    return f"{vertical}-{horizontal}"


@pytest.mark.parametrize("rotation,size,corner", [
    (90, (48, 32), "bottom-left"),  # counter-clockwise quarter turn: top-left goes to bottom-left
    (-90, (48, 32), "top-right"),   # clockwise quarter turn (the usual portrait phone clip)
    (180, (32, 48), "bottom-right"),
])
def test_display_rotation_is_applied_with_a_note(tmp_path, rotation, size, corner) -> None:
    path = write_pyav(tmp_path / "phone.mp4", marked_landscape(), rotation=rotation)
    notes: list[str] = []
    frames, _ = read_video(path, notes)
    assert frames.shape[1:3] == size
    assert corner_of_mark(frames[0]) == corner
    assert any("turned upright" in note for note in notes)


def test_rotate_tag_of_an_mkv_is_applied_clockwise(tmp_path) -> None:
    path = write_pyav(tmp_path / "tagged.mkv", marked_landscape(), tags={"rotate": "90"})
    frames, _ = read_video(path)
    assert frames.shape[1:3] == (48, 32) and corner_of_mark(frames[0]) == "top-right"


def test_training_reads_a_rotated_phone_clip_upright(tmp_path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    write_pyav(folder / "portrait.mp4", marked_landscape(count=4), rotation=-90)
    video_set = scan_videos(folder, num_frames=2, stride=1, height=48, width=32)
    assert corner_of_mark(video_set.videos[0].frames[0]) == "top-right"
    assert any("portrait.mp4: turned upright" in note for note in video_set.notes)


def vfr_clip(tmp_path: Path) -> tuple[Path, list[int]]:
    """1 s at 30 fps, a 2 s pause, then 1 s at 10 fps; frame i has a white column at x = i."""
    times = [round(i * 1000 / 30) for i in range(30)] + [3000 + i * 100 for i in range(10)]
    frames = np.zeros((40, 16, 48, 3), np.uint8)
    for index in range(40):
        frames[index, :, index] = 255
    return write_pyav(tmp_path / "vfr.mp4", frames, times), times


def test_variable_frame_rate_is_resampled_by_timestamp_with_a_note(tmp_path) -> None:
    path, times = vfr_clip(tmp_path)
    notes: list[str] = []
    frames, fps = read_video(path, notes)
    assert fps == pytest.approx(30)
    assert len(frames) == 120  # 4 s at 30 fps (the last frame lasts 100 ms)
    shown = [int(np.argmax(frame[8, :, 0])) for frame in frames]  # which source frame each output frame is
    assert shown[:30] == list(range(30))
    assert shown[30:90] == [29] * 60  # the 2 s pause holds the last frame
    assert shown[90:] == [30 + i // 3 for i in range(30)]  # 10 fps frames last 3 output frames each
    assert any(note.startswith("variable frame rate") and "40 -> 120 frames" in note for note in notes)


def test_constant_rate_video_is_not_resampled(tmp_path) -> None:
    frames = marked_landscape(count=6)
    frames, fps = read_video(write_pyav(tmp_path / "steady.mp4", frames), notes := [])
    assert (len(frames), fps, notes) == (6, pytest.approx(8), [])


def test_resampling_to_a_lower_rate_takes_the_frame_on_screen() -> None:
    timed = [(i / 30, np.full((1, 1, 3), i, np.uint8)) for i in range(30)]
    frames = list(resample_timed(timed, 10))
    assert [int(frame[0, 0, 0]) for frame in frames] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]


def test_transparent_image_is_composited_over_black_with_a_note(tmp_path) -> None:
    pixels = np.zeros((4, 4, 4), np.uint8)
    pixels[..., :3] = (250, 250, 250)  # hidden colour under full transparency
    pixels[:2, :, 3] = 255
    path = tmp_path / "logo.png"
    Image.fromarray(pixels, "RGBA").save(path)
    notes: list[str] = []
    image = np.asarray(load_image(path, notes))
    assert (image[:2] == 250).all() and (image[2:] == 0).all()
    assert notes == ["image logo.png has transparent pixels: composited over black"]
