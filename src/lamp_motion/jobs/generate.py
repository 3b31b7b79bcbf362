"""Generate: videos with a learnt motion, first frames from an image, a text-to-image model or the base."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..errors import JobStopped, SettingError
from ..files import slug
from ..models import read_motion_header
from ..models.speed import allow_tf32, compile_video_unet
from ..pipelines.first_frame import first_frames_from_base, first_frames_from_t2i
from ..pipelines.images import load_image
from ..pipelines.lamp_pipeline import LampPipeline
from ..pipelines.long_video import generate_long
from ..settings import SamplingSettings, check_frame_rate, takes_sampling_keywords
from .common import GeneratedVideo, Log, check_out, load_motion_base, resolve_device, write_outputs


@takes_sampling_keywords
@dataclass
class GenerateSettings:
    """Everything :func:`generate` needs; every field but ``motion`` and ``prompt`` has a working default
    (:func:`generate_jobs` takes the prompts with its jobs instead).

    The video model's settings are ``sampling``; they may also be given as keywords of their
    own (``GenerateSettings(motion=..., prompt=..., sampling_steps=25, frames=24)``; ``steps=``
    is the older name of ``sampling_steps``)."""

    motion: str | os.PathLike[str]  # motion file written by training (.safetensors)
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
    allow_other_base: bool = False  # apply the motion to a base it was not trained on
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


MAX_SEED = 2**63 - 1  # torch generators take 64-bit seeds


def video_stems(out: Path, jobs: list[tuple[str, str, int]]) -> list[str]:
    """File names (without suffix) of the jobs' videos: ``<prompt slug>-seed<k>``, made unique.

    Two prompts may share a slug ("A cat!" and "a cat"): the later one gets ``-2``, ``-3``,
    ... rather than overwriting; so does a job whose name is taken in ``out`` by a video of
    another prompt. A video of the same prompt and seed is replaced (a rerun)."""
    stems, taken = [], set()
    for prompt, _, seed in jobs:
        first = stem = f"{slug(prompt)}-seed{seed}"
        number = 2
        while stem in taken or _recorded_prompt(out / f"{stem}.json") not in (None, prompt):
            stem, number = f"{first}-{number}", number + 1
        taken.add(stem)
        stems.append(stem)
    return stems


def _recorded_prompt(path: Path) -> str | None:
    """The prompt a video's JSON records (None: no such file); a JSON that cannot be read counts as another's."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return record["prompt"] if isinstance(record, dict) and isinstance(record.get("prompt"), str) else ""
    except (OSError, ValueError):
        return ""


def generate_jobs(settings: GenerateSettings, jobs: list[tuple[str, str, int]], log: Log | None = print,
                  given_by: str = "settings", stop: threading.Event | None = None) -> GenerateResult:
    """One video per ``(prompt, image prompt, seed)`` job; everything else from ``settings`` (whose own
    ``prompt``, ``image_prompt``, ``seed`` and ``num_videos`` are not used).

    ``log`` receives the notes and one line per video written (None: silent); ``given_by``
    names where the given steps and guidance came from in the JSON's ``setting_sources``.
    The first-frame model and the base load once for all jobs. Each video is written to
    ``settings.out`` as mp4, gif, PNG contact sheet and a JSON of every setting.

    ``stop``: once set, the job raises :class:`~lamp_motion.errors.JobStopped` at the next
    denoising step or between videos; the videos written so far stay.
    """
    say = log or (lambda _: None)
    videos: list[GeneratedVideo] = []

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise JobStopped(f"generation stopped on request after {len(videos)} of {len(jobs)} videos"
                             + (f"; those written are in {settings.out}" if videos else "; nothing written"))

    def on_step(pipe, index, timestep, tensors: dict) -> dict:  # the pipeline's callback_on_step_end
        check_stop()
        return tensors

    check_frame_rate(settings.fps)
    for _, _, seed in jobs:
        if not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
            raise SettingError(f"{{seed}}={seed} is not a seed; give a whole number from 0 to 2**63 - 1 "
                               f"(each video uses seed, seed + 1, ...)", "seed")
    if settings.image is not None and settings.t2i is not None:
        raise SettingError("{image} and {t2i} both give the first frame; choose one", "image", "t2i")
    header = read_motion_header(settings.motion)
    resolved = settings.sampling.resolve(header, given_by)
    sampling = resolved.values
    device, dtype = resolve_device(settings.device, settings.dtype)
    allow_tf32(settings.tf32)
    image_notes: list[str] = []
    image, image_source = settings.image, None
    if image is not None and not isinstance(image, Image.Image):  # fail on a bad image before loading any model
        image, image_source = load_image(image, image_notes), f"image:{settings.image}"
    elif image is not None:
        image_source = "image:(given)"
    check_out(settings.out)
    seeds = [seed for _, _, seed in jobs]
    image_prompts = [image_prompt for _, image_prompt, _ in jobs]

    # 1. First frames: the user's image, a T2I model (released before the video stage), or the base.
    if settings.t2i:
        images = first_frames_from_t2i(settings.t2i, image_prompts, seeds, sampling.height, sampling.width, device,
                                       dtype, settings.t2i_steps, settings.t2i_guidance)
        source = f"t2i:{settings.t2i}"
    base = load_motion_base(header, settings.base, dtype)
    if image is not None:
        images, source = [image] * len(jobs), image_source
    elif not settings.t2i:
        for part in (base.unet, base.vae, base.text_encoder):
            part.to(device)
        images, source = first_frames_from_base(base, image_prompts, seeds, sampling.height, sampling.width, device,
                                                settings.t2i_steps, settings.t2i_guidance), "base"

    # 2. The video model: the base inflated, with the motion loaded.
    check_stop()
    pipe = LampPipeline.from_base(base, settings.motion, allow_other_base=settings.allow_other_base).to(device)
    if settings.compile:
        compile_video_unet(pipe.unet)
    shared = dict(motion=str(settings.motion), motion_prompt=header.prompt, base=base.source, first_frame=source,
                  **resolved.record(), overlap=settings.overlap, device=str(device), dtype=str(dtype),
                  compile=settings.compile)

    # 3. One video per job; longer than the window: chained windows.
    stems = video_stems(Path(settings.out), jobs)
    limit = pipe.tokenizer.model_max_length
    for index, ((prompt, image_prompt, seed), first) in enumerate(zip(jobs, images)):
        check_stop()
        if sampling.frames > resolved.window:
            out = generate_long(pipe, prompt, first, sampling, resolved.window, overlap=settings.overlap, generator=seed,
                                callback_on_step_end=on_step)
        else:
            out = pipe.sample(prompt, first, sampling, generator=seed, callback_on_step_end=on_step)
        notes = image_notes + out.notes
        tokens = len(pipe.tokenizer(prompt, verbose=False).input_ids)
        if tokens > limit:
            notes = notes + [f"the prompt is {tokens} tokens long; the text encoder reads the first {limit} "
                             f"(with its start and end tokens), the rest is ignored"]
        for note in notes:
            say(f"note: {note}")
        record = {"prompt": prompt, **shared, "image_prompt": None if image is not None else image_prompt, "seed": seed}
        path = write_outputs(Path(settings.out), stems[index], out.frames[0], settings.fps, record)
        say(f"video {index + 1}/{len(jobs)}: {path.with_suffix('.mp4')}")
        videos.append(GeneratedVideo(json=path, prompt=prompt, seed=seed, frames=out.frames[0], notes=notes))
    return GenerateResult(videos=videos, settings=shared)
