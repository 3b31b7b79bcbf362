"""A learnt motion as a diffusers model: the trained tensors of a video UNet and what they were trained on.

:class:`LampMotionAdapter` holds exactly ``VideoUNet.trainable_parameters()``, under
the video UNet's own parameter names, so its ``save_pretrained`` folder
(``config.json`` + ``diffusion_pytorch_model.safetensors``) and its single-file motion
file (:meth:`LampMotionAdapter.save_motion_file`, what ``lamp train`` writes) hold the
same tensors under the same names. :meth:`LampMotionAdapter.load_into` puts them onto
an inflated base, after checking that they fit it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from safetensors.torch import load_file
from torch import nn

from .. import __version__
from .fingerprint import fingerprint_mismatch
from .motion_file import (
    DTYPES,
    INT_FIELDS,
    PICKLE_SUFFIXES,
    TEXT_FIELDS,
    MotionFile,
    MotionFileError,
    check_options,
    dtype_name,
    motion_metadata,
    read_motion_header,
    recorded_fields,
    write_motion_file,
)
from .video_unet import MotionOptions, VideoUNet


class LampMotionAdapter(ModelMixin, ConfigMixin):
    """The trained tensors of a LAMP video UNet, with the options, base and settings they were trained with.

    Build one from a trained video UNet with :meth:`from_video_unet`, load one with
    :meth:`from_pretrained` (a hub id, a ``save_pretrained`` folder, or a single motion
    file as ``lamp train`` writes it), put it on an inflated base with :meth:`load_into`
    (or ``VideoUNet.from_unet2d(unet, adapter)``). Save it with :meth:`save_pretrained`
    (a folder, safetensors only) or :meth:`save_motion_file` (one file), and share it with
    ``push_to_hub(repo_id)`` (from diffusers' mixin: it uploads the ``save_pretrained``
    folder).

    Config (numbers as numbers; None where not recorded):
        tensor_shapes: parameter name -> shape, for every tensor held.
        options: the video UNet's MotionOptions, as a dict.
        base_fingerprint: the base UNet's fingerprint (see :mod:`.fingerprint`).
        prompt: the motion prompt.
        base: the base source the motion was trained on ("" for the built-in one).
        num_frames, height, width, stride: the training clips' frames, size and frame stride.
        steps: training steps done.
        generation: the generation settings that suit the motion (``{"steps": int, "guidance": float}``) or {}.
        resize: how training frames were fitted to the size ("crop" or "pad").
        training_config: the resolved training config, as YAML.
        library_version: the lamp_motion version that made the tensors.

    The tensors live in a tree of plain modules mirroring the dotted names (a module's
    child names cannot hold dots), so the state dict's keys are the video UNet's names.
    """

    @register_to_config
    def __init__(self, tensor_shapes: dict[str, list[int]], options: dict | None = None,
                 base_fingerprint: dict | None = None, prompt: str | None = None, base: str | None = None,
                 num_frames: int | None = None, height: int | None = None, width: int | None = None,
                 stride: int | None = None, steps: int | None = None, generation: dict | None = None,
                 resize: str | None = None, training_config: str | None = None, library_version: str | None = __version__):
        super().__init__()
        if options is not None:  # a clear error for unknown, missing or mistyped options (a config.json from anyone)
            check_options(options, "this motion adapter's config")
        self.source = "this motion adapter"  # where it came from, named in error messages
        for name, shape in tensor_shapes.items():
            *parents, leaf = name.split(".")
            module = self
            for part in parents:
                if part not in module._modules:
                    _check_free(module, part, name)
                    module.add_module(part, nn.Module())
                module = module._modules[part]
            _check_free(module, leaf, name)
            module.register_parameter(leaf, nn.Parameter(torch.zeros(shape), requires_grad=False))

    # ---- what it holds -------------------------------------------------------------
    @property
    def options(self) -> MotionOptions:
        return MotionOptions.from_dict(dict(self.config.options or {}))

    @property
    def trained_size(self) -> dict[str, int | None]:
        """``height``, ``width`` and ``num_frames`` the motion was tuned at (None where not recorded)."""
        return {key: self.config[key] for key in ("height", "width", "num_frames")}

    @property
    def generation(self) -> dict[str, int | float]:
        """The generation settings recorded at training (``steps``, ``guidance``); empty where not recorded."""
        return dict(self.config.generation or {})

    def tensors(self) -> dict[str, torch.Tensor]:
        """Name -> tensor, the video UNet's names."""
        return {name: param.detach() for name, param in self.named_parameters()}

    # ---- building ------------------------------------------------------------------
    @classmethod
    def from_video_unet(cls, video_unet: VideoUNet, prompt: str | None = None, base: str | None = None,
                        num_frames: int | None = None, height: int | None = None, width: int | None = None,
                        stride: int | None = None, steps: int | None = None, generation: dict | None = None,
                        resize: str | None = None, training_config: str | None = None) -> "LampMotionAdapter":
        """An adapter holding copies (on the CPU, in their dtype) of ``video_unet``'s trainable tensors.

        Refused for a video UNet that holds a mix of motions (``models.mixing``): its tensors are not one motion."""
        if any(layer.mix_weights for layer in video_unet.motion_layers()):
            raise ValueError("this video UNet holds a mix of motions (models.mixing): its trainable tensors are not one "
                             "motion; save each motion on its own (lamp motion merge writes a mix as one file)")
        tensors = {name: param.detach().to("cpu", copy=True) for name, param in video_unet.trainable_parameters().items()}
        return cls._holding(tensors, options=video_unet.options.to_dict(), base_fingerprint=video_unet.base_fingerprint,
                            prompt=prompt, base=base, num_frames=num_frames, height=height, width=width, stride=stride,
                            steps=steps, generation=dict(generation or {}), resize=resize,
                            training_config=training_config, library_version=__version__)

    @classmethod
    def _holding(cls, tensors: dict[str, torch.Tensor], **config) -> "LampMotionAdapter":
        """An adapter with ``config`` whose parameters are ``tensors`` themselves (built on the meta device: no copy)."""
        with torch.device("meta"):
            adapter = cls(tensor_shapes={name: list(t.shape) for name, t in tensors.items()}, **config)
        for name, tensor in tensors.items():
            parent_name, _, leaf = name.rpartition(".")
            parent = adapter.get_submodule(parent_name)
            parent.register_parameter(leaf, nn.Parameter(tensor, requires_grad=False))
        return adapter

    @classmethod
    def from_motion_file(cls, path: str | os.PathLike | MotionFile,
                         torch_dtype: torch.dtype | None = None) -> "LampMotionAdapter":
        """The adapter a single motion file holds (as ``lamp train`` writes it, from any version).

        ``torch_dtype``: cast the tensors to it (default: keep the file's)."""
        header = path if isinstance(path, MotionFile) else read_motion_header(path)
        tensors = load_file(str(header.path))
        if torch_dtype is not None:
            tensors = {name: tensor.to(torch_dtype) for name, tensor in tensors.items()}
        adapter = cls._holding(tensors, **header.config)
        adapter.source = str(header.path)
        return adapter

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "LampMotionAdapter":
        """Load an adapter from a hub id, a ``save_pretrained`` folder, or a single ``.safetensors`` motion file.

        Folders and hub ids go through diffusers' loading (``local_files_only``,
        ``HF_HUB_OFFLINE``, ``revision``, ``dtype``, ... work as there: tensors load as
        float32 unless ``dtype`` says otherwise), safetensors only. A single file takes
        ``dtype`` alone and keeps the file's dtype without it. Pickled files are refused.
        """
        source = str(pretrained_model_name_or_path)
        path = Path(source).expanduser()
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise MotionFileError(f"{path} is a pickled file ({path.suffix}), which is never loaded (it can run code); "
                                  f"use a motion .safetensors file or a save_pretrained folder")
        if path.is_file():
            if path.suffix.lower() != ".safetensors":
                raise MotionFileError(f"{path} is a file but not a .safetensors motion file; pass the motion.safetensors "
                                      f"`lamp train` wrote, a save_pretrained folder or a hub id")
            unknown = sorted(set(kwargs) - {"dtype", "torch_dtype"})
            if unknown:
                raise TypeError(f"from_pretrained of a single motion file takes only dtype (or torch_dtype), not {unknown}")
            return cls.from_motion_file(path, torch_dtype=kwargs.get("dtype", kwargs.get("torch_dtype")))
        if kwargs.get("use_safetensors") is False:
            raise MotionFileError("LampMotionAdapter loads safetensors only (a pickled file can run code); drop use_safetensors=False")
        adapter = super().from_pretrained(source, **{**kwargs, "use_safetensors": True})
        adapter.source = source
        return adapter

    # ---- saving --------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, dtype: str | torch.dtype | None = None,
                        **kwargs) -> None:
        """Write ``config.json`` and ``diffusion_pytorch_model.safetensors`` to ``save_directory``.

        ``dtype``: "fp32", "fp16", "bf16" (or the torch dtype) of the saved tensors; default:
        as held. The adapter in memory is not changed. Safetensors only; other keyword
        arguments go to diffusers' ``save_pretrained`` (e.g. ``push_to_hub``)."""
        if kwargs.get("safe_serialization") is False:
            raise ValueError("LampMotionAdapter saves safetensors only (a pickled file can run code); drop safe_serialization=False")
        target = self
        if dtype is not None:
            wanted = DTYPES[dtype_name(dtype)]
            target = self._holding({name: t.to(wanted) for name, t in self.tensors().items()}, **self._own_config())
        ModelMixin.save_pretrained(target, save_directory, **{**kwargs, "safe_serialization": True})

    def save_motion_file(self, path: str | os.PathLike, dtype: str | torch.dtype = "fp16") -> Path:
        """Write the single-file motion format (``lamp train``'s motion.safetensors) to ``path`` atomically.

        Raises:
            lamp_motion.files.OutputWriteError: the file could not be written (e.g. the disk is full).
        """
        wanted = DTYPES[dtype_name(dtype)]
        tensors = {name: t.to(wanted).contiguous().cpu() for name, t in self.tensors().items()}
        return write_motion_file(path, tensors, motion_metadata(self._own_config(), dtype))

    def _own_config(self) -> dict:
        """The config's public entries but ``tensor_shapes``."""
        return {key: value for key, value in self.config.items() if not key.startswith("_") and key != "tensor_shapes"}

    # ---- using ---------------------------------------------------------------------
    def check_fits(self, video_unet: VideoUNet, allow_other_base: bool = False) -> None:
        """Raise MotionFileError unless these tensors fit ``video_unet`` (options, names, shapes, base).

        Names the first mismatching tensor and what was expected if the adapter was made
        with other options or for a base of another architecture; fails on a base with
        other weights unless ``allow_other_base`` (e.g. a fine-tune of the same SD)."""
        if self.options != video_unet.options:
            raise MotionFileError(
                f"{self.source} was trained with options {self.options.to_dict()}, but this video UNet has "
                f"{video_unet.options.to_dict()}; inflate the base with the adapter's options "
                f"(VideoUNet.from_unet2d(unet, adapter) does)")
        held, expected = self.tensors(), video_unet.trainable_parameters()
        if "mix.weights" in held:  # models.mixing.merge_motions
            raise MotionFileError(f"{self.source} is a merged motion file (lamp motion merge): apply it with "
                                  f"LampPipeline.from_base / from_motion or lamp_motion.models.mixing.mix_motions")
        for name, param in expected.items():
            if name not in held:
                raise MotionFileError(f"{self.source} lacks tensor {name!r} (expected shape {tuple(param.shape)}): it was made for another base model")
            if tuple(held[name].shape) != tuple(param.shape):
                raise MotionFileError(f"{self.source}: tensor {name!r} has shape {tuple(held[name].shape)}, expected {tuple(param.shape)}: it was made for another base model")
        extra = [name for name in held if name not in expected]
        if extra:
            raise MotionFileError(f"{self.source} has tensor {extra[0]!r} that this video UNet does not train: it was made for another base model")
        why = fingerprint_mismatch(dict(self.config.base_fingerprint or {}), video_unet.base_fingerprint)
        if why and not allow_other_base:
            raise MotionFileError(f"{self.source} was trained on another base: {why}. Load the base it was trained on, or pass allow_other_base=True (--allow-other-base) to apply it anyway")

    @torch.no_grad()
    def load_into(self, video_unet: VideoUNet, allow_other_base: bool = False) -> None:
        """Copy the tensors onto ``video_unet``'s trainable parameters (cast to their dtype and device), after :meth:`check_fits`."""
        self.check_fits(video_unet, allow_other_base)
        held = self.tensors()
        for name, param in video_unet.trainable_parameters().items():
            param.copy_(held[name].to(param.dtype))


def _check_free(module: nn.Module, attribute: str, name: str) -> None:
    if hasattr(module, attribute):
        raise ValueError(f"tensor name {name!r}: {attribute!r} is taken by {type(module).__name__}; "
                         f"a motion adapter cannot hold it")


def save_motion(video_unet: VideoUNet, path: str | os.PathLike, dtype: str = "fp16",
                extra_metadata: dict[str, str] | None = None) -> Path:
    """Write the trainable tensors of ``video_unet`` to ``path`` atomically, as a motion file.

    ``extra_metadata``: recorded fields as the file stores them (``prompt``, ``base``,
    ``num_frames``, ``height``, ``width``, ``stride``, ``steps``, ``resize``, ``config``,
    ``generation``), read as the file's reader reads them. Same as
    ``LampMotionAdapter.from_video_unet(video_unet, ...).save_motion_file(path, dtype)``.

    Raises:
        lamp_motion.files.OutputWriteError: the file could not be written (e.g. the disk is full).
    """
    extra = dict(extra_metadata or {})
    known = {*TEXT_FIELDS.values(), *INT_FIELDS.values(), "generation", "step"}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise ValueError(f"unknown motion file metadata {unknown}; a motion file records {sorted(known - {'step'})}")
    adapter = LampMotionAdapter.from_video_unet(video_unet, **recorded_fields(extra))
    return adapter.save_motion_file(path, dtype)


def load_motion(video_unet: VideoUNet, path: str | os.PathLike, allow_other_base: bool = False) -> MotionFile:
    """Load a motion file onto a freshly inflated ``video_unet``; returns its header.

    Fails as :meth:`LampMotionAdapter.check_fits` says, leaving ``video_unet`` unchanged."""
    header = read_motion_header(path)
    LampMotionAdapter.from_motion_file(header).load_into(video_unet, allow_other_base)
    return header
