"""Toy sets that look like a user's few clips: one look (few colours, one background family), any direction.

Left at their defaults the new options must give exactly the sets made before they
existed, since benchmarks and the built-in base model's results rest on them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict

import numpy as np
import pytest

from lamp_motion.cli.main import main
from lamp_motion.data.toy.motions import FIT, MARGIN, MOTIONS, Variation, get_motion, translation_at
from lamp_motion.data.toy.scene import (
    ALL_BACKGROUNDS,
    BACKGROUND_FAMILIES,
    BACKGROUNDS,
    COLOURS,
    EXTRA_BACKGROUNDS,
    SHAPES,
    Scene,
    draw,
)
from lamp_motion.data.toy.sets import SET_FILE, first_frame, make_set, read_set, resolve_options, sample_clips
from lamp_motion.metrics.toy import motion_fidelity, score_video, track_object

# sha256 of the start scenes, parameters and first 6 frames (32 px) of sample_clips(motion, 12, seed) and of
# first_frame(motion, seed) for every motion and seeds 0 and 1, computed with the code before the low-variety
# options existed (commit b42eabd). A change here means every existing set and benchmark result drifts.
PRE_OPTIONS_DIGEST = "1c36fdfb757a361b66ccde301bd83d152827f36f43caeb17c6e709110e53fc50"


def _default_digest() -> str:
    digest = hashlib.sha256()
    for motion in MOTIONS:
        for seed in (0, 1):
            for clip in sample_clips(motion, 12, seed):
                digest.update(json.dumps([asdict(clip.start), clip.params], sort_keys=True).encode())
                digest.update(clip.render(6, 32).tobytes())
            image, _ = first_frame(motion, seed=seed)
            digest.update(image.tobytes())
    return digest.hexdigest()


def test_default_sets_render_exactly_as_before_the_options() -> None:
    assert _default_digest() == PRE_OPTIONS_DIGEST


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_spelling_out_the_defaults_changes_nothing(motion: str) -> None:
    visible = [shape for shape in SHAPES if shape in MOTIONS[motion].shapes]
    spelled = resolve_options(motion, 4, visible, sorted(COLOURS), None, sorted(BACKGROUNDS), "mixed",
                              MOTIONS[motion].sizes, 1.0)
    assert sample_clips(motion, 9, seed=4, options=spelled) == sample_clips(motion, 9, seed=4)


def test_make_set_records_its_options_and_shows_the_described_clips(tmp_path) -> None:
    make_set("move_right", tmp_path / "default", num_videos=2, num_frames=4, seed=0)
    description, videos = read_set(tmp_path / "default")
    assert description["options"] == {"shapes": list(SHAPES), "colours": sorted(COLOURS), "num_colours": None,
                                      "backgrounds": sorted(BACKGROUNDS), "texture": "mixed",
                                      "size_range": [0.2, 0.3], "speed_scale": 1.0}
    assert [clip for _, clip in videos] == sample_clips("move_right", 2, seed=0)


def test_one_look_sets_deal_only_what_was_asked(tmp_path) -> None:
    options = resolve_options("move_up", seed=2, num_colours=2, backgrounds="pale", texture="none",
                              size_range=(0.12, 0.16), speed_scale=0.5)
    assert len(options.colours) == 2 and set(options.colours) < set(COLOURS)
    assert options.backgrounds == list(BACKGROUND_FAMILIES["pale"])
    clips = sample_clips("move_up", 16, seed=2, options=options)
    assert {c.start.colour for c in clips} == set(options.colours)
    assert {c.start.background for c in clips} == set(BACKGROUND_FAMILIES["pale"])
    assert all(c.start.texture == 0.0 and 0.12 <= c.start.size <= 0.16 for c in clips)
    assert all(0.15 <= c.params["distance"] <= 0.25 for c in clips)  # half of move_up's 0.3-0.5
    striped = sample_clips("move_up", 8, seed=2, options=resolve_options("move_up", 2, texture="striped"))
    assert all(c.start.texture > 0 for c in striped)
    # the colour subset depends on the seed, and a list of names picks exactly those backgrounds
    picks = {tuple(resolve_options("grow", seed, num_colours=3).colours) for seed in range(6)}
    assert len(picks) > 1
    assert resolve_options("grow", backgrounds=["dark", "beige", "navy"]).backgrounds == [
        *BACKGROUND_FAMILIES["dark"], "beige"]
    make_set("move_up", tmp_path / "look", num_videos=2, num_frames=4, seed=2, num_colours=2, backgrounds="pale",
             texture="none", size_range=(0.12, 0.16), speed_scale=0.5)
    recorded = json.loads((tmp_path / "look" / SET_FILE).read_text())["options"]
    assert recorded == asdict(options)


VARIATIONS = [Variation((0.1, 0.15), 0.5), Variation((0.1, 0.12), 1.5), Variation(None, 0.8), Variation((0.3, 0.4), 0.6)]


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_sizes_and_speeds_that_are_accepted_keep_the_object_in_frame(motion: str) -> None:
    moving, rng = MOTIONS[motion], np.random.default_rng(0)
    accepted = 0
    for variation in VARIATIONS:
        try:
            low, high = moving.size_range(variation)
        except ValueError:
            continue
        accepted += 1
        for _ in range(10):
            start, params = moving.sample(rng, variation=variation)
            assert low - 1e-9 <= start.size <= high + 1e-9
            for scene in moving.scenes(start, 24, params):
                radius = scene.size / 2
                assert MARGIN - 1e-9 <= scene.x - radius and scene.x + radius <= 1 - MARGIN + 1e-9, (variation, scene)
                assert MARGIN - 1e-9 <= scene.y - radius and scene.y + radius <= 1 - MARGIN + 1e-9, (variation, scene)
    assert accepted >= 2


def test_speed_scale_multiplies_the_travel() -> None:
    rng = np.random.default_rng(3)
    slow = [MOTIONS["move_left"].sample(rng, variation=Variation((0.1, 0.1), 0.5))[1]["distance"] for _ in range(20)]
    fast = [MOTIONS["move_left"].sample(rng, variation=Variation((0.1, 0.1), 1.5))[1]["distance"] for _ in range(20)]
    assert 0.15 <= min(slow) and max(slow) <= 0.25 and 0.45 <= min(fast) and max(fast) <= 0.75


@pytest.mark.parametrize("options, message", [
    (dict(speed_scale=2.0), "more than 0.94; lower the speed scale"),
    (dict(speed_scale=0.0), "speed scale must be a positive number"),
    (dict(size_range=(0.05, 0.2)), "size range must be LO,HI with 0.1 <= LO <= HI"),
    (dict(size_range=(0.3, 0.2)), "size range must be LO,HI"),
    (dict(num_colours=7), "num_colours must be 1 to 6"),
    (dict(colours=["red", "blue"], num_colours=3), "num_colours must be 1 to 2"),
    (dict(backgrounds="sepia"), r"a family \(pale, dark\) or names from black"),
    (dict(backgrounds=[]), "at least one family or background"),
    (dict(texture="wavy"), "texture must be one of mixed, none, striped"),
])
def test_impossible_options_are_refused_naming_the_option(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_options("move_right", **options)


@pytest.mark.parametrize("motion, options, message", [
    ("grow", dict(size_range=(0.3, 0.4)), "must start at most 0.227 of the side"),
    ("shrink", dict(size_range=(0.2, 0.3)), "must start at 0.44 of the side or more"),
    ("orbit", dict(size_range=(0.4, 0.5)), "sizes of at most 0.46"),
    ("bounce", dict(speed_scale=0.5), "use a speed scale of 0.562 or more"),
    ("bounce", dict(size_range=(0.5, 0.6)), "sizes must be at most 0.54"),
])
def test_each_motion_refuses_what_leaves_its_frame(motion: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_options(motion, **options)


def test_translation_at_any_angle() -> None:
    up = get_motion("move_deg_90")
    assert up.name == "move_deg_90" and up.prompt == "moves at 90 degrees"
    assert up.direction == pytest.approx((0.0, -1.0))  # y grows downwards: 90 degrees is up on screen
    assert get_motion("move_deg_0").direction == MOTIONS["move_right"].direction
    assert translation_at(-30).name == "move_deg_330" and translation_at(22.504).name == "move_deg_22.5"
    assert get_motion("move_deg_390").name == "move_deg_30"
    start, params = Scene(x=0.5, y=0.5), {"distance": 0.2}
    end = get_motion("move_deg_30").scenes(start, 2, params)[1]
    assert (end.x - 0.5, end.y - 0.5) == pytest.approx((0.2 * math.cos(math.pi / 6), -0.2 * math.sin(math.pi / 6)))
    with pytest.raises(ValueError, match="or move_deg_<DEG>"):
        get_motion("move_deg_up")


@pytest.mark.parametrize("degrees", [30, 135, 200, 300])
def test_angled_ground_truth_scores_high_and_the_opposite_angle_low(degrees: int) -> None:
    motion = f"move_deg_{degrees}"
    _, clip = first_frame(motion, seed=degrees, background="beige", texture="none")
    video = clip.render(16, 32)
    assert clip.motion == motion and score_video(video, motion)["motion_fidelity"] >= 0.9
    assert motion_fidelity(track_object(video), f"move_deg_{(degrees + 180) % 360}") < 0.5
    assert motion_fidelity(track_object(video), f"move_deg_{(degrees + 90) % 360}") < 0.5


def test_new_backgrounds_are_far_from_every_object_colour() -> None:
    for (name, background), colour in itertools.product(ALL_BACKGROUNDS.items(), COLOURS.values()):
        difference = np.subtract(colour, background, dtype=float)
        chroma = difference - difference.mean()
        assert np.linalg.norm(chroma) >= 80, (name, colour)
    assert set(BACKGROUNDS) | set(EXTRA_BACKGROUNDS) == set(ALL_BACKGROUNDS)
    assert all(set(family) <= set(ALL_BACKGROUNDS) for family in BACKGROUND_FAMILIES.values())


@pytest.mark.parametrize("background", sorted(EXTRA_BACKGROUNDS))
def test_every_colour_is_tracked_on_every_new_background(background: str) -> None:
    for index, colour in enumerate(sorted(COLOURS)):
        for texture in ("none", "striped"):
            _, clip = first_frame("move_right", seed=index, colour=colour, background=background, texture=texture,
                                  size_range=(0.15, 0.25))
            scores = score_video(clip.render(8, 32), "move_right")
            assert scores["object_found"] == 1.0 and scores["content_preservation"] == 1.0, (colour, texture, scores)
            assert scores["motion_fidelity"] >= 0.9 and scores["background_stability"] >= 0.99, (colour, texture)


def test_first_frame_takes_the_new_options() -> None:
    image, clip = first_frame("move_deg_45", seed=1, colour="blue", background="pale_blue", texture="striped",
                              size_range=(0.12, 0.14), speed_scale=0.5, height=48)
    assert image.shape == (48, 48, 3) and np.array_equal(image, clip.render(3, 48)[0])
    assert clip.start.background == "pale_blue" and clip.start.texture > 0 and 0.12 <= clip.start.size <= 0.14
    assert 0.15 <= clip.params["distance"] <= 0.25
    assert np.array_equal(draw(clip.start.moved(texture=0.0), 16)[0, 0], EXTRA_BACKGROUNDS["pale_blue"])


def test_cli_make_set_with_one_look(tmp_path, capsys) -> None:
    arguments = ["--videos", "3", "--frames", "4", "--size", "16", "--num-colours", "1", "--backgrounds", "dark",
                 "--texture", "none", "--size-range", "0.15,0.2", "--speed-scale", "0.9"]
    assert main(["toy", "make-set", "move_deg_60", str(tmp_path / "set"), *arguments]) == 0
    description, videos = read_set(tmp_path / "set")
    assert description["motion"] == "move_deg_60" and description["prompt"] == "moves at 60 degrees"
    assert len({clip.start.colour for _, clip in videos}) == 1
    assert all(clip.start.background in BACKGROUND_FAMILIES["dark"] for _, clip in videos)
    assert description["options"]["size_range"] == [0.15, 0.2] and description["options"]["speed_scale"] == 0.9
    assert main(["toy", "make-set", "grow", str(tmp_path / "bad"), "--speed-scale", "3"]) == 2
    assert "error: motion 'grow' with sizes 0.2-0.24 and speed scale 3" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["toy", "list-motions"]) == 0
    assert "move_deg_DEG" in capsys.readouterr().out
    assert FIT == pytest.approx(1 - 2 * MARGIN)
