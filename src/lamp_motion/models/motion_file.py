"""Motion files: exactly the trainable tensors of a video UNet, as one safetensors file.

Metadata (all strings, as safetensors requires):
``format`` ("lamp-motion/1"), ``library_version``, ``options`` (MotionOptions as JSON),
``base_fingerprint`` (JSON, see :mod:`.fingerprint`), ``dtype``, plus any extra keys
the caller adds (the trainer stores the motion prompt, its resolved config and
``generation``: the generation settings that suit the motion, JSON ``{"steps": 25,
"guidance": 4.0}``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import __version__
from ..files import atomic_path
from .fingerprint import fingerprint_mismatch
from .video_unet import MotionOptions, VideoUNet

FORMAT = "lamp-motion/1"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Generation settings a motion file may record, with their types.
GENERATION_KEYS = {"steps": int, "guidance": float}


class MotionFileError(ValueError):
    """A motion file that cannot be used as asked; the message says why and what to do."""


@dataclass
class MotionFile:
    path: Path
    options: MotionOptions
    base_fingerprint: dict
    metadata: dict[str, str]

    @property
    def prompt(self) -> str | None:
        return self.metadata.get("prompt")

    @property
    def trained_size(self) -> dict[str, int | None]:
        """``height``, ``width`` and ``num_frames`` the motion was tuned at (None where not recorded)."""
        meta = self.metadata
        return {key: int(meta[key]) if meta.get(key, "").isdigit() else None for key in ("height", "width", "num_frames")}

    @property
    def generation(self) -> dict[str, int | float]:
        """The generation settings recorded at training (``steps``, ``guidance``); empty for files without them."""
        try:
            recorded = json.loads(self.metadata.get("generation") or "{}")
        except json.JSONDecodeError as error:
            raise MotionFileError(f"{self.path}: its 'generation' metadata is not JSON ({error}); rewrite it with `lamp train`") from error
        if not isinstance(recorded, dict):
            raise MotionFileError(f"{self.path}: its 'generation' metadata is not a mapping; rewrite it with `lamp train`")
        settings = {}
        for key, kind in GENERATION_KEYS.items():
            value = recorded.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                settings[key] = kind(value)
        return settings


def save_motion(video_unet: VideoUNet, path: str | os.PathLike, dtype: str = "fp16",
                extra_metadata: dict[str, str] | None = None) -> Path:
    """Write the trainable tensors of ``video_unet`` to ``path`` atomically.

    Raises:
        lamp_motion.files.OutputWriteError: the file could not be written (e.g. the disk is full).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not one of {sorted(DTYPES)}")
    path = Path(path)
    tensors = {name: p.detach().to(DTYPES[dtype]).contiguous().cpu() for name, p in video_unet.trainable_parameters().items()}
    metadata = {
        **(extra_metadata or {}),
        "format": FORMAT,
        "library_version": __version__,
        "options": json.dumps(video_unet.options.to_dict(), sort_keys=True),
        "base_fingerprint": json.dumps(video_unet.base_fingerprint, sort_keys=True),
        "dtype": dtype,
    }
    with atomic_path(path) as temporary:  # a full disk raises OutputWriteError and leaves any older file intact
        save_file(tensors, str(temporary), metadata=metadata)
    return path


def read_motion_header(path: str | os.PathLike) -> MotionFile:
    """Read a motion file's metadata (no tensors) and check that it is one."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"motion file {path} does not exist; pass the .safetensors file `lamp train` wrote")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for bad headers
        raise MotionFileError(f"{path} is not a readable safetensors file ({error})") from error
    if metadata.get("format") != FORMAT:
        raise MotionFileError(f"{path} is not a LAMP motion file (format={metadata.get('format')!r}, expected {FORMAT!r})")
    try:
        options = MotionOptions.from_dict(json.loads(metadata["options"]))
        base_fingerprint = json.loads(metadata["base_fingerprint"])
    except (KeyError, TypeError, ValueError) as error:
        raise MotionFileError(f"{path} says it is a LAMP motion file but its header is damaged ({type(error).__name__}: "
                              f"{error}); use the motion.safetensors that `lamp train` wrote, or a checkpoint's") from error
    return MotionFile(path=path, options=options, base_fingerprint=base_fingerprint, metadata=metadata)


def load_motion(video_unet: VideoUNet, path: str | os.PathLike, allow_other_base: bool = False) -> MotionFile:
    """Load a motion file onto a freshly inflated ``video_unet``.

    Fails, naming the first mismatching tensor and what was expected, if the file was
    made with other options or for a base of another architecture; fails on a base
    with other weights unless ``allow_other_base`` (e.g. a fine-tune of the same SD).
    """
    header = read_motion_header(path)
    if header.options != video_unet.options:
        raise MotionFileError(
            f"{header.path} was trained with options {header.options.to_dict()}, but this video UNet has "
            f"{video_unet.options.to_dict()}; inflate the base with the file's options (VideoUNet.inflate(unet, header.options))")
    expected = video_unet.trainable_parameters()
    with safe_open(str(header.path), framework="pt") as handle:
        names = list(handle.keys())
        for name, param in expected.items():
            if name not in names:
                raise MotionFileError(f"{header.path} lacks tensor {name!r} (expected shape {tuple(param.shape)}): it was made for another base model")
            shape = tuple(handle.get_slice(name).get_shape())
            if shape != tuple(param.shape):
                raise MotionFileError(f"{header.path}: tensor {name!r} has shape {shape}, expected {tuple(param.shape)}: it was made for another base model")
        extra = [n for n in names if n not in expected]
        if extra:
            raise MotionFileError(f"{header.path} has tensor {extra[0]!r} that this video UNet does not train: it was made for another base model")
        why = fingerprint_mismatch(header.base_fingerprint, video_unet.base_fingerprint)
        if why and not allow_other_base:
            raise MotionFileError(f"{header.path} was trained on another base: {why}. Load the base it was trained on, or pass allow_other_base=True (--allow-other-base) to apply it anyway")
        with torch.no_grad():
            for name, param in expected.items():
                param.copy_(handle.get_tensor(name).to(param.dtype))
    return header
