"""Toy motions, motion sets and the ``lamp toy`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamp_motion.cli.main import main
from lamp_motion.data.toy.motions import MARGIN, MOTIONS, bounce_height, render_clip
from lamp_motion.data.toy.scene import Scene
from lamp_motion.data.toy.sets import SET_FILE, first_frame, make_set, read_set, sample_clips
from lamp_motion.video_io import read_video

PROMPTS = {
    "move_right": "moves right",
    "move_left": "moves left",
    "move_up": "moves up",
    "move_down": "moves down",
    "diagonal": "moves diagonally",
    "orbit": "circles around",
    "grow": "grows",
    "shrink": "shrinks",
    "rotate": "rotates",
    "bounce": "falls and bounces",
}


def test_registry_has_exactly_the_agreed_names_and_prompts() -> None:
    assert {name: motion.prompt for name, motion in MOTIONS.items()} == PROMPTS


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_sampled_clips_stay_inside_the_frame(name: str) -> None:
    motion = MOTIONS[name]
    rng = np.random.default_rng(1)
    for _ in range(20):
        start, params = motion.sample(rng)
        for scene in motion.scenes(start, 24, params):
            radius = scene.size / 2
            assert MARGIN - 1e-9 <= scene.x - radius and scene.x + radius <= 1 - MARGIN + 1e-9
            assert MARGIN - 1e-9 <= scene.y - radius and scene.y + radius <= 1 - MARGIN + 1e-9
            assert scene.size >= 0.2 - 1e-9


def test_speed_is_constant_within_a_video_and_varies_across_videos() -> None:
    rng = np.random.default_rng(0)
    distances = []
    for _ in range(8):
        start, params = MOTIONS["move_right"].sample(rng)
        xs = np.array([scene.x for scene in MOTIONS["move_right"].scenes(start, 12, params)])
        assert np.allclose(np.diff(xs), params["distance"] / 11)
        distances.append(params["distance"])
    assert 0.3 <= min(distances) < max(distances) <= 0.5 and max(distances) - min(distances) > 0.05


def test_orbit_and_rotate_turn_counter_clockwise_on_screen() -> None:
    start = Scene(x=0.7, y=0.5, size=0.2)
    quarter = MOTIONS["orbit"].scenes(start, 2, {"radius": 0.2, "phase": 0.0, "sweep": 90.0})[1]
    assert quarter.x == pytest.approx(0.5) and quarter.y == pytest.approx(0.3)  # right of the centre -> above it
    turned = MOTIONS["rotate"].scenes(Scene(shape="arrow", angle=350.0), 2, {"degrees": 20.0})[1]
    assert turned.angle == pytest.approx(10.0)


def test_bounce_falls_from_rest_hits_the_floor_and_rebounds_lower() -> None:
    start, params = Scene(y=0.2, size=0.2), {"impact": 0.4, "restitution": 0.6}
    floor = 1 - MARGIN - 0.1
    heights = [bounce_height(start, params, t) for t in np.linspace(0, 1, 101)]
    assert heights[0] == pytest.approx(0.2) and heights[1] - heights[0] < heights[2] - heights[1]
    assert heights[40] == pytest.approx(floor) and max(heights) <= floor + 1e-12
    apex = min(heights[41:])
    assert apex == pytest.approx(floor - 0.6**2 * (floor - 0.2))


def test_render_clip_shape_and_errors() -> None:
    clip = render_clip("grow", Scene(size=0.2), 5, 32, 48)
    assert clip.shape == (5, 32, 48, 3) and clip.dtype == np.uint8
    with pytest.raises(ValueError, match="move_right, move_left"):
        render_clip("spin", Scene(), 5)
    with pytest.raises(ValueError, match="no parameter"):
        render_clip("grow", Scene(), 5, params={"speed": 2.0})
    with pytest.raises(ValueError, match="at least 2 frames"):
        render_clip("grow", Scene(), 1)


def test_sample_clips_vary_content_and_respect_restrictions() -> None:
    clips = sample_clips("move_up", 12, seed=3)
    assert len({c.start.colour for c in clips}) == 6 and len({c.start.shape for c in clips}) == 4
    assert len({c.start.background for c in clips}) == 4 and len({round(c.start.x, 6) for c in clips}) == 12
    held_out = sample_clips("move_up", 12, seed=3, shapes=["circle", "square"], colours=["red"])
    assert {c.start.shape for c in held_out} == {"circle", "square"} and {c.start.colour for c in held_out} == {"red"}
    assert {c.start.shape for c in sample_clips("rotate", 9)} == {"square", "triangle", "arrow"}
    with pytest.raises(ValueError, match="square, triangle, arrow"):
        sample_clips("rotate", 3, shapes=["circle"])
    with pytest.raises(ValueError, match="colours"):
        sample_clips("move_up", 3, colours=["pink"])


def test_make_set_is_deterministic_for_a_seed(tmp_path) -> None:
    options = dict(num_videos=3, num_frames=6, height=32, width=32)
    make_set("diagonal", tmp_path / "a", seed=5, **options)
    make_set("diagonal", tmp_path / "b", seed=5, **options)
    make_set("diagonal", tmp_path / "c", seed=6, **options)
    description, videos = read_set(tmp_path / "a")
    assert description["prompt"] == "moves diagonally" and len(videos) == 3
    assert (tmp_path / "a" / SET_FILE).read_text() == (tmp_path / "b" / SET_FILE).read_text()
    assert (tmp_path / "a" / SET_FILE).read_text() != (tmp_path / "c" / SET_FILE).read_text()
    for name in ("video_000.mp4", "video_002.mp4"):
        same, _ = read_video(tmp_path / "a" / name)
        again = read_video(tmp_path / "b" / name)[0]
        # the same frames, up to the mp4 encoder: one CI run decoded a few levels apart once
        assert same.shape == again.shape and np.abs(same.astype(int) - again.astype(int)).mean() < 1.0
        assert not np.array_equal(same, read_video(tmp_path / "c" / name)[0])
    path, clip = videos[0]
    frames, fps = read_video(path)
    assert frames.shape == (6, 32, 32, 3) and fps == pytest.approx(8.0)
    assert np.abs(frames.astype(int) - clip.render(6, 32)).mean() < 3  # the file shows the described clip
    entry = json.loads((tmp_path / "a" / SET_FILE).read_text())["videos"][0]
    assert entry["caption"] == f"a {clip.start.colour} {clip.start.shape} moves diagonally"


def test_make_set_refuses_a_folder_in_use(tmp_path) -> None:
    (tmp_path / "old.mp4").write_bytes(b"")
    with pytest.raises(FileExistsError, match="new folder"):
        make_set("grow", tmp_path, num_videos=1, num_frames=4)


def test_first_frame_starts_the_clip_it_returns() -> None:
    image, clip = first_frame("move_left", seed=2, shape="arrow", colour="blue", height=64)
    assert image.shape == (64, 64, 3) and clip.start.shape == "arrow" and clip.start.colour == "blue"
    assert clip.start.x > 0.5  # room to move left
    assert np.array_equal(image, clip.render(4, 64)[0])


def test_cli_make_set_and_list_motions(tmp_path, capsys) -> None:
    arguments = ["--videos", "2", "--frames", "4", "--size", "16"]
    assert main(["toy", "make-set", "bounce", str(tmp_path / "set"), *arguments]) == 0
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == [SET_FILE, "video_000.mp4", "video_001.mp4"]
    assert main(["toy", "make-set", "hop", str(tmp_path / "other")]) == 2
    assert "unknown motion 'hop'; choose one of move_right" in capsys.readouterr().err
    assert main(["toy", "list-motions"]) == 0
    assert "falls and bounces" in capsys.readouterr().out
