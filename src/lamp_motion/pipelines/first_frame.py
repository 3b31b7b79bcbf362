"""First frames: from a user's image, any diffusers text-to-image model, or the base model.

A text-to-image model is loaded, used and released before the video stage, so the
two never sit in memory at once. Images are made at the model's own resolution with
the requested aspect ratio, then resized and centre-cropped to the video size.
"""

from __future__ import annotations

import gc
from pathlib import Path

import torch
from PIL import Image

from ..models.loading import BaseModel, BaseModelError, is_hub_id, load_from_hub
from .images import fit_image


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def check_source(source: str, setting: str) -> Path | None:
    """Refuse, without loading anything, a value of ``setting`` that cannot name a diffusers model.

    Returns the local folder, or None for a hub id (whose presence only loading can tell).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise BaseModelError(f"{{{setting}}} {path}: a single file; pass a diffusers folder or a hub id (owner/name)", setting)
    if not is_hub_id(source):
        raise BaseModelError(f"{{{setting}}} {source}: no such folder, and not a hub id (owner/name); pass a diffusers folder or hub id", setting)
    return None


def load_pretrained(loader, source: str, setting: str, **kwargs):
    """A diffusers model or pipeline given as ``setting``: a folder, or a hub id (hub cache first)."""
    path = check_source(source, setting)
    if path is None:
        return load_from_hub(loader, source, **kwargs)
    try:
        return loader(str(path), **kwargs)
    except (OSError, ValueError) as error:
        raise BaseModelError(f"{{{setting}}} {path}: not a loadable diffusers folder ({str(error).splitlines()[0]})", setting) from error


def _native_size(pipe, height: int, width: int) -> tuple[int, int]:
    """The requested aspect ratio at the model's own resolution (multiples of 64)."""
    unet = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    native = int(unet.config.sample_size) * int(getattr(pipe, "vae_scale_factor", 8)) if unet is not None else max(height, width)
    scale = native / max(height, width)
    return max(64, round(height * scale / 64) * 64), max(64, round(width * scale / 64) * 64)


@torch.no_grad()
def first_frames_from_t2i(model: str, prompts: list[str], seeds: list[int], height: int, width: int,
                          device: torch.device, dtype: torch.dtype, steps: int = 30, guidance: float = 7.0) -> list[Image.Image]:
    """One image per (prompt, seed) from a diffusers text-to-image pipeline (hub id or folder), e.g. SD-XL."""
    from diffusers import AutoPipelineForText2Image

    pipe = load_pretrained(AutoPipelineForText2Image.from_pretrained, model, "t2i", torch_dtype=dtype)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    size = _native_size(pipe, height, width)
    images = []
    try:
        for prompt, seed in zip(prompts, seeds):
            generator = torch.Generator().manual_seed(seed)
            image = pipe(prompt, height=size[0], width=size[1], num_inference_steps=steps, guidance_scale=guidance,
                         generator=generator).images[0]
            images.append(fit_image(image, height, width)[0])
    finally:
        del pipe
        _release(device)
    return images


@torch.no_grad()
def first_frames_from_base(base: BaseModel, prompts: list[str], seeds: list[int], height: int, width: int,
                           device: torch.device, steps: int = 30, guidance: float = 7.0) -> list[Image.Image]:
    """One image per (prompt, seed) from the base SD 1.x model itself (call before inflating its UNet)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=base.unet,
                                   scheduler=base.ddim_scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False).to(device)
    pipe.set_progress_bar_config(disable=True)
    images = []
    for prompt, seed in zip(prompts, seeds):
        generator = torch.Generator().manual_seed(seed)
        images.append(pipe(prompt, height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
                           generator=generator).images[0])
    return images

