"""Generation settings travel with the motion: recorded at training, the default of every generation path."""

from __future__ import annotations

import json

import pytest
import yaml
from PIL import Image

from lamp_motion.cli.main import main
from lamp_motion.data.toy.sets import first_frame, make_set
from lamp_motion.jobs.demo import toy_config
from lamp_motion.metrics.toy import track_object
from lamp_motion.models import read_motion_header
from lamp_motion.pipelines.lamp_pipeline import LampPipeline
from lamp_motion.settings import SamplingSettings
from lamp_motion.training.config import TrainConfig
from lamp_motion.video_io import read_video


class Recorded:
    """A motion as resolution reads it."""

    def __init__(self, generation: dict, trained_size: dict | None = None):
        self.generation, self.trained_size = generation, trained_size or {}


def test_resolve_generation_prefers_given_then_recorded_then_the_paper():
    resolved = SamplingSettings(sampling_steps=10).resolve(Recorded({"steps": 25, "guidance": 4.0}), "command line")
    assert (resolved.values.sampling_steps, resolved.values.guidance) == (10, 4.0)
    assert resolved.record()["setting_sources"] == {"steps": "command line", "guidance": "motion file",
                                                    "frame_init": "default"}
    resolved = SamplingSettings().resolve(Recorded({}))
    assert (resolved.values.sampling_steps, resolved.values.guidance) == (50, 12.5)
    assert set(resolved.record()["setting_sources"].values()) == {"default"}


@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf")])
def test_sample_guidance_must_be_a_number_at_least_zero(value):
    with pytest.raises(ValueError, match="sample_guidance"):
        TrainConfig(sample_guidance=value)


def test_toy_configs_record_the_demo_settings_and_sd_configs_the_papers():
    toy = yaml.safe_load(toy_config("move_right").read_text())
    assert (toy["sample_steps"], toy["sample_guidance"]) == (25, 4.0)
    sd = yaml.safe_load((toy_config("move_right").parent.parent / "horse_run.yaml").read_text())
    assert (sd["sample_steps"], sd["sample_guidance"]) == (50, 12.5)


@pytest.fixture(scope="module")
def toy_motion(tmp_path_factory):
    """A motion freshly tuned on the built-in toy base with the packaged toy config (cut to 200 steps)."""
    root = tmp_path_factory.mktemp("toy-motion")
    make_set("move_right", root / "data", num_videos=8, num_frames=20, seed=3, colours=["red", "green", "blue"])
    code = main(["train", str(toy_config("move_right")), f"data={root / 'data'}", f"output_dir={root / 'motion'}", "steps=200"])
    assert code == 0
    return root / "motion" / "motion.safetensors"


def test_motion_file_records_the_configs_generation_settings(toy_motion):
    header = read_motion_header(toy_motion)
    assert header.generation == {"steps": 25, "guidance": 4.0, "frame_init": False}


def test_plain_generate_uses_the_motions_settings_and_keeps_the_object(toy_motion, tmp_path):
    """The README's plain `lamp generate` (no --steps / --guidance) on a toy motion: the object in every frame."""
    image, _ = first_frame("move_right", seed=11, colour="yellow", shape="circle")
    Image.fromarray(image).save(tmp_path / "first.png")
    assert main(["generate", "--motion", str(toy_motion), "--image", str(tmp_path / "first.png"),
                 "--prompt", "a yellow circle moves right", "--out", str(tmp_path / "videos")]) == 0
    (record_path,) = (tmp_path / "videos").glob("*-seed*.json")
    record = json.loads(record_path.read_text())
    assert (record["steps"], record["guidance"]) == (25, 4.0)
    assert record["setting_sources"] == {"steps": "motion file", "guidance": "motion file", "frame_init": "motion file"}
    frames, _ = read_video(record_path.parent / record["videos"]["mp4"])
    assert track_object(frames).found.all()


def test_an_explicit_setting_wins_and_is_recorded_as_given(toy_motion, tmp_path):
    image, _ = first_frame("move_right", seed=12, colour="purple", shape="square")
    Image.fromarray(image).save(tmp_path / "first.png")
    assert main(["generate", "--motion", str(toy_motion), "--image", str(tmp_path / "first.png"), "--steps", "3",
                 "--prompt", "a purple square moves right", "--out", str(tmp_path / "videos")]) == 0
    (record_path,) = (tmp_path / "videos").glob("*-seed*.json")
    record = json.loads(record_path.read_text())
    assert (record["steps"], record["guidance"]) == (3, 4.0)
    assert record["setting_sources"] == {"steps": "command line", "guidance": "motion file",
                                         "frame_init": "motion file"}


def test_the_pipeline_defaults_to_the_motion_files_settings(toy_motion, tmp_path):
    pipe = LampPipeline.from_motion(str(toy_motion))
    resolved = pipe.resolve().values
    assert (resolved.sampling_steps, resolved.guidance) == (25, 4.0)
    given = pipe.resolve(SamplingSettings(sampling_steps=7, guidance=2.0)).values
    assert (given.sampling_steps, given.guidance) == (7, 2.0)
    image, _ = first_frame("move_right", seed=13, colour="orange", shape="circle")
    out = pipe("an orange circle moves right", Image.fromarray(image), generator=0, output_type="latent", progress=False)
    steps_run = len(pipe.scheduler.timesteps)
    assert steps_run == 25 and out.latents.shape[2] == 16


def test_old_motion_files_without_settings_fall_back_to_the_papers(toy_motion, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(toy_motion), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = {k: v for k, v in handle.metadata().items() if k != "generation"}
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=metadata)
    assert read_motion_header(old).generation == {}
    paper = LampPipeline.from_motion(str(old)).resolve().values
    assert (paper.sampling_steps, paper.guidance) == (50, 12.5)


def test_frame_init_starts_later_frames_from_frame_ones_mean_and_follows_the_motion_file(toy_motion):
    import torch

    from lamp_motion.pipelines.lamp_pipeline import frame_init_latents

    pipe = LampPipeline.from_motion(str(toy_motion))
    pipe.scheduler.set_timesteps(25)
    z1 = torch.randn(1, 4, 1, 16, 16)
    noise = torch.randn(1, 4, 16, 16, 16)
    alpha_bar = pipe.scheduler.alphas_cumprod[pipe.scheduler.timesteps[0]]
    expected = alpha_bar.sqrt() * z1.mean(dim=(-2, -1), keepdim=True) + (1 - alpha_bar).sqrt() * noise
    assert torch.allclose(frame_init_latents(pipe.scheduler, z1, noise), expected, atol=1e-6)

    image, _ = first_frame("move_right", seed=14, colour="orange", shape="circle")
    run = dict(prompt="an orange circle moves right", first_frame=Image.fromarray(image), num_inference_steps=2,
               output_type="latent", progress=False)
    off = pipe(**run, generator=0, frame_init=False).latents
    on = pipe(**run, generator=0, frame_init=True).latents
    assert not torch.allclose(on, off) and torch.equal(on[:, :, 0], off[:, :, 0])
    assert torch.equal(pipe(**run, generator=0).latents, off)  # the motion file records frame_init: false
    pipe.generation = {**pipe.generation, "frame_init": True}
    assert torch.equal(pipe(**run, generator=0).latents, on)
