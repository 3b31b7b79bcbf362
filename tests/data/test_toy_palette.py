"""The toy world's warm palette: the shifted style of a fine-tune of the built-in base."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from lamp_motion.data.toy.scene import BACKGROUNDS, COLOURS, PALETTES, WARM_BACKGROUNDS, Scene, draw
from lamp_motion.data.toy.sets import SET_FILE, first_frame, make_set, read_set
from lamp_motion.metrics.toy import score_video, track_object


def test_warm_backgrounds_tint_the_base_ones_and_stay_far_from_every_object_colour():
    assert set(WARM_BACKGROUNDS) == set(BACKGROUNDS)
    for (name, background), colour in itertools.product(WARM_BACKGROUNDS.items(), COLOURS.values()):
        difference = np.subtract(colour, background, dtype=float)
        assert np.linalg.norm(difference - difference.mean()) >= 80, (name, colour)
        assert np.linalg.norm(np.subtract(background, BACKGROUNDS[name], dtype=float)) >= 50  # a visible shift


def test_a_warm_frame_differs_only_in_its_background():
    scene = Scene(background="grey", x=0.5, y=0.5, size=0.3)
    plain, warm = draw(scene, 32), draw(scene, 32, palette="warm")
    assert tuple(warm[0, 0]) == WARM_BACKGROUNDS["grey"] and tuple(plain[0, 0]) == BACKGROUNDS["grey"]
    assert np.array_equal(plain[16, 16], warm[16, 16])  # the object's centre: its own colour
    with pytest.raises(ValueError, match="unknown palette 'sepia'"):
        draw(scene, 32, palette="sepia")


def test_a_warm_set_is_recorded_and_its_motion_is_tracked(tmp_path):
    make_set("move_left", tmp_path / "set", num_videos=2, num_frames=12, palette="warm")
    description, videos = read_set(tmp_path / "set")
    assert description["palette"] == "warm" == json.loads((tmp_path / "set" / SET_FILE).read_text())["palette"]
    image, clip = first_frame("move_left", seed=3, palette="warm")
    video = clip.render(12, 32, palette="warm")
    assert np.array_equal(video[0], image)
    assert score_video(video, "move_left")["motion_fidelity"] >= 0.9
    assert np.allclose(track_object(video).background[0], PALETTES["warm"][clip.start.background], atol=20)
    with pytest.raises(ValueError, match="unknown palette"):
        make_set("move_left", tmp_path / "other", palette="sepia")
    assert not (tmp_path / "other").exists()
