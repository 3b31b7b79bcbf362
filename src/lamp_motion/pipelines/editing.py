"""Single-video editing: the source video's motion, an edited first frame's look.

The video UNet is tuned on the one source video first (configs/edit_single_video.yaml).
Then :func:`edit_video`:

1. takes ``num_frames`` frames of the source, every ``stride``-th from ``start``, fitted
   to ``height x width`` (:func:`source_clip`);
2. encodes them with the VAE and DDIM-inverts frames 2..N with the empty prompt and no
   guidance, frame 1 staying the clean source frame (:func:`ddim_invert`: sampling forward
   from its result with the same frame 1 and prompt gives the source back);
3. samples with :class:`.lamp_pipeline.LampPipeline` from those inverted latents, frame 1
   being the encoded edited frame, with no shared noise.

With the unedited first frame, the empty prompt and no guidance, step 3 gives the
source back up to DDIM's discretisation error; an edited frame 1 and the edit's prompt
carry the edit through the source's motion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from diffusers import DDIMInverseScheduler
from PIL import Image
from tqdm.auto import tqdm

from ..data.frames import clip_span, frames_to_pixels, resize_and_center_crop
from ..data.latent_cache import encode_clip, vae_encoder
from ..errors import SettingError
from ..settings import SamplingSettings
from ..video_io import read_video
from .images import load_image
from .postprocess import AdaINSchedule

if TYPE_CHECKING:
    from .lamp_pipeline import StepCallback


@torch.no_grad()
def ddim_invert(pipe, latents: torch.Tensor, num_inference_steps: int = 50, prompt: str = "",
                progress: bool = True, callback_on_step_end: StepCallback | None = None) -> torch.Tensor:
    """Clean video latents (b, c, f, h, w) -> the noisy latents DDIM sampling starts from.

    ``callback_on_step_end(pipe, index, timestep, {"latents": ...})`` after each inversion step, as in
    :meth:`.LampPipeline.sample`: the latents it returns go on (frame 1 stays the clean first frame)."""
    if latents.ndim != 5:
        raise ValueError(f"ddim_invert expects latents (b, c, f, h, w), got {tuple(latents.shape)}")
    inverse = DDIMInverseScheduler.from_config(pipe.scheduler.config, clip_sample=False)
    inverse.set_timesteps(num_inference_steps, device=pipe.device)
    text = pipe.encode_prompt([prompt] * latents.shape[0]).to(pipe.unet.dtype)
    latents = latents.to(pipe.device, torch.float32)
    first = latents[:, :, :1]
    for i, t in enumerate(tqdm(inverse.timesteps, desc="inverting", disable=not progress, leave=False)):
        prediction = pipe.unet(latents.to(pipe.unet.dtype), t, text).float()
        stepped = inverse.step(prediction[:, :, 1:], t, latents[:, :, 1:]).prev_sample
        latents = torch.cat([first, stepped], dim=2)
        if callback_on_step_end is not None:
            latents = torch.cat([first, callback_on_step_end(pipe, i, t, {"latents": latents})["latents"][:, :, 1:]],
                                dim=2)
    return latents


@dataclass
class EditOutput:
    """``frames``: as :class:`.lamp_pipeline.LampOutput` gives them for ``output_type``.
    ``latents``: the final (1, c, f, h/8, w/8) latents. ``source_latents``: the encoded source clip.
    ``inverted_latents``: where sampling started. ``notes``: input adjustments made."""

    frames: object
    latents: torch.Tensor
    source_latents: torch.Tensor
    inverted_latents: torch.Tensor
    notes: list[str]


def source_clip(frames: np.ndarray, num_frames: int, stride: int, height: int, width: int, start: int = 0,
                notes: list[str] | None = None) -> np.ndarray:
    """Frames ``start, start + stride, ...`` (``num_frames`` of them) of a (f, h, w, 3) uint8 video, fitted to height x width."""
    if num_frames < 2 or stride < 1 or start < 0:
        raise ValueError(f"frames={num_frames}, stride={stride}, start={start}: need at least 2 frames, a stride of at least 1 and a start of at least 0")
    available = len(frames) - start
    span = clip_span(num_frames, stride)
    if available < span:
        fits = (available - 1) // stride + 1 if available > 0 else 0
        if fits < 2:
            raise SettingError(f"the source video has {len(frames)} frame(s), so {fits} frame(s) at stride {stride} from "
                               f"frame {start}: editing needs at least 2 (frame 1 is the edited image); use a smaller "
                               f"{{stride}} or {{start}}, or a longer video", "stride", "start")
        raise SettingError(f"the source video has {len(frames)} frames; {num_frames} frames at stride {stride} from frame "
                           f"{start} need {span}. Use {{num_frames}} {fits} or fewer, a smaller {{stride}} or {{start}}, "
                           f"or a longer video", "num_frames", "stride", "start")
    clip = frames[start:start + span:stride]
    if clip.shape[1:3] != (height, width):
        if notes is not None:
            notes.append(f"source video resized and centre-cropped from {clip.shape[2]}x{clip.shape[1]} to {width}x{height}")
        clip = resize_and_center_crop(clip, height, width)
    return clip


def edit_video(pipe, source: np.ndarray | str | os.PathLike, edited_first_frame: Image.Image | str | os.PathLike,
               prompt: str, num_frames: int | None = None, stride: int = 2, start: int = 0, height: int | None = None,
               width: int | None = None,
               num_inference_steps: int | None = None, guidance_scale: float | None = None, negative_prompt: str | None = None,
               adain: AdaINSchedule | bool = True, histogram_matching: bool = True, output_type: str = "np",
               decode_chunk: int = 2, progress: bool = True) -> EditOutput:
    """Edit one video: DDIM-invert ``source`` and sample from it with ``edited_first_frame`` as frame 1.

    source: a (f, h, w, 3) uint8 video or a video path (see :func:`lamp_motion.video_io.read_video`).
    edited_first_frame: a PIL image or an image path; it is fitted to height x width.
    num_frames, height, width, num_inference_steps, guidance_scale: resolved once against the
    motion file (``LampPipeline.resolve``); stride: take every stride-th source frame.
    Then :func:`invert_and_sample` on the clip.
    """
    # 1. Check inputs before any model runs: the settings, the source clip, the edited image.
    settings = pipe.resolve(SamplingSettings(frames=num_frames, height=height, width=width,
                                             sampling_steps=num_inference_steps, guidance=guidance_scale,
                                             negative_prompt=negative_prompt, shared_noise=0.0, adain=adain,
                                             histogram_matching=histogram_matching)).values
    notes: list[str] = []
    if not isinstance(source, np.ndarray):
        source = read_video(source, notes, stop_after=max(1, start + clip_span(settings.frames, stride)))[0]
    clip = source_clip(source, settings.frames, stride, settings.height, settings.width, start, notes)
    if not isinstance(edited_first_frame, Image.Image):
        edited_first_frame = load_image(edited_first_frame)
    out = invert_and_sample(pipe, clip, edited_first_frame, prompt, settings, output_type, decode_chunk, progress)
    out.notes[:0] = notes
    return out


def invert_and_sample(pipe, clip: np.ndarray, edited_first_frame: Image.Image, prompt: str, settings: SamplingSettings,
                      output_type: str = "np", decode_chunk: int = 2, progress: bool = True,
                      callback_on_step_end: StepCallback | None = None) -> EditOutput:
    """Steps 2 and 3 of the edit on a source ``clip`` already cut to ``settings`` (resolved; its shared noise unused).

    The inversion uses ``settings.sampling_steps`` steps, the empty prompt and no guidance;
    sampling uses ``prompt``, ``settings.guidance`` and the same number of steps.
    ``callback_on_step_end`` is called after every inversion step, then every sampling step."""
    # 2. Encode the source clip and invert frames 2..N (empty prompt, no guidance).
    mean, _ = encode_clip(frames_to_pixels(clip), vae_encoder(pipe.vae))  # (c, f, h/8, w/8), unscaled
    source_latents = mean[None] * pipe.vae.config.scaling_factor  # (1, c, f, h/8, w/8)
    inverted = ddim_invert(pipe, source_latents, num_inference_steps=settings.sampling_steps, prompt="",
                           progress=progress, callback_on_step_end=callback_on_step_end)

    # 3. Sample from the inverted latents; the pipeline puts the encoded edited frame in frame 1.
    out = pipe.sample(prompt, edited_first_frame, replace(settings, shared_noise=0.0), latents=inverted,
                      output_type=output_type, decode_chunk=decode_chunk, progress=progress,
                      callback_on_step_end=callback_on_step_end)
    return EditOutput(frames=out.frames, latents=out.latents, source_latents=source_latents, inverted_latents=inverted,
                      notes=out.notes)
