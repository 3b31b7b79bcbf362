"""Round trips and error cases of lamp_motion.video_io on tiny generated videos."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from lamp_motion.video_io import VideoReadError, read_video, write_contact_sheet, write_video

# yuv420p halves the chroma resolution, so sharp colour edges blur by about a pixel:
# a mean absolute error up to 5 (of 255) per channel is a faithful H.264 round trip.
MP4_MEAN_ABS_TOLERANCE = 5.0


def moving_square(frames: int = 12, height: int = 32, width: int = 48) -> np.ndarray:
    """A red square moving right over a two-tone background: few colours, every frame different."""
    video = np.zeros((frames, height, width, 3), dtype=np.uint8)
    video[:, : height // 2] = (30, 60, 90)
    video[:, height // 2 :] = (200, 200, 40)
    for index in range(frames):
        left = (2 * index) % (width - 8)
        video[index, 8:16, left : left + 8] = (220, 40, 40)
    return video


def test_mp4_round_trip_keeps_count_size_fps_and_is_close(tmp_path: Path) -> None:
    video = moving_square()
    path = tmp_path / "nested" / "clip.mp4"
    write_video(path, video, fps=8)
    frames, fps = read_video(path)
    assert frames.shape == video.shape and frames.dtype == np.uint8
    assert fps == pytest.approx(8.0)
    assert np.abs(frames.astype(int) - video).mean() < MP4_MEAN_ABS_TOLERANCE
    assert [p.name for p in path.parent.iterdir()] == ["clip.mp4"]  # no temporary file left behind


def test_mp4_pads_odd_sizes_by_one_edge_row_and_column(tmp_path: Path) -> None:
    video = moving_square(frames=4, height=31, width=45)
    write_video(tmp_path / "odd.mp4", video, fps=12)
    frames, fps = read_video(tmp_path / "odd.mp4")
    assert frames.shape == (4, 32, 46, 3)
    assert fps == pytest.approx(12.0)
    assert np.abs(frames[:, :31, :45].astype(int) - video).mean() < MP4_MEAN_ABS_TOLERANCE


def test_gif_round_trip_is_exact(tmp_path: Path) -> None:
    video = moving_square()
    write_video(tmp_path / "clip.gif", video, fps=10)
    frames, fps = read_video(tmp_path / "clip.gif")
    assert fps == 10.0
    np.testing.assert_array_equal(frames, video)


def test_gif_frame_delay_is_in_milliseconds_and_loops(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.gif", moving_square(frames=3), fps=8)
    with Image.open(tmp_path / "clip.gif") as image:
        # round(1000 / 8) = 125 ms, stored by GIF in hundredths of a second: 120 ms.
        assert image.info["duration"] == 120
        assert image.info["loop"] == 0
    _, fps = read_video(tmp_path / "clip.gif")
    assert fps == pytest.approx(1000 / 120)


def test_gif_with_repeated_frames_keeps_every_frame(tmp_path: Path) -> None:
    video = moving_square(frames=6)[[0, 1, 1, 1, 2, 3]]  # Pillow merges the three equal frames into one
    write_video(tmp_path / "hold.gif", video, fps=10)
    frames, fps = read_video(tmp_path / "hold.gif")
    assert fps == 10.0
    np.testing.assert_array_equal(frames, video)


def test_frame_folder_is_read_in_natural_order(tmp_path: Path) -> None:
    video = moving_square()
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(video, start=1):
        Image.fromarray(frame).save(folder / f"frame{index}.png")
    (folder / "notes.txt").write_text("not a frame")
    frames, fps = read_video(folder)
    assert fps == 8.0
    np.testing.assert_array_equal(frames, video)  # frame2 before frame10


def test_greyscale_gif_is_converted_with_a_note(tmp_path: Path) -> None:
    grey = moving_square(frames=4)[..., 0]
    images = [Image.fromarray(frame, mode="L") for frame in grey]
    images[0].save(tmp_path / "grey.gif", save_all=True, append_images=images[1:], duration=100)
    notes: list[str] = []
    frames, _ = read_video(tmp_path / "grey.gif", notes=notes)
    assert notes == ["converted greyscale frames to RGB"]
    np.testing.assert_array_equal(frames, np.repeat(grey[..., None], 3, axis=-1))


def test_greyscale_and_transparent_png_frames_are_converted_with_notes(tmp_path: Path) -> None:
    grey_folder, alpha_folder = tmp_path / "grey", tmp_path / "alpha"
    grey_folder.mkdir()
    alpha_folder.mkdir()
    rgba = np.full((2, 8, 8, 4), 200, dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:, :4, :, 3] = 0  # top half fully transparent
    for index in range(2):
        Image.fromarray(rgba[index, ..., 0], mode="L").save(grey_folder / f"{index}.png")
        Image.fromarray(rgba[index], mode="RGBA").save(alpha_folder / f"{index}.png")
    grey_notes: list[str] = []
    read_video(grey_folder, notes=grey_notes)
    assert grey_notes == ["converted greyscale frames to RGB"]
    alpha_notes: list[str] = []
    frames, _ = read_video(alpha_folder, notes=alpha_notes)
    assert alpha_notes == ["composited transparent frames over black"]
    assert (frames[:, :4] == 0).all() and (frames[:, 4:] == 200).all()


def write_with_pyav(path: Path, frames: np.ndarray, codec: str, pixel_format: str) -> None:
    """Encode RGB (f, h, w, 3), RGBA (f, h, w, 4) or grey (f, h, w) frames with any PyAV codec."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=12)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pixel_format
        array_format = "gray" if frames.ndim == 3 else {3: "rgb24", 4: "rgba"}[frames.shape[-1]]
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format=array_format)))
        container.mux(stream.encode())


@pytest.mark.parametrize(
    ("name", "codec"), [("clip.webm", "libvpx-vp9"), ("clip.mkv", "libx264"), ("clip.mov", "libx264")]
)
def test_webm_mkv_mov_are_read(tmp_path: Path, name: str, codec: str) -> None:
    video = moving_square(frames=6)
    write_with_pyav(tmp_path / name, video, codec, "yuv420p")
    notes: list[str] = []
    frames, fps = read_video(tmp_path / name, notes=notes)
    assert frames.shape == video.shape and fps == pytest.approx(12.0) and notes == []
    assert np.abs(frames.astype(int) - video).mean() < 2 * MP4_MEAN_ABS_TOLERANCE  # default codec quality


def test_grey_and_transparent_video_streams_are_converted_with_notes(tmp_path: Path) -> None:
    rgba = np.full((3, 16, 16, 4), 200, dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:, :8, :, 3] = 0  # top half fully transparent
    write_with_pyav(tmp_path / "alpha.mov", rgba, "png", "rgba")
    write_with_pyav(tmp_path / "grey.mkv", np.ascontiguousarray(rgba[..., 0]), "ffv1", "gray")
    alpha_notes: list[str] = []
    frames, _ = read_video(tmp_path / "alpha.mov", notes=alpha_notes)
    assert alpha_notes == ["composited transparent frames over black"]
    assert (frames[:, :8] == 0).all() and (frames[:, 8:] == 200).all()
    grey_notes: list[str] = []
    frames, _ = read_video(tmp_path / "grey.mkv", notes=grey_notes)
    assert grey_notes == ["converted greyscale frames to RGB"]
    assert frames.shape == (3, 16, 16, 3) and (frames == 200).all()


@pytest.mark.parametrize("name", ["broken.mp4", "broken.gif", "broken.webm"])
def test_corrupt_file_raises_naming_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match=name) as caught:
        read_video(path)
    assert caught.value.path == path


def test_missing_file_unsupported_suffix_and_empty_folder_raise(tmp_path: Path) -> None:
    with pytest.raises(VideoReadError, match="no such file"):
        read_video(tmp_path / "absent.mp4")
    (tmp_path / "clip.avi").write_bytes(b"x")
    with pytest.raises(VideoReadError, match=r"unsupported suffix '\.avi'"):
        read_video(tmp_path / "clip.avi")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="no frame images"):
        read_video(tmp_path / "empty")


def test_write_video_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "a.mp4", moving_square().astype(np.float32), fps=8)
    with pytest.raises(ValueError, match=r"\(f, h, w, 3\)"):
        write_video(tmp_path / "a.mp4", moving_square()[..., 0], fps=8)
    with pytest.raises(ValueError, match=r"use \.mp4 or \.gif"):
        write_video(tmp_path / "a.webm", moving_square(), fps=8)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "a.gif", moving_square(), fps=0)
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_size_and_layout(tmp_path: Path) -> None:
    video = moving_square(frames=10, height=8, width=6)
    write_contact_sheet(tmp_path / "sheet.png", video, columns=4, scale=2)
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert sheet.shape == (3 * 8 * 2, 4 * 6 * 2, 3)  # 10 frames -> 3 rows of 4
    np.testing.assert_array_equal(sheet[16:32:2, 12:24:2], video[5])  # row 1, column 1
    assert (sheet[32:, 24:] == 0).all()  # the two unused cells are black
