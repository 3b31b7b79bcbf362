"""Objective toy-world metrics: ground truth scores high, wrong or broken videos score low."""

from __future__ import annotations

import numpy as np
import pytest

from lamp_motion.data.toy.motions import MOTIONS, render_clip
from lamp_motion.data.toy.scene import Scene, draw
from lamp_motion.data.toy.sets import first_frame
from lamp_motion.metrics.toy import METRICS, motion_fidelity, preservation_checks, score_video, summarise, track_object
from lamp_motion.video_io import read_video, write_video

TRANSLATIONS = ("move_right", "move_left", "move_up", "move_down", "diagonal")


def ground_truth(motion: str, seed: int, size: int = 32, frames: int = 16, **content: str) -> np.ndarray:
    _, clip = first_frame(motion, seed=seed, **content)
    return clip.render(frames, size)


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_ground_truth_scores_high(motion: str) -> None:
    for seed, size, frames in ((0, 32, 16), (1, 32, 24), (2, 64, 16), (3, 64, 12)):
        scores = score_video(ground_truth(motion, seed, size, frames), motion)
        assert set(scores) == set(METRICS) and all(0.0 <= value <= 1.0 for value in scores.values())
        assert scores["motion_fidelity"] >= 0.9, (seed, size, scores)
        assert scores["content_preservation"] >= 0.9, (seed, size, scores)
        assert scores["object_found"] == 1.0 and scores["background_stability"] >= 0.99, (seed, size, scores)
        assert scores["temporal_smoothness"] >= (0.4 if motion == "bounce" else 0.8), (seed, size, scores)


def test_wrong_translation_scores_low() -> None:
    for motion in TRANSLATIONS:
        track = track_object(ground_truth(motion, seed=4))
        for other in TRANSLATIONS:
            if other != motion:
                assert motion_fidelity(track, other) < 0.5, (motion, other)


def test_grow_and_shrink_are_told_apart_and_reversal_flips_them() -> None:
    grows = ground_truth("grow", seed=5)
    assert score_video(grows, "shrink")["motion_fidelity"] < 0.5
    assert score_video(grows[::-1].copy(), "shrink")["motion_fidelity"] >= 0.9
    assert score_video(ground_truth("shrink", seed=5), "grow")["motion_fidelity"] < 0.5


def test_reversed_orbit_rotation_and_a_plain_fall_score_low() -> None:
    assert score_video(ground_truth("orbit", 6)[::-1].copy(), "orbit")["motion_fidelity"] < 0.5
    assert score_video(ground_truth("rotate", 6)[::-1].copy(), "rotate")["motion_fidelity"] < 0.5
    assert score_video(ground_truth("move_down", 6), "bounce")["motion_fidelity"] < 0.5
    assert score_video(ground_truth("move_right", 6), "orbit")["motion_fidelity"] < 0.5


def test_static_video_has_no_motion() -> None:
    frame = draw(Scene(shape="arrow", colour="green", background="grey", texture=0.5, x=0.5, y=0.4, size=0.4), 32)
    still = np.stack([frame] * 12)
    for motion in MOTIONS:
        assert score_video(still, motion)["motion_fidelity"] < 0.5, motion
    assert score_video(still, "move_right")["content_preservation"] == 1.0


def test_rotation_of_a_circle_is_invisible() -> None:
    spinning = render_clip("rotate", Scene(shape="circle", size=0.4), 12, 32, params={"degrees": 180.0})
    assert score_video(spinning, "rotate")["motion_fidelity"] == 0.0


def test_colour_change_midway_breaks_content_preservation() -> None:
    _, clip = first_frame("move_right", seed=7, colour="red")
    scenes = MOTIONS["move_right"].scenes(clip.start, 24, clip.params)
    recoloured = [scene.moved(colour="blue") if index >= 8 else scene for index, scene in enumerate(scenes)]
    video = np.stack([draw(scene, 32) for scene in recoloured])
    scores = score_video(video, "move_right")
    assert scores["content_preservation"] < 0.5 and scores["motion_fidelity"] >= 0.9
    # a hue as close as the palette has (yellow -> orange) is caught as well
    near = [scene.moved(colour="orange" if index >= 8 else "yellow") for index, scene in enumerate(scenes)]
    assert score_video(np.stack([draw(scene, 32) for scene in near]), "move_right")["content_preservation"] < 0.5


def test_shape_change_breaks_content_preservation() -> None:
    _, clip = first_frame("move_up", seed=8, shape="circle")
    scenes = MOTIONS["move_up"].scenes(clip.start, 16, clip.params)
    changed = [scene.moved(shape="square") if index >= 4 else scene for index, scene in enumerate(scenes)]
    video = np.stack([draw(scene, 64) for scene in changed])
    assert score_video(video, "move_up")["content_preservation"] < 0.5


def test_preservation_checks_name_what_changed() -> None:
    _, clip = first_frame("move_up", seed=8, shape="circle", colour="red")
    scenes = MOTIONS["move_up"].scenes(clip.start, 16, clip.params)
    changed = [scene.moved(shape="square") if 4 <= index < 8 else scene.moved(colour="blue") if index >= 12 else scene
               for index, scene in enumerate(scenes)]
    video = np.stack([draw(scene, 64) for scene in changed])
    video[10] = video[0, 0, 0]  # the object vanishes in one frame
    checks = preservation_checks(track_object(video))  # frames 1..15
    later = np.arange(1, 16)
    assert np.array_equal(checks["found"], later != 10)
    assert np.array_equal(checks["shape"], ((later < 4) | (later >= 8)) & (later != 10))
    assert np.array_equal(checks["hue"], (later < 12) & (later != 10))
    kept = (checks["hue"] & checks["shape"]).mean()
    assert kept == score_video(video, "move_up")["content_preservation"] == 6 / 15


def test_lost_object_and_changing_background() -> None:
    video = ground_truth("move_left", seed=9, frames=16, background="grey")
    background = video[0, 0, 0]
    faded = video.copy()
    faded[8:] = background  # the object vanishes halfway
    scores = score_video(faded, "move_left")
    assert scores["object_found"] == 0.5 and scores["motion_fidelity"] < 0.5
    flicker = video.copy()
    flicker[1::2] = np.clip(flicker[1::2].astype(int) + 60, 0, 255).astype(np.uint8)
    scores = score_video(flicker, "move_left")
    assert scores["background_stability"] < 0.6 and scores["object_found"] == 1.0


def test_jittery_path_is_not_smooth() -> None:
    _, clip = first_frame("move_right", seed=10)
    scenes = MOTIONS["move_right"].scenes(clip.start, 16, clip.params)
    offsets = np.random.default_rng(0).normal(0.0, 0.03, size=(16, 2))
    shaken = [scene.moved(x=scene.x + dx, y=scene.y + dy) for scene, (dx, dy) in zip(scenes, offsets)]
    jittery = score_video(np.stack([draw(scene, 32) for scene in shaken]), "move_right")
    assert jittery["temporal_smoothness"] < 0.6


def test_mp4_round_trip_keeps_scores_high(tmp_path) -> None:
    cases = (("orbit", 64), ("bounce", 64), ("shrink", 64), ("rotate", 64), ("move_left", 32), ("grow", 32))
    for motion, size in cases:
        write_video(tmp_path / "clip.mp4", ground_truth(motion, seed=11, size=size, shape="square"), 8)
        frames, _ = read_video(tmp_path / "clip.mp4")
        scores = score_video(frames, motion)
        assert scores["motion_fidelity"] >= 0.9, (motion, scores)
        assert scores["content_preservation"] >= (0.9 if size == 64 else 0.6), (motion, scores)


def test_first_frame_argument_is_the_reference() -> None:
    image, clip = first_frame("move_down", seed=12)
    video = clip.render(12, 32)
    assert score_video(video, "move_down", first_frame=image)["content_preservation"] == 1.0
    other, _ = first_frame("move_down", seed=12, colour="green" if clip.start.colour != "green" else "red")
    assert score_video(video, "move_down", first_frame=other)["content_preservation"] == 0.0


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="at least 4 frames"):
        score_video(ground_truth("grow", 0, frames=3), "grow")
    with pytest.raises(ValueError, match="uint8"):
        score_video(ground_truth("grow", 0).astype(np.float32), "grow")
    with pytest.raises(ValueError, match="choose one of move_right"):
        score_video(ground_truth("grow", 0), "explode")


def test_summarise() -> None:
    summary = summarise([{"motion_fidelity": 1.0, "object_found": 1.0}, {"motion_fidelity": 0.5, "object_found": 1.0}])
    assert summary["motion_fidelity"] == {"mean": 0.75, "std": 0.25, "count": 2.0}
    with pytest.raises(ValueError, match="at least one"):
        summarise([])


def test_frame1_kept_counts_frames_that_keep_colour_and_background() -> None:
    _, clip = first_frame("move_right", seed=3, colour="yellow", background="off_white", texture="none")
    scenes = MOTIONS["move_right"].scenes(clip.start, 16, clip.params)
    video = np.stack([draw(scene, 32) for scene in scenes])
    assert score_video(video, "move_right")["frame1_kept"] == 1.0
    # frames 6.. take another background (the base's grey): 5 of the 15 later frames keep frame 1
    regrounded = [scene.moved(background="grey") if index >= 6 else scene for index, scene in enumerate(scenes)]
    scores = score_video(np.stack([draw(scene, 32) for scene in regrounded]), "move_right")
    assert scores["frame1_kept"] == pytest.approx(5 / 15) and scores["content_preservation"] > 0.9
    # frames 11.. take another object colour: 10 of 15 keep it
    recoloured = [scene.moved(colour="red") if index >= 11 else scene for index, scene in enumerate(scenes)]
    assert score_video(np.stack([draw(scene, 32) for scene in recoloured]), "move_right")["frame1_kept"] == pytest.approx(10 / 15)
