"""The "strong" texture: every background striped at amplitude 0.9-1, the style of a toy fine-tune."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamp_motion.data.toy.motions import STRONG_TEXTURE_RANGE, TEXTURE_RANGE
from lamp_motion.data.toy.scene import TEXTURE_CONTRAST, Scene, draw, stripes
from lamp_motion.data.toy.sets import SET_FILE, first_frame, make_set, resolve_options, sample_clips
from lamp_motion.metrics.toy import score_video


def clips(texture: str):
    return sample_clips("move_left", 24, seed=3, options=resolve_options("move_left", seed=3, texture=texture))


def test_strong_sets_are_all_striped_in_their_range_and_other_choices_are_not():
    strong = [clip.start.texture for clip in clips("strong")]
    assert all(STRONG_TEXTURE_RANGE[0] <= amplitude <= STRONG_TEXTURE_RANGE[1] for amplitude in strong)
    striped = [clip.start.texture for clip in clips("striped")]
    assert all(TEXTURE_RANGE[0] <= amplitude <= TEXTURE_RANGE[1] for amplitude in striped)
    # the same draws: only the amplitude's range differs, so the content is the same
    assert [c.start.moved(texture=0.0) for c in clips("strong")] == [c.start.moved(texture=0.0) for c in clips("striped")]


def test_the_stripes_are_the_drawn_texture():
    plain = draw(Scene(background="grey", texture=0.0, x=0.2, y=0.2, size=0.2), 32).astype(float)
    textured = draw(Scene(background="grey", texture=1.0, x=0.2, y=0.2, size=0.2), 32).astype(float)
    corner = np.s_[16:, 16:]  # away from the object
    assert np.allclose(textured[corner] - plain[corner], TEXTURE_CONTRAST * stripes(32, 32)[corner][..., None], atol=0.5)


def test_a_strong_set_and_first_frame_track_as_any_other(tmp_path):
    make_set("move_left", tmp_path / "set", num_videos=2, num_frames=12, texture="strong")
    assert json.loads((tmp_path / "set" / SET_FILE).read_text())["options"]["texture"] == "strong"
    image, clip = first_frame("move_left", seed=3, texture="strong")
    assert clip.start.texture >= STRONG_TEXTURE_RANGE[0]
    video = clip.render(12, 32)
    assert np.array_equal(video[0], image) and score_video(video, "move_left")["motion_fidelity"] >= 0.9
    with pytest.raises(ValueError, match="texture must be one of"):
        make_set("move_left", tmp_path / "other", texture="stronger")
