"""Edit: one video, edited through its first frame, with the motion tuned on that video."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from ..data.frames import clip_span
from ..errors import JobStopped, SettingError, name_settings
from ..files import slug
from ..models import read_motion_header
from ..pipelines.canny import first_frame_from_canny
from ..pipelines.editing import invert_and_sample, source_clip
from ..pipelines.first_frame import check_source
from ..pipelines.images import fit_image, load_image
from ..settings import SamplingSettings, check_frame_rate, takes_sampling_keywords
from ..video_io import read_video
from .common import GeneratedVideo, Log, check_out, load_motion_base, resolve_device, video_model, write_outputs

DEFAULT_STRIDE = 2  # frames taken from the source when the motion file records no training stride


@takes_sampling_keywords
@dataclass
class EditSettings:
    """Everything :func:`edit` needs; the edited first frame comes from ``image`` or from ``canny_controlnet``.

    ``sampling``: as for GenerateSettings (also as keywords of their own), used by the inversion
    and the sampling; its ``shared_noise`` is not used (sampling starts from the inverted noise)."""

    motion: str | os.PathLike[str]  # the motion tuned on the source video
    video: str | os.PathLike[str]  # the source video
    prompt: str  # the edited video's prompt
    image: str | os.PathLike[str] | Image.Image | None = None  # the edited first frame
    canny_controlnet: str | None = None  # or: make it with this canny ControlNet (hub id or folder) ...
    canny_image_model: str | None = None  # ... of this image model, from the source's first frame
    image_prompt: str | None = None  # prompt of the ControlNet image model (default: prompt)
    canny_steps: int = 30
    canny_guidance: float = 7.0
    canny_scale: float = 1.0  # ControlNet conditioning scale
    canny_thresholds: tuple[float, float] = (100.0, 200.0)  # canny hysteresis thresholds (low, high)
    stride: int | None = None  # take every stride-th source frame (default: the motion's training stride, else 2)
    start: int = 0  # first source frame used
    out: str | os.PathLike[str] = "outputs/edits"
    base: str | None = None  # base model (default: the one the motion was trained on)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)  # frames to edit, size, steps, guidance, ...
    seed: int | None = None  # seeds only a ControlNet first frame: inversion and sampling are deterministic
    fps: float | None = None  # default: the source's frame rate divided by the stride
    device: str = "auto"
    dtype: str = "auto"
    allow_other_base: bool = False  # as GenerateSettings.allow_other_base


@dataclass
class EditResult:
    """The edited video, and the edited first frame as given to the model (PNG beside it)."""

    video: GeneratedVideo
    first_frame: Path
    settings: dict


def _check_first_frame_source(settings: EditSettings) -> None:
    if (settings.image is None) == (settings.canny_controlnet is None):
        raise SettingError("give the edited first frame as {image}, or {canny_controlnet} MODEL to make it from the "
                           "source's edges; exactly one of the two", "image", "canny_controlnet")
    if settings.canny_controlnet and not settings.canny_image_model:
        raise SettingError("{canny_controlnet} needs {canny_image_model} MODEL, the image model the ControlNet belongs "
                           "to (e.g. stabilityai/stable-diffusion-xl-base-1.0 for diffusers/controlnet-canny-sdxl-1.0)",
                           "canny_controlnet", "canny_image_model")
    if settings.canny_image_model and not settings.canny_controlnet:
        raise SettingError("{canny_image_model} is used only with {canny_controlnet} MODEL; with {image}, leave it out",
                           "canny_image_model", "canny_controlnet", "image")
    low, high = settings.canny_thresholds
    if settings.canny_controlnet and not 0 <= low <= high:
        raise SettingError(f"{{canny_thresholds}} {low:g} {high:g}: need 0 <= LOW <= HIGH (ControlNet's annotator uses "
                           f"100 200)", "canny_thresholds")


def edit(settings: EditSettings, log: Log | None = print, given_by: str = "settings",
         setting_names: Mapping[str, str] | None = None, stop: threading.Event | None = None) -> EditResult:
    """DDIM-invert the source clip with the motion, then generate from that noise with the edited first frame.

    Writes the video (mp4, gif, contact sheet, JSON of every setting) and the edited first
    frame into ``settings.out``; with a ControlNet, also the canny edges. ``log`` receives
    the notes (settings named as ``setting_names`` says) and the path written; ``given_by`` names
    where given steps and guidance came from in the JSON's ``setting_sources``. ``stop``: once set,
    :class:`~lamp_motion.errors.JobStopped` before the models load or at the next inversion or denoising
    step; the edited video is not written (a ControlNet's edges may be).
    """
    say = log or (lambda _: None)

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise JobStopped("the edit stopped on request; no edited video written")

    def on_step(pipe, index, timestep, tensors: dict) -> dict:  # the pipeline's callback_on_step_end
        check_stop()
        return tensors

    # 1. Check everything that needs no model: frame rate, motion header, settings, source video, edited image.
    check_frame_rate(settings.fps, optional=True)
    header = read_motion_header(settings.motion)
    resolved = replace(settings.sampling, shared_noise=0.0).resolve(header, given_by)
    sampling = resolved.values
    height, width = sampling.height, sampling.width
    stride = settings.stride if settings.stride is not None else (header.stride or DEFAULT_STRIDE)
    _check_first_frame_source(settings)
    if settings.canny_controlnet:  # both names, before either model loads
        check_source(settings.canny_controlnet, "canny_controlnet")
        check_source(settings.canny_image_model, "canny_image_model")
    notes: list[str] = []
    # Only the frames up to the clip's last are decoded (a long source costs no more than a short one).
    video, source_fps = read_video(settings.video, notes,
                                   stop_after=max(1, settings.start + clip_span(sampling.frames, stride)))
    clip = source_clip(video, sampling.frames, stride, height, width, settings.start, notes)
    image = settings.image
    if image is not None and not isinstance(image, Image.Image):
        image = load_image(image, notes)
    check_out(settings.out)
    device, dtype = resolve_device(settings.device, settings.dtype)
    out_dir = Path(settings.out)
    name = f"{slug(settings.prompt)}-edit"
    files = {"first_frame": f"{name}-first-frame.png"}

    # 2. The edited first frame: the user's image, or a ControlNet image model (released before the video stage).
    image_prompt = settings.image_prompt or settings.prompt
    check_stop()
    if image is None:  # edges of the source's own first frame, at the image model's size (no upscaled clip frame)
        low, high = settings.canny_thresholds
        image, edges = first_frame_from_canny(Image.fromarray(video[settings.start]), image_prompt,
                                              settings.canny_controlnet, settings.canny_image_model, height, width,
                                              device, dtype, seed=settings.seed or 0, steps=settings.canny_steps,
                                              guidance=settings.canny_guidance,
                                              conditioning_scale=settings.canny_scale, low=low, high=high)
        first_frame = f"canny:{settings.canny_controlnet} with {settings.canny_image_model}"
        files["canny_edges"] = f"{name}-canny.png"
        out_dir.mkdir(parents=True, exist_ok=True)
        edges.save(out_dir / files["canny_edges"])
    else:
        given = settings.image if not isinstance(settings.image, Image.Image) else "(given)"
        first_frame, image_prompt = f"image:{given}", None
        if settings.seed is not None:
            notes.append(name_settings("{seed} has no effect with {image}: DDIM inversion and DDIM sampling are "
                                       "deterministic (the seed is used only to make a first frame with "
                                       "{canny_controlnet})", setting_names, "seed", "image", "canny_controlnet"))
    image, note = fit_image(image, height, width)
    if note:
        notes.append(f"edited first frame {note}")

    # 3. The video model, then inversion of the source and generation from it.
    check_stop()
    base = load_motion_base(header, settings.base, dtype)
    pipe = video_model(base, settings.motion, header, settings.base, settings.allow_other_base, say).to(device)
    out = invert_and_sample(pipe, clip, image, settings.prompt, sampling, callback_on_step_end=on_step)
    for line in notes + out.notes:
        say(f"note: {line}")

    # 4. Video files, the edited first frame as given to the model, and every setting.
    fps = settings.fps or source_fps / stride
    out_dir.mkdir(parents=True, exist_ok=True)
    image.save(out_dir / files["first_frame"])
    record = {key: value for key, value in resolved.record().items() if key != "window"}
    record = dict(prompt=settings.prompt, motion=str(settings.motion), motion_prompt=header.prompt, base=base.source,
                  source_video=str(settings.video), source_fps=source_fps, start=settings.start, stride=stride,
                  first_frame=first_frame, image_prompt=image_prompt, **record,
                  inversion="DDIM, empty prompt, no guidance, same steps", device=str(device), dtype=str(dtype),
                  seed=None if settings.image is not None else settings.seed or 0, images=files)
    path = write_outputs(out_dir, name, out.frames[0], fps, record)
    say(f"edited video: {path.with_suffix('.mp4')}")
    video_out = GeneratedVideo(json=path, prompt=settings.prompt, seed=record["seed"], frames=out.frames[0],
                               notes=notes + out.notes)
    return EditResult(video=video_out, first_frame=out_dir / files["first_frame"], settings=record)
