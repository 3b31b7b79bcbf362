"""Generate: videos with a learnt motion, first frames from an image, a text-to-image model or the base."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace

from PIL import Image

from ..errors import SettingError
from ..settings import SamplingSettings, takes_sampling_keywords
from .common import GeneratedVideo, Log
from .many_videos import MAX_SEED, make_videos, video_stems

__all__ = ["MAX_SEED", "GenerateResult", "GenerateSettings", "generate", "generate_jobs", "video_stems"]


@takes_sampling_keywords
@dataclass
class GenerateSettings:
    """Everything :func:`generate` needs; every field but ``motion`` and ``prompt`` has a working default
    (:func:`generate_jobs` takes the prompts with its jobs instead).

    The video model's settings are ``sampling``; they may also be given as keywords of their
    own (``GenerateSettings(motion=..., prompt=..., sampling_steps=25, frames=24)``; ``steps=``
    is the older name of ``sampling_steps``)."""

    motion: str | os.PathLike[str] | list  # motion file written by training (.safetensors); a list mixes several
    motion_weights: tuple[float, ...] | None = None  # one weight per motion of the list (default 1 each)
    prompt: str | None = None  # video prompt, e.g. "a horse runs in the snow"
    out: str | os.PathLike[str] = "outputs/videos"  # output folder
    base: str | None = None  # base model (default: the one the motion was trained on)
    image: str | os.PathLike[str] | Image.Image | None = None  # first frame from this image (real-image animation)
    t2i: str | None = None  # first frame from this diffusers text-to-image model (hub id or folder); default: the base
    image_prompt: str | None = None  # prompt of the first-frame model (default: prompt)
    t2i_steps: int = 30  # steps of the first-frame model (the base or t2i)
    t2i_guidance: float = 7.0  # guidance of the first-frame model
    sampling: SamplingSettings = field(default_factory=SamplingSettings)  # the video model's settings
    overlap: int = 1  # frames shared by consecutive windows of a long video
    seed: int = 0  # seed of the first video; the others take seed + 1, seed + 2, ...
    num_videos: int = 1
    fps: float = 8.0  # frame rate of the written mp4 and gif
    device: str = "auto"  # cpu, cuda, cuda:1, ... (auto: cuda if available)
    dtype: str = "auto"  # fp32, fp16, bf16 (auto: fp16 on a GPU, fp32 on a CPU)
    allow_other_base: bool = False  # apply a motion file holding to_q in full to another base, replacing its to_q
    compile: bool = False  # torch.compile the video UNet (pays off from the second video at one size)
    tf32: bool = True  # TF32 matmuls on Ampere+ GPUs


@dataclass
class GenerateResult:
    """The videos written, in order, and the settings shared by all of them (as recorded in each JSON)."""

    videos: list[GeneratedVideo]
    settings: dict = field(default_factory=dict)


def generate(settings: GenerateSettings, log: Log | None = print, given_by: str = "settings",
             stop: threading.Event | None = None) -> GenerateResult:
    """Make ``settings.num_videos`` videos with seeds ``seed, seed + 1, ...``; see :func:`generate_jobs`."""
    if not settings.prompt:
        raise SettingError("give the video's {prompt}, e.g. \"a horse runs in the snow\"", "prompt")
    if settings.num_videos < 1:
        raise SettingError(f"{{num_videos}}={settings.num_videos} must be at least 1", "num_videos")
    image_prompt = settings.image_prompt or settings.prompt
    jobs = [(settings.prompt, image_prompt, settings.seed + i) for i in range(settings.num_videos)]
    return generate_jobs(settings, jobs, log, given_by, stop)


def generate_jobs(settings: GenerateSettings, jobs: list[tuple[str, str, int]], log: Log | None = print,
                  given_by: str = "settings", stop: threading.Event | None = None) -> GenerateResult:
    """One video per ``(prompt, image prompt, seed)`` job; everything else from ``settings`` (whose own
    ``prompt``, ``image_prompt``, ``seed`` and ``num_videos`` are not used).

    ``log`` receives the notes and one line per video written (None: silent); ``given_by``
    names where the given steps and guidance came from in the JSON's ``setting_sources``.
    The first-frame model and the base load once for all jobs. Each video is written to
    ``settings.out`` as mp4, gif, PNG contact sheet and a JSON of every setting, with the run's
    ``manifest.json``; under accelerate the jobs are split across the processes, and videos
    already complete in ``settings.out`` are not made again (:mod:`lamp_motion.jobs.many_videos`).

    ``stop``: once set, the job raises :class:`~lamp_motion.errors.JobStopped` at the next
    denoising step or between videos; the videos written so far stay.
    """
    videos = [replace(settings, prompt=prompt, image_prompt=image_prompt, seed=seed, num_videos=1)
              for prompt, image_prompt, seed in jobs]
    made = make_videos(settings, videos, log, given_by, stop=stop)
    per_video = ("prompt", "image_prompt", "seed", "fps", "num_frames_written", "videos", "library_version")
    shared = {key: value for key, value in made.records[0].items() if key not in per_video} if made.records else {}
    return GenerateResult(videos=made.videos, settings=shared)
