"""A training folder with a FIFO or an over-long video: skipped with the reason, the rest read at the training size."""

from __future__ import annotations

import pytest

from lamp_motion.data import scan_videos
from lamp_motion.jobs.prepare import PrepareSettings, prepare_videos
from lamp_motion.video_io import write_video
from tests.helpers import make_fifo, video


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "moves"
    folder.mkdir()
    write_video(folder / "good.mp4", video(frames=12, height=32, width=48), 8)
    return folder


def test_a_fifo_named_x_mp4_is_skipped_with_the_reason(folder) -> None:
    make_fifo(folder / "x.mp4")
    with pytest.warns(UserWarning, match="skipped 1"):
        video_set = scan_videos(folder, num_frames=4, stride=1, height=16, width=16)
    assert [v.path.name for v in video_set.videos] == ["good.mp4"]
    [(path, reason)] = video_set.problems
    assert path.name == "x.mp4" and "FIFO (named pipe)" in reason


def test_frames_are_fitted_while_read_and_long_videos_are_skipped(folder) -> None:
    write_video(folder / "long.mp4", video(frames=40, height=32, width=48), 8)
    with pytest.warns(UserWarning, match="skipped 1"):
        video_set = scan_videos(folder, num_frames=4, stride=1, height=16, width=16, max_frames=20)
    assert video_set.videos[0].frames.shape == (12, 16, 16, 3)
    [(path, reason)] = video_set.problems
    assert path.name == "long.mp4"
    assert reason == "it has 40 frames (from its header), over the limit of 20; cut it shorter, or cut it into clips with `lamp prepare`"


def test_prepare_skips_a_fifo_with_the_reason(folder, tmp_path) -> None:
    make_fifo(folder / "x.mp4")
    result = prepare_videos(PrepareSettings(folder, tmp_path / "out", fps=8, frames=4, height=16, width=16))
    rows = {row.source: row for row in result.rows}
    assert rows["good.mp4"].status == "used"
    assert rows["x.mp4"].status == "skipped" and "FIFO (named pipe)" in rows["x.mp4"].reason
