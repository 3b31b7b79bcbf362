"""Colour augmentation of training clips: one transform per clip, geometry untouched, off by default."""

from __future__ import annotations

import math

import pytest
import torch

from lamp_motion.data.augment import hue_rotation, jitter_colours
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import Trainer
from tests.helpers import tiny_config


def test_hue_rotation_keeps_grey_and_turns_a_full_circle():
    grey = torch.tensor([0.3, 0.3, 0.3])
    assert torch.allclose(hue_rotation(1.1) @ grey, grey, atol=1e-6)
    red = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(hue_rotation(2 * math.pi) @ red, red, atol=1e-6)
    third = hue_rotation(2 * math.pi / 3) @ red  # a third of the way round the hue circle: red -> green
    assert int(third.argmax()) == 1


def _clip(f=5):
    clip = torch.full((3, f, 8, 8), -0.6)  # a dark background
    clip[0, :, 2:5, 2:5] = 0.8  # a red square...
    for t in range(f):
        clip[:, t] = torch.roll(clip[:, t], shifts=t, dims=-1)  # ...moving right
    return clip


def test_one_transform_for_every_frame_and_the_shape_kept():
    clip = _clip()
    out = jitter_colours(clip, torch.Generator().manual_seed(4))
    assert out.shape == clip.shape and out.min() >= -1 and out.max() <= 1
    # every frame got the same colour map: the background pixel is equal across frames
    assert torch.allclose(out[:, :, 0, 7], out[:, :1, 0, 7].expand(3, clip.shape[1]))
    # the object's pixels still differ from the background where they did: the motion is untouched
    moved = (clip != clip[:, :, :1, :1]).any(dim=0)
    assert ((out - out[:, :, :1, :1]).abs().sum(dim=0) > 1e-3)[moved].all()
    assert not torch.allclose(out, clip, atol=1e-2)  # and the look did change


def test_draws_differ_between_clips():
    clip, generator = _clip(), torch.Generator().manual_seed(0)
    looks = {tuple(jitter_colours(clip, generator)[:, 0, 0, 7].round(decimals=3).tolist()) for _ in range(6)}
    assert len(looks) == 6


def test_bad_clip_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(3, f, h, w\)"):
        jitter_colours(torch.zeros(4, 2, 8, 8), torch.Generator())


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_colour_augment_is_a_share(value):
    with pytest.raises(ValueError, match="colour_augment"):
        TrainConfig(colour_augment=value)


def test_trainer_recolours_clips_only_when_asked(motion_folder, tiny_sd_folder, tmp_path):
    plain = Trainer(tiny_config(motion_folder, tiny_sd_folder, tmp_path / "a", flip=False))
    plain._setup()
    recoloured = Trainer(tiny_config(motion_folder, tiny_sd_folder, tmp_path / "b", flip=False, colour_augment=1.0))
    recoloured._setup()
    same_a, _ = plain._clip_latents(0, torch.Generator().manual_seed(9))
    same_b, _ = plain._clip_latents(0, torch.Generator().manual_seed(9))
    other, _ = recoloured._clip_latents(0, torch.Generator().manual_seed(9))
    assert torch.equal(same_a, same_b)
    assert other.shape == same_a.shape and not torch.allclose(other, same_a, atol=1e-2)
