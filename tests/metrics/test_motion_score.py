"""The motion-fidelity score: the same motion scores high, another or none low, reversed motion lowest."""

from __future__ import annotations

import numpy as np
import pytest

from lamp_motion.data.toy.motions import render_clip
from lamp_motion.data.toy.sets import sample_clips
from lamp_motion.metrics.motion import (
    MotionScoreError,
    motion_score,
    reference_tracks,
    similarity,
    split_motion,
    track_points,
)


def panned_footage(frames: int = 20, height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """Camera-like footage: a window panning right and down over a smooth random texture, with a bright box moving left."""
    import cv2

    rng = np.random.default_rng(seed)
    world = cv2.GaussianBlur(rng.integers(0, 256, (height + 3 * frames, width + 3 * frames, 3)).astype(np.uint8),
                             (0, 0), 2.0)
    video = np.stack([world[i:i + height, 2 * i:2 * i + width] for i in range(frames)])
    for i in range(frames):
        left = width - 20 - 3 * i
        video[i, 20:32, max(0, left):max(0, left + 12)] = (250, 240, 30)
    return video


@pytest.fixture(scope="module")
def move_right_refs():
    return reference_tracks([clip.render(16) for clip in sample_clips("move_right", 4, seed=1)])


def test_similarity_is_one_for_equal_minus_one_for_opposite_and_zero_against_still():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.05, (15, 2))
    assert similarity(a, a) == pytest.approx(1.0)
    assert similarity(a, -a) == pytest.approx(-1.0, abs=0.01)
    assert abs(similarity(a, np.zeros_like(a))) < 0.01
    assert similarity(np.zeros_like(a), np.zeros_like(a)) == pytest.approx(1.0)  # both still: they agree


def test_toy_same_motion_beats_another_beats_still_and_reversed(move_right_refs):
    clip = sample_clips("move_right", 1, seed=7)[0]
    truth = clip.render(16)
    scores = {name: motion_score(frames, move_right_refs).score for name, frames in {
        "truth": truth, "other": render_clip("move_up", clip.start, 16), "still": np.repeat(truth[:1], 16, axis=0),
        "reversed": truth[::-1].copy()}.items()}
    assert scores["truth"] > 0.85
    assert scores["truth"] > scores["other"] + 0.2
    assert scores["other"] > scores["still"] + 0.2 and scores["other"] > scores["reversed"] + 0.2
    assert scores["still"] < 0.2 and scores["reversed"] < 0.2


def test_toy_rotation_reversed_turns_the_other_way():
    refs = reference_tracks([clip.render(16) for clip in sample_clips("rotate", 4, seed=1)])
    truth = sample_clips("rotate", 1, seed=7)[0].render(16)
    same, backwards = motion_score(truth, refs), motion_score(truth[::-1].copy(), refs)
    still = motion_score(np.repeat(truth[:1], 16, axis=0), refs)
    assert same.score > 0.6 and same.comparison.deformation_score > 0.7
    assert backwards.comparison.deformation_score < -0.5  # it turns the other way
    assert backwards.score < same.score - 0.3 and still.score < 0.2


def test_footage_camera_motion_is_global_and_the_box_local():
    tracks = track_points(panned_footage())
    camera, local = split_motion(tracks)
    side = 96
    assert np.allclose(np.median(camera, axis=0) * side, (-2.0, -1.0), atol=0.3)  # the scene moves left and up
    norms = np.linalg.norm(local, axis=2).sum(axis=1) * side
    assert norms.max() > 12  # the box moves against the scene (1 px a frame more than it, 19 steps)
    assert np.median(norms) < 5  # the scene itself has no motion of its own


def test_footage_against_itself_shifted_in_time_and_reversed():
    footage = panned_footage()
    refs = reference_tracks([footage[:16]])
    shifted = motion_score(footage[3:19], refs)
    backwards = motion_score(footage[:16][::-1].copy(), refs)
    still = motion_score(np.repeat(footage[:1], 16, axis=0), refs)
    assert shifted.score > 0.85
    assert backwards.score < -0.5
    assert still.score < 0.3 and backwards.score < still.score
    longer = motion_score(footage, refs)  # a longer video is matched at its best time offset
    assert longer.score > 0.85 and 0 <= longer.comparison.offset <= 4


def test_tracker_hook_takes_a_function_and_refuses_a_model_folder(tmp_path):
    footage = panned_footage(frames=8)

    def still_tracker(frames):
        points = np.tile(np.array([[10.0, 10.0], [50.0, 20.0], [80.0, 40.0]])[:, None], (1, len(frames), 1))
        return points, np.ones(points.shape[:2], dtype=bool)

    tracks = track_points(footage, still_tracker)
    assert tracks.points.shape == (3, 8, 2) and np.allclose(tracks.steps, 0)
    with pytest.raises(MotionScoreError, match="no tracker-model format is supported"):
        track_points(footage, tmp_path)
    with pytest.raises(MotionScoreError, match=r"must return \(n, 8, 2\)"):
        track_points(footage, lambda frames: (np.zeros((3, 2)), np.ones(3, dtype=bool)))
    with pytest.raises(MotionScoreError, match="at least one reference clip"):
        reference_tracks([])


def turning_globe() -> np.ndarray:
    """Real footage: gradio's sample video of the Earth turning (480x270, 30 fps), read as a user's file, at 160x90."""
    from pathlib import Path

    gradio = pytest.importorskip("gradio", reason="the test extra installs gradio, whose sample videos this reads")
    path = Path(gradio.__file__).parent / "media_assets" / "videos" / "world.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is not in this gradio version")
    from PIL import Image

    from lamp_motion.video_io import read_video

    frames, _ = read_video(path, stop_after=300, fit=lambda frame: np.asarray(Image.fromarray(frame).resize((160, 90))))
    return frames


def test_real_footage_a_turning_globe_against_itself_shifted_reversed_and_still():
    footage = turning_globe()[::10]  # 3 frames a second: the surface moves about a pixel a frame at this size
    refs = reference_tracks([footage[:16]])
    shifted = motion_score(footage[4:20], refs).score
    backwards = motion_score(footage[:16][::-1].copy(), refs).score
    still = motion_score(np.repeat(footage[:1], 16, axis=0), refs).score
    assert shifted > 0.9
    assert still < 0.3 and backwards < still
