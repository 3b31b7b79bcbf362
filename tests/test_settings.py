"""The generation settings: each default in one place, resolved once against the motion file, checked once."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamp_motion.cli.main import build_parser
from lamp_motion.errors import SettingError
from lamp_motion.jobs import EditSettings, GenerateSettings, SuiteSettings
from lamp_motion.models import read_motion_header
from lamp_motion.models.loading import load_base
from lamp_motion.pipelines.lamp_pipeline import LampPipeline
from lamp_motion.settings import FALLBACKS, SamplingSettings
from lamp_motion.training.config import TrainConfig

OLD_FILE = Path(__file__).parent / "fixtures" / "toy_move_right_v0.1.0.safetensors"  # 8 frames of 32x32, 25 steps, 4.0


def subparser(command: str):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[command]


def option(parser, flag: str):
    return next(action for action in parser._actions if flag in action.option_strings)


@pytest.mark.parametrize("command", ["generate", "edit"])
def test_the_flags_defaults_and_help_are_the_fields(command):
    parser = subparser(command)
    for spec in fields(SamplingSettings):
        if not spec.metadata["cli"]:
            continue
        flag = spec.metadata["flag"] or ("--no-" if spec.default is True else "--") + spec.name.replace("_", "-")
        if command == "edit" and spec.name in ("shared_noise", "frame_init"):  # the inversion sets where sampling starts
            assert not any(flag in action.option_strings for action in parser._actions)
            continue
        action = option(parser, flag)
        assert (action.dest, action.default, action.help) == (spec.name, spec.default, spec.metadata["help"])
    assert option(parser, "--steps").dest == "sampling_steps" and option(parser, "--steps").type is int
    assert option(parser, "--guidance").type is float and option(parser, "--frames").type is int


def test_the_papers_fallbacks_are_written_once_and_training_records_them():
    assert FALLBACKS == {"frames": 16, "height": 320, "width": 512, "sampling_steps": 50, "guidance": 12.5,
                         "frame_init": False}
    config = TrainConfig()
    assert (config.sample_steps, config.sample_guidance, config.sample_frame_init) == \
        (FALLBACKS["sampling_steps"], FALLBACKS["guidance"], FALLBACKS["frame_init"])


def test_the_suite_takes_only_the_given_sampling_flags():
    parser = build_parser()
    args = parser.parse_args(["eval", "--suite", "--motion", "m.safetensors", "--steps", "3"])
    assert args.sampling_steps == 3 and not hasattr(args, "guidance") and not hasattr(args, "shared_noise")


@pytest.mark.parametrize("given,given_by,values,sources", [
    ({}, "settings", dict(frames=8, height=32, width=32, steps=25, guidance=4.0, window=8),
     {"steps": "motion file", "guidance": "motion file", "frame_init": "default"}),
    (dict(sampling_steps=3, frame_init=True), "command line", dict(frames=8, steps=3, guidance=4.0, frame_init=True),
     {"steps": "command line", "guidance": "motion file", "frame_init": "command line"}),
    (dict(frames=20, height=64, guidance=1.0), "call", dict(frames=20, height=64, width=32, window=8, guidance=1.0),
     {"steps": "motion file", "guidance": "call", "frame_init": "default"}),
])
def test_resolution_against_a_motion_file(given, given_by, values, sources):
    resolved = SamplingSettings(**given).resolve(read_motion_header(OLD_FILE), given_by)
    record = resolved.record()
    assert {key: record[key] for key in values} == values
    assert record["setting_sources"] == sources
    assert resolved.sources["frames"] == (given_by if "frames" in given else "motion file")
    assert resolved.values.unresolved() == []


def test_without_a_motion_the_papers_values():
    resolved = SamplingSettings().resolve(None)
    assert resolved.record()["frames"] == resolved.window == 16
    assert (resolved.values.height, resolved.values.width, resolved.values.sampling_steps) == (320, 512, 50)
    assert set(resolved.sources.values()) == {"default"}


@pytest.mark.parametrize("given,message,flag_message", [
    (dict(sampling_steps=0), "sampling_steps=0 must be at least 1", "--steps=0 must be at least 1"),
    (dict(height=30), "height=30 must be a positive multiple of 8", "--height=30 must be"),
    (dict(guidance=float("nan")), "guidance=nan must be a number >= 0", "--guidance=nan"),
    (dict(shared_noise=2.0), "shared_noise=2.0 must be in [0, 1]", "--shared-noise=2.0"),
    (dict(frames=1_000_000), "frames=1000000 is over the limit of 1024 frames per video", "--frames=1000000 is over"),
    (dict(width=4096), "width=4096 is over the limit of 2048 pixels", "--width=4096 is over"),
    (dict(sampling_steps=5000), "sampling_steps=5000 is over the limit of 1000", "--steps=5000 is over"),
])
def test_resolution_checks_once_and_names_the_field(given, message, flag_message):
    with pytest.raises(SettingError) as refused:
        SamplingSettings(**given).resolve(None)
    assert message in str(refused.value)
    assert flag_message in refused.value.render({"sampling_steps": "--steps", "height": "--height", "width": "--width",
                                                 "frames": "--frames", "guidance": "--guidance",
                                                 "shared_noise": "--shared-noise"})


def test_the_jobs_take_sampling_settings_also_as_their_own_keywords():
    expected = SamplingSettings(sampling_steps=3, frames=5, adain=False)
    assert GenerateSettings(motion="m", prompt="p", steps=3, frames=5, adain=False).sampling == expected
    assert GenerateSettings(motion="m", prompt="p", sampling_steps=3, frames=5, adain=False).sampling == expected
    assert EditSettings(motion="m", video="v", prompt="p", sampling=expected).sampling == expected
    assert SuiteSettings(steps=3, frames=5, adain=False).sampling.changed() == {"frames": 5, "steps": 3, "adain": False}


@pytest.fixture(scope="module")
def pipe(tiny_sd_folder):
    return LampPipeline.from_base(load_base(str(tiny_sd_folder)))


def test_the_pipeline_resolves_once_per_call_and_never_in_sample(pipe, monkeypatch):
    calls = []
    original = SamplingSettings.resolve
    monkeypatch.setattr(SamplingSettings, "resolve", lambda self, *args: calls.append(self) or original(self, *args))
    image = Image.fromarray(np.full((32, 32, 3), 100, np.uint8))
    pipe("x", image, num_frames=3, height=32, width=32, num_inference_steps=1, output_type="latent", progress=False)
    assert len(calls) == 1
    settings = original(SamplingSettings(frames=3, height=32, width=32, sampling_steps=1), pipe).values
    out = pipe.sample("x", image, settings, output_type="latent", progress=False)
    assert len(calls) == 1 and out.latents.shape[2] == 3
    with pytest.raises(ValueError, match="sampling_steps, guidance, frame_init not resolved"):
        pipe.sample("x", image, SamplingSettings(frames=3, height=32, width=32), progress=False)
