"""Leakage: later frames taking the training set's colours and backgrounds instead of frame 1's.

Ground-truth checks as for the other toy metrics: videos built from rendered scenes
whose answer is known (no leak, a full leak, a half leak, nothing measurable).
"""

from __future__ import annotations

import numpy as np
import pytest

from lamp_motion.data.toy.motions import MOTIONS
from lamp_motion.data.toy.scene import ALL_BACKGROUNDS, BACKGROUND_FAMILIES, COLOURS, Scene, draw
from lamp_motion.data.toy.sets import first_frame, resolve_options, sample_clips
from lamp_motion.metrics.toy import METRICS, TrainingPalette, leakage, palette_from_videos, score_video, summarise

TRAINING_COLOURS = ("red", "blue")


@pytest.fixture(scope="module")
def palette() -> TrainingPalette:
    """A user-like training set: red and blue objects on plain pale backgrounds."""
    options = resolve_options("move_right", 0, colours=list(TRAINING_COLOURS), backgrounds="pale", texture="none")
    return palette_from_videos([clip.render(4, 32) for clip in sample_clips("move_right", 8, 0, options=options)])


def scenes_of(seed: int, colour: str = "purple", background: str = "dark_green", texture: str = "none") -> list[Scene]:
    """The 16 scenes of a move_right clip of unseen content (by default: purple on dark green)."""
    _, clip = first_frame("move_right", seed=seed, colour=colour, background=background, texture=texture)
    return MOTIONS["move_right"].scenes(clip.start, 16, clip.params)


def video(scenes: list[Scene], later=lambda scene: scene) -> np.ndarray:
    """Frame 0 as rendered; frames 1.. rendered from ``later(scene)`` (an image or a scene)."""
    frames = [draw(scenes[0], 32)]
    for scene in scenes[1:]:
        changed = later(scene)
        frames.append(changed if isinstance(changed, np.ndarray) else draw(changed, 32))
    return np.stack(frames)


def blend(first: Scene, second: Scene) -> np.ndarray:
    """The 50% mix of two renders: a colour (or background) half way between theirs."""
    return np.rint((draw(first, 32).astype(float) + draw(second, 32)) / 2).astype(np.uint8)


def test_palette_measures_the_training_colours(palette) -> None:
    assert len(palette.objects) == 8 and len(palette.backgrounds) == 8
    for measured in palette.objects:
        assert min(np.abs(measured - COLOURS[name]).max() for name in TRAINING_COLOURS) <= 2
    pale = {ALL_BACKGROUNDS[name] for name in BACKGROUND_FAMILIES["pale"]}
    assert {tuple(int(v) for v in b) for b in palette.backgrounds} <= pale


@pytest.mark.parametrize("background, texture", [("dark_green", "none"), ("navy", "striped"), ("black", "mixed")])
def test_unseen_ground_truth_does_not_leak(palette, background: str, texture: str) -> None:
    for seed in range(3):
        assert leakage(video(scenes_of(seed, "purple", background, texture)), palette) < 0.05


def test_training_colour_and_background_in_later_frames_leak_fully(palette) -> None:
    for seed in range(3):
        swapped = video(scenes_of(seed), lambda s: s.moved(colour="red", background="white"))
        assert leakage(swapped, palette) > 0.9


def test_half_way_colour_or_background_leaks_half(palette) -> None:
    for seed in range(3):
        colour = video(scenes_of(seed), lambda s: blend(s, s.moved(colour="red")))
        assert leakage(colour, palette) == pytest.approx(0.5, abs=0.1)
        ground = video(scenes_of(seed, colour="orange"), lambda s: blend(s, s.moved(background="beige")))
        assert leakage(ground, palette) == pytest.approx(0.5, abs=0.1)


def test_a_frame_leaks_as_much_as_its_more_leaked_part(palette) -> None:
    scenes = scenes_of(4)
    background_only = leakage(video(scenes, lambda s: s.moved(background="off_white")), palette)
    both = leakage(video(scenes, lambda s: s.moved(colour="blue", background="off_white")), palette)
    assert background_only > 0.9 and both > 0.9
    half_frames = video(scenes, lambda s: s.moved(background="off_white") if s.x > scenes[8].x - 1e-9 else s)
    assert leakage(half_frames, palette) == pytest.approx(8 / 15, abs=0.05)  # frames 8..15 of 1..15 leak


def test_frame_one_already_in_training_content_is_not_counted(palette) -> None:
    # Frame 1 shows a training colour on a training background: nothing can be measured, even
    # though the object then takes the other training colour.
    trained_look = video(scenes_of(5, colour="red", background="white"), lambda s: s.moved(colour="blue"))
    assert leakage(trained_look, palette) == 0.0
    # A training colour on an unseen background: only the background part is measured, and a
    # half-way background scores 0.5 whatever the (unmeasured) object does.
    scenes = scenes_of(5, colour="red")
    held = video(scenes, lambda s: blend(s, s.moved(background="pale_blue")))
    assert leakage(held, palette) == pytest.approx(0.5, abs=0.1)
    red_only = TrainingPalette(objects=np.array([COLOURS["red"]]), backgrounds=np.empty((0, 3)))
    assert leakage(video(scenes, lambda s: s.moved(colour="blue")), red_only) == 0.0


def test_lost_object_frames_count_only_their_background(palette) -> None:
    scenes = scenes_of(6)
    frames = video(scenes)
    frames[8:] = frames[0, 0, 0]  # the object vanishes; the background stays dark green
    assert leakage(frames, palette) < 0.05
    frames[8:] = ALL_BACKGROUNDS["white"]  # ... and the background turns into a training one
    assert leakage(frames, palette) == pytest.approx(8 / 15, abs=0.05)


def test_score_video_adds_leakage_only_with_a_palette(palette) -> None:
    frames = video(scenes_of(7), lambda s: blend(s, s.moved(colour="red")))
    plain = score_video(frames, "move_right")
    scored = score_video(frames, "move_right", palette=palette)
    assert set(plain) == set(METRICS) and scored == {**plain, "leakage": leakage(frames, palette)}
    first = draw(scenes_of(7)[0], 32)
    with_first = score_video(frames[1:], "move_right", first_frame=first, palette=palette)
    assert with_first["leakage"] == leakage(np.concatenate([first[None], frames[1:]]), palette)
    summary = summarise([plain, scored])
    assert summary["motion_fidelity"]["count"] == 2 and summary["leakage"]["count"] == 1


def test_palette_input_errors() -> None:
    with pytest.raises(ValueError, match="at least one training video"):
        palette_from_videos([])
    with pytest.raises(ValueError, match=r"must be \(n, 3\) RGB colours"):
        TrainingPalette(objects=np.zeros((2, 4)), backgrounds=np.zeros((1, 3)))
