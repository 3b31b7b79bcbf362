"""`lamp prepare` on a folder of the raw videos users have: every one upright, constant-rate, reported."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from lamp_motion.cli.main import main
from lamp_motion.data import scan_videos
from lamp_motion.jobs.prepare import PrepareSettings, prepare_videos
from lamp_motion.video_io import read_video, write_video

SIZE = 32  # clip size of the tests


def scene_at(times: list[float], height: int = 48, width: int = 80, colour=(230, 40, 40),
             background=(20, 30, 90)) -> np.ndarray:
    """An upright landscape scene at the given times (seconds): a square moving right at 16 pixels per second."""
    frames = np.empty((len(times), height, width, 3), np.uint8)
    frames[:] = background
    for index, time in enumerate(times):
        x = int(16 + 16 * time) % (width - 8)
        frames[index, height // 2 - 4:height // 2 + 4, x:x + 8] = colour
    return frames


def square_moving_right(count: int, fps: float = 8, **scene) -> np.ndarray:
    return scene_at([i / fps for i in range(count)], **scene)


def encode(path: Path, frames: np.ndarray, times: list[float], codec: str = "libx264", pix_fmt: str = "yuv420p",
           rotation: int | None = None, audio: bool = False) -> Path:
    """Write ``frames`` with PyAV at the given timestamps (seconds); ``rotation``: display matrix degrees (ccw)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        stream.options = {"x265-params": "log-level=none"} if codec == "libx265" else {}
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if audio:
            sound = container.add_stream("aac", rate=8000)
        for frame, time in zip(frames, times):
            encoded = av.VideoFrame.from_ndarray(frame, format="rgb24")
            encoded.pts, encoded.time_base = round(time * 1000), Fraction(1, 1000)
            container.mux(stream.encode(encoded))
        container.mux(stream.encode())
        if audio:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 8000, 0
            container.mux(sound.encode(samples))
            container.mux(sound.encode())
    return path


def make_raw_folder(folder: Path, long_seconds: int = 180) -> Path:
    """A rotated phone clip with audio, a VFR clip, a 10-bit mkv, a webm, a gif, a long clip, a caption and junk."""
    folder.mkdir(parents=True)
    upright = square_moving_right(24)
    # Portrait phone clip: the camera stores the frames turned a quarter clockwise-back; the display matrix says
    # "turn 90 degrees clockwise" (-90 counter-clockwise) to show them upright.
    stored = np.ascontiguousarray(np.rot90(upright, k=1, axes=(1, 2)))
    encode(folder / "phone.mov", stored, [i / 8 for i in range(24)], rotation=-90, audio=True)
    # Variable frame rate: 1 s at 16 fps, then 1 s at 8 fps; read evenly spaced, the square would double its speed.
    vfr_times = [i / 16 for i in range(16)] + [1 + i / 8 for i in range(8)]
    encode(folder / "vfr.mp4", scene_at(vfr_times), vfr_times)
    encode(folder / "deep.mkv", upright, [i / 8 for i in range(24)], codec="libx265", pix_fmt="yuv420p10le")
    encode(folder / "web.webm", upright, [i / 8 for i in range(24)], codec="libvpx-vp9")
    write_video(folder / "loop.gif", upright[:16], 8)
    encode(folder / "long.mp4", square_moving_right(long_seconds * 2, fps=2, height=24, width=40),
           [i / 2 for i in range(long_seconds * 2)])  # cheap: tiny and 2 fps
    (folder / "web.txt").write_text("a red square slides right on the web\n")
    (folder / "notes.doc").write_text("not a video")
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    raw = make_raw_folder(root / "square_moves_right")
    settings = PrepareSettings(raw, root / "out", fps=8, frames=8, height=SIZE, width=SIZE, max_clips_per_video=2)
    return settings, prepare_videos(settings)


def rows_by_source(result) -> dict:
    return {row.source: row for row in result.rows}


def square_x(frame: np.ndarray) -> float:
    red = (frame[..., 0] > 150) & (frame[..., 2] < 120)
    return float(np.nonzero(red)[1].mean())


def test_every_kind_of_source_gives_upright_constant_rate_clips(prepared) -> None:
    settings, result = prepared
    rows = rows_by_source(result)
    for name in ("phone.mov", "vfr.mp4", "deep.mkv", "web.webm", "loop.gif", "long.mp4"):
        assert rows[name].status == "used" and len(rows[name].clips) == 2, (name, rows[name])
        for clip in rows[name].clips:
            frames, fps = read_video(result.clips_dir / clip)
            assert frames.shape == (8, SIZE, SIZE, 3) and fps == pytest.approx(8)
            if name != "long.mp4":  # its 2 fps source moves in steps of 4 frames
                steps = np.diff([square_x(frame) for frame in frames])
                # 16 px/s in the source is 1.33 px per clip frame: one steady speed, upright and left to right
                assert np.all((steps > 0.3) & (steps < 2.4)), (clip, steps)
    assert rows["phone.mov"].rotation == 270 and rows["phone.mov"].size_in == "80x48"
    assert "audio track ignored" in rows["phone.mov"].notes
    assert any(note.startswith("variable frame rate") for note in rows["vfr.mp4"].notes)
    assert any("yuv420p10le" in note for note in rows["deep.mkv"].notes)
    assert rows["long.mp4"].fps_in == pytest.approx(2, abs=0.01) and len(rows["long.mp4"].clips) == 2
    assert any(note.startswith("stopped after 2 clips") for note in rows["long.mp4"].notes)


def test_bad_files_are_skipped_with_reasons_and_the_report_lists_every_source(prepared) -> None:
    settings, result = prepared
    rows = rows_by_source(result)
    assert rows["broken.mp4"].status == "skipped" and "corrupt or not a video" in rows["broken.mp4"].reason
    assert rows["notes.doc"].status == "skipped" and "not a video" in rows["notes.doc"].reason
    report = json.loads(result.report_json.read_text())
    assert {row["source"] for row in report["sources"]} == set(rows)
    markdown = result.report_md.read_text()
    assert "| phone.mov | used | 90 cw | 80x48 |" in markdown and f"data={result.clips_dir}" in markdown
    for row in result.rows:
        for clip in row.clips:
            assert Image.open(settings.out_dir / "sheets" / f"{Path(clip).stem}.png").size == (8 * 128, 128)


def test_the_trainer_reads_the_set_with_its_prompt_and_captions(prepared) -> None:
    _, result = prepared
    video_set = scan_videos(result.clips_dir, num_frames=8, stride=1, height=SIZE, width=SIZE)
    assert video_set.prompt == "square moves right" and not video_set.problems
    prompts = {item.path.name: item.prompt for item in video_set.videos}
    assert prompts["web-webm-00.mp4"] == "a red square slides right on the web"
    assert prompts["phone-mov-00.mp4"] == "square moves right"


def test_a_rerun_reuses_unchanged_sources_and_redoes_changed_ones(prepared, capsys) -> None:
    settings, first = prepared
    clip = first.clips_dir / "phone-mov-00.mp4"
    stamp = clip.stat().st_mtime_ns
    write_video(settings.raw_dir / "loop.gif", square_moving_right(6), 8)  # now too short for a clip
    again = prepare_videos(settings)
    rows = rows_by_source(again)
    assert clip.stat().st_mtime_ns == stamp and "clips reused" in rows["phone.mov"].notes[-1]
    assert rows["loop.gif"].status == "skipped" and rows["loop.gif"].reason.startswith("too short")
    assert again.removed == ["loop-gif-00.mp4", "loop-gif-01.mp4"]
    assert not list(again.clips_dir.glob("loop-gif-*")) and not list((settings.out_dir / "sheets").glob("loop-gif-*"))


def test_shot_cuts_split_clips(tmp_path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    first = square_moving_right(12)
    second = square_moving_right(12, colour=(40, 230, 40), background=(200, 200, 200))
    write_video(raw / "cut.mp4", np.concatenate([first, second]), 8)
    plain = prepare_videos(PrepareSettings(raw, tmp_path / "plain", frames=8, height=SIZE, width=SIZE))
    split = prepare_videos(PrepareSettings(raw, tmp_path / "split", frames=8, height=SIZE, width=SIZE,
                                           split_shots=True))
    assert len(plain.rows[0].clips) == 3  # frames 0-7, 8-15 (across the cut), 16-23
    assert len(split.rows[0].clips) == 2 and "1 shot cut(s) found" in split.rows[0].notes[-1]


def test_resize_modes_crop_stretch_and_pad(tmp_path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    wide = np.full((8, 16, 64, 3), 200, np.uint8)
    write_video(raw / "wide.mp4", wide, 8)
    made = {}
    for mode in ("crop", "stretch", "pad"):
        result = prepare_videos(PrepareSettings(raw, tmp_path / mode, frames=8, height=SIZE, width=SIZE, resize=mode))
        made[mode] = read_video(result.clips_dir / result.rows[0].clips[0])[0][0]
    assert made["crop"].mean() > 190 and made["stretch"].mean() > 190
    assert made["pad"][:8].mean() < 10 and made["pad"][12:20].mean() > 190  # black bars above and below


def test_cli_errors_are_one_paragraph(tmp_path, capsys) -> None:
    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "raw folder" in capsys.readouterr().err
    (tmp_path / "raw").mkdir()
    write_video(tmp_path / "raw" / "a.mp4", square_moving_right(4), 8)
    assert main(["prepare", str(tmp_path / "raw"), str(tmp_path / "out"), "--frames", "8"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no clip could be made") and "a.mp4: too short" in error
    assert main(["prepare", str(tmp_path / "raw"), str(tmp_path / "out"), "--width", "30"]) == 2
    assert "width=30 must be a positive multiple of 8" in capsys.readouterr().err
