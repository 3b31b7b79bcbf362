"""Loading a Stable Diffusion 1.x base model the way users hold one.

A base is named by one string:

* a local diffusers folder (``model_index.json`` with ``unet/``, ``vae/``, ... inside;
  for the UNet alone, a folder holding the UNet's own ``config.json`` also works);
* a single-file SD 1.x checkpoint ending in ``.safetensors`` (loaded through
  diffusers' single-file loading; its architecture config comes from ``config``, a
  diffusers folder or hub id, default :data:`SD15_CONFIG`);
* a hub id (``owner/name``), looked up in the local hub cache first, and on the
  network only when ``HF_HUB_OFFLINE`` is not set.

The loaders need a base named: the built-in toy base as the default is resolved above
``models/`` (:func:`lamp_motion.builtin.resolve_base`).

Pickled checkpoints (``.ckpt``, ``.bin``, ``.pt``) are refused: loading them would run
code from the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from ..errors import SettingError
from .motion_file import PICKLE_SUFFIXES
from .video_unet import check_sd1_unet

SD15_CONFIG = "stable-diffusion-v1-5/stable-diffusion-v1-5"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def is_hub_id(source: str) -> bool:
    """Whether ``source`` has the form of a hub repository id, ``owner/name`` (not a relative path)."""
    return bool(_HUB_ID.match(source)) and not source.startswith((".", "/", "~"))


class BaseModelError(SettingError):
    """A base model that cannot be loaded; the one-line message says what was found and what is needed.

    Where the message names the setting that gave the model, it is a :class:`SettingError`
    placeholder (``{t2i}``), so that the CLI can show its flag.
    """


@dataclass
class BaseModel:
    """The parts of an SD 1.x pipeline LAMP uses."""

    source: str
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler_config: dict

    def noise_scheduler(self) -> DDPMScheduler:
        """The training noise schedule (betas, prediction type) of the base."""
        return DDPMScheduler.from_config(self.scheduler_config)

    def ddim_scheduler(self) -> DDIMScheduler:
        """A DDIM sampler on the base's schedule; never clips x0 (latents are not in [-1, 1])."""
        return DDIMScheduler.from_config(self.scheduler_config, clip_sample=False)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _named(source: str | os.PathLike[str] | None) -> str:
    if source is None or str(source) == "":
        raise BaseModelError("no base model named: pass a hub id (owner/name), a diffusers folder or an SD 1.x "
                             ".safetensors file (lamp_motion.builtin.resolve_base(None) names the built-in toy base)")
    return str(source)


def classify_source(source: str) -> tuple[str, Path | str]:
    """("folder" | "unet_folder" | "single_file" | "hub", location) or a BaseModelError."""
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise BaseModelError(f"{path} is a pickled checkpoint ({path.suffix}), which is never loaded (it can run code); convert it to .safetensors or use a diffusers folder")
        if path.suffix.lower() != ".safetensors":
            raise BaseModelError(f"{path} is a file but not a .safetensors checkpoint; pass an SD 1.x .safetensors file, a diffusers folder or a hub id")
        return "single_file", path
    if path.is_dir():
        if (path / "model_index.json").is_file() or (path / "unet" / "config.json").is_file():
            return "folder", path
        if (path / "config.json").is_file():
            return "unet_folder", path
        raise BaseModelError(f"{path} is not a diffusers model folder: it holds no model_index.json, unet/config.json or config.json; it needs model_index.json and unet/, vae/, text_encoder/, tokenizer/, scheduler/")
    if is_hub_id(source):
        return "hub", source
    raise BaseModelError(f"base model {source!r} not found: no such file or folder, and not a hub id (owner/name)")


def load_from_hub(loader, source: str, **kwargs):
    """Load from the hub cache; go online only when offline mode is off."""
    try:
        return loader(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_error:
        if _offline():
            raise BaseModelError(f"{source} is not in the local hub cache and HF_HUB_OFFLINE is set; download it on a connected machine (huggingface-cli download {source}) or pass a local folder") from cached_error
    try:
        return loader(source, **kwargs)
    except (OSError, ValueError) as error:
        raise BaseModelError(f"could not load {source} from the hub: {str(error).splitlines()[0]}") from error


def load_base_unet(source: str, dtype: torch.dtype = torch.float32, config: str | None = None) -> UNet2DConditionModel:
    """Load only the UNet of an SD 1.x base and check it is one."""
    source = _named(source)
    kind, where = classify_source(source)
    try:
        if kind == "single_file":
            unet = UNet2DConditionModel.from_single_file(str(where), config=config or SD15_CONFIG, subfolder="unet",
                                                         torch_dtype=dtype, local_files_only=_offline() or Path(config or "").is_dir())
        elif kind == "hub":
            unet = load_from_hub(UNet2DConditionModel.from_pretrained, source, subfolder="unet", torch_dtype=dtype)
        else:
            unet = UNet2DConditionModel.from_pretrained(str(where), subfolder="unet" if kind == "folder" else None, torch_dtype=dtype)
    except BaseModelError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise BaseModelError(f"could not load a UNet from {source}: {str(error).splitlines()[0]}") from error
    check_sd1_unet(unet)
    return unet


def load_base(source: str, dtype: torch.dtype = torch.float32, config: str | None = None) -> BaseModel:
    """Load the UNet, VAE, text encoder, tokenizer and scheduler config of an SD 1.x base."""
    source = _named(source)
    kind, where = classify_source(source)
    if kind == "unet_folder":
        raise BaseModelError(f"{where} holds a UNet alone; a full base needs the whole diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)")
    try:
        if kind == "single_file":
            pipe = StableDiffusionPipeline.from_single_file(str(where), config=config or SD15_CONFIG, torch_dtype=dtype,
                                                            local_files_only=_offline() or Path(config or "").is_dir())
        elif kind == "hub":
            pipe = load_from_hub(StableDiffusionPipeline.from_pretrained, source, torch_dtype=dtype, safety_checker=None)
        else:
            pipe = StableDiffusionPipeline.from_pretrained(str(where), torch_dtype=dtype, safety_checker=None)
    except BaseModelError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise BaseModelError(f"could not load an SD 1.x pipeline from {source}: {str(error).splitlines()[0]}") from error
    check_sd1_unet(pipe.unet)
    tokenizer = pipe.tokenizer
    if len(tokenizer) <= 3 or len(tokenizer) > pipe.text_encoder.config.vocab_size:
        raise BaseModelError(f"the tokenizer of {source} has {len(tokenizer)} tokens for a text encoder of {pipe.text_encoder.config.vocab_size}: it did not load properly (an offline hub load can yield an empty tokenizer)")
    return BaseModel(source=source, unet=pipe.unet, vae=pipe.vae, text_encoder=pipe.text_encoder,
                     tokenizer=tokenizer, scheduler_config=dict(pipe.scheduler.config))


def load_recorded_base(base: str, where: object, dtype: torch.dtype = torch.float32) -> BaseModel:
    """Load the base a motion file (``where``) records; a BaseModelError naming the file and ``{base}`` when it cannot be.

    A motion file may come from anyone: its ``base`` is loaded as a given base would be
    (never a pickled file), and an error says that the name came from the file."""
    try:
        return load_base(base, dtype=dtype)
    except BaseModelError as error:
        raise BaseModelError(f"{where} records the base {base!r}, which cannot be loaded ({error}); pass the base it "
                             f"was trained on as {{base}}", "base") from error
