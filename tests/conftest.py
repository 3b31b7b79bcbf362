"""Shared fixtures: tiny SD 1.x-architecture models and files built from tests/helpers.py (seeded)."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers import UNet2DConditionModel

from lamp_motion.training.trainer import train
from lamp_motion.video_io import write_video
from tests.helpers import make_tiny_pipeline, make_tiny_unet, moving_square_video, tiny_clip, tiny_config

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def tiny_unet() -> UNet2DConditionModel:
    return make_tiny_unet()


@pytest.fixture(scope="session")
def tiny_sd_folder(tmp_path_factory):
    """A tiny SD 1.x diffusers folder on disk, loaded by tests exactly as a user's base."""
    folder = tmp_path_factory.mktemp("tiny-sd")
    make_tiny_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def motion_folder(tmp_path_factory):
    """Three videos of a square moving right: a training folder for the tiny base."""
    folder = tmp_path_factory.mktemp("sets") / "moves_right"
    for i in range(3):
        write_video(folder / f"v{i}.mp4", moving_square_video(i), fps=8)
    return folder


@pytest.fixture(scope="module")
def motion_file(tiny_sd_folder, tmp_path_factory):
    """A motion file trained for one step on the tiny base (4 frames at stride 2)."""
    root = tmp_path_factory.mktemp("gen")
    folder = root / "moves_right"
    for i in range(2):
        write_video(folder / f"v{i}.mp4", moving_square_video(i), fps=8)
    return train(tiny_config(folder, tiny_sd_folder, root / "out", steps=1, num_frames=4))


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A tiny random CLIP saved to a folder."""
    return tiny_clip(tmp_path_factory.mktemp("tiny_clip"))
