"""A learnt motion as a diffusers model: the trained tensors of a video UNet and what they were trained on.

:class:`LampMotionAdapter` holds exactly ``VideoUNet.trainable_parameters()``, under
the video UNet's own parameter names, so its ``save_pretrained`` folder
(``config.json`` + ``diffusion_pytorch_model.safetensors``) and its single-file motion
file (:meth:`LampMotionAdapter.save_motion_file`, what ``lamp train`` writes) hold the
same tensors under the same names. :meth:`LampMotionAdapter.load_into` puts them onto
an inflated base, after checking that they fit it.

The base's own weights that train (``attn1.to_q`` in the paper's set) are held as a
difference from the base they were trained on (``base_weights="difference"``): loading
adds it to the base's values, so a motion applies to a fine-tune of its base (same
shapes, other weights) without throwing away what the fine-tune learnt there, with an
:class:`OtherBaseWarning` naming the base it was trained on. Differences are additive:
two motions' differences can be summed onto one base. Older files, checkpoints and
whole-UNet motions hold the trained values in full (``"full"``); on another base they
are turned into a difference when the base they were trained on is given
(``trained_base``), and otherwise replace the base's values only with
``allow_other_base``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from diffusers import ConfigMixin, ModelMixin, UNet2DConditionModel
from diffusers.configuration_utils import register_to_config
from safetensors.torch import load_file
from torch import nn

from .. import __version__
from .attention import TemporalAttention
from .fingerprint import fingerprint_mismatch, unet_fingerprint
from .motion_conv import MotionConv2d
from .motion_file import (
    BASE_WEIGHT_FORMS,
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


class OtherBaseWarning(UserWarning):
    """A motion loaded onto a base other than the one it was trained on (same shapes, other weights)."""


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
        base_weights: how the base's own trained weights are held: "difference" (trained
            minus the base's) or "full" (None reads as "full", as in files without it).

    The tensors live in a tree of plain modules mirroring the dotted names (a module's
    child names cannot hold dots), so the state dict's keys are the video UNet's names.
    """

    @register_to_config
    def __init__(self, tensor_shapes: dict[str, list[int]], options: dict | None = None,
                 base_fingerprint: dict | None = None, prompt: str | None = None, base: str | None = None,
                 num_frames: int | None = None, height: int | None = None, width: int | None = None,
                 stride: int | None = None, steps: int | None = None, generation: dict | None = None,
                 resize: str | None = None, training_config: str | None = None, library_version: str | None = __version__,
                 base_weights: str | None = None):
        super().__init__()
        if base_weights is not None and base_weights not in BASE_WEIGHT_FORMS:
            raise MotionFileError(f"base_weights={base_weights!r} is not one of {BASE_WEIGHT_FORMS}")
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

    @property
    def base_weights(self) -> str:
        """How the base's own trained weights are held: "difference" or "full"."""
        return self.config.base_weights or "full"

    @property
    def trained_on(self) -> str:
        """The base the motion was trained on, in words, for messages."""
        base = self.config.base
        return "the built-in toy base" if base == "" else "a base it does not name" if base is None else repr(base)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Name -> tensor, the video UNet's names."""
        return {name: param.detach() for name, param in self.named_parameters()}

    # ---- building ------------------------------------------------------------------
    @classmethod
    def from_video_unet(cls, video_unet: VideoUNet, prompt: str | None = None, base: str | None = None,
                        num_frames: int | None = None, height: int | None = None, width: int | None = None,
                        stride: int | None = None, steps: int | None = None, generation: dict | None = None,
                        resize: str | None = None, training_config: str | None = None,
                        base_weights: str = "difference") -> "LampMotionAdapter":
        """An adapter holding copies (on the CPU, in their dtype) of ``video_unet``'s trainable tensors.

        ``base_weights``: "difference" holds the base's own trained weights as trained minus
        ``video_unet.base_tensors`` (computed in float32, then in their dtype); "full" (what
        checkpoints use: resuming is then exact) holds them as trained. A video UNet without
        base copies (``train_layers="unet"``) gives "full" either way; one whose to_q trains
        as a LoRA (``to_q_rank``) holds none of the base's weights, only the LoRA, whose change
        adds onto any base: "difference" either way. Refused for a video UNet
        that holds a mix of motions (``models.mixing``): its tensors are not one motion."""
        if base_weights not in BASE_WEIGHT_FORMS:
            raise ValueError(f"base_weights={base_weights!r} is not one of {BASE_WEIGHT_FORMS}")
        if any(layer.mix_weights for layer in video_unet.motion_layers()):
            raise ValueError("this video UNet holds a mix of motions (models.mixing): its trainable tensors are not one "
                             "motion; save each motion on its own (lamp motion merge writes a mix as one file)")
        tensors = {name: param.detach().to("cpu", copy=True) for name, param in video_unet.trainable_parameters().items()}
        names, kept = video_unet.base_parameter_names(), video_unet.base_tensors
        if base_weights == "difference" and all(name in kept for name in names):  # none with a to_q LoRA
            for name in names:
                tensors[name] = (tensors[name].float() - kept[name].float()).to(tensors[name].dtype)
        else:
            base_weights = "full"
        return cls._holding(tensors, options=video_unet.options.to_dict(), base_fingerprint=video_unet.base_fingerprint,
                            prompt=prompt, base=base, num_frames=num_frames, height=height, width=width, stride=stride,
                            steps=steps, generation=dict(generation or {}), resize=resize,
                            training_config=training_config, library_version=__version__, base_weights=base_weights)

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
    def check_fits(self, video_unet: VideoUNet, allow_other_base: bool = False) -> str | None:
        """Raise MotionFileError unless these tensors fit ``video_unet``; returns a note when its base is another.

        Names the first mismatching tensor and what was expected if the adapter was made
        with other options or for a base of another architecture (other shapes). On a base
        with the same shapes but other weights (e.g. a fine-tune of the same SD): a
        "difference" adapter fits, with a note naming the base it was trained on; a "full"
        one fails unless ``allow_other_base`` (its values then replace the base's)."""
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
        if why is None:
            return None
        if self.base_weights == "difference":
            return (f"{self.source} was trained on {self.trained_on}, not this base ({why}); what it changed in the "
                    f"base's own weights is added to this base's")
        if not allow_other_base:
            raise MotionFileError(
                f"{self.source} was trained on another base ({self.trained_on}): {why}. It stores the base's own "
                f"trained weights in full (a file of an older version, or a checkpoint): load the base it was trained "
                f"on, give that base as trained_base (its weights are then added as a difference), or pass "
                f"allow_other_base=True (--allow-other-base) to apply it anyway, replacing this base's")
        return (f"{self.source} was trained on {self.trained_on}, not this base ({why}); it stores the base's own "
                f"trained weights in full, which replace this base's (allow_other_base)")

    @torch.no_grad()
    def load_into(self, video_unet: VideoUNet, allow_other_base: bool = False,
                  trained_base: UNet2DConditionModel | None = None) -> str | None:
        """Put the tensors onto ``video_unet``'s trainable parameters (cast to their dtype and device), after :meth:`check_fits`.

        Added layers take the held values. The base's own weights take them too when held
        in full; held as a difference, they become ``video_unet.base_tensors`` (the base's
        values, as inflated) plus the difference, computed in float32. ``trained_base``:
        the 2D UNet the motion was trained on; with it a "full" adapter on another base is
        first turned into a difference (:meth:`as_difference`). Returns the note of
        :meth:`check_fits` (also given as an :class:`OtherBaseWarning`), None on its own base."""
        adapter = self
        if (self.base_weights == "full" and trained_base is not None
                and fingerprint_mismatch(dict(self.config.base_fingerprint or {}), video_unet.base_fingerprint)):
            adapter = self.as_difference(trained_base)
        note = adapter.check_fits(video_unet, allow_other_base)
        if note is not None:
            warnings.warn(note, OtherBaseWarning, stacklevel=2)
        held = adapter.tensors()
        added = set(video_unet.added_parameter_names)
        for name, param in video_unet.trainable_parameters().items():
            if adapter.base_weights == "difference" and name not in added:
                base = video_unet.base_tensors.get(name, param)
                wide = torch.promote_types(param.dtype, torch.float32)
                param.copy_(base.to(param.device, wide) + held[name].to(param.device, wide))
            else:
                param.copy_(held[name].to(param.dtype))
        return note

    def as_difference(self, trained_base: UNet2DConditionModel) -> "LampMotionAdapter":
        """This adapter with the base's own trained weights held as a difference from ``trained_base``'s.

        ``trained_base``: the 2D UNet (not inflated) the motion was trained on; a
        MotionFileError when its fingerprint is not the one the adapter records. A
        "difference" adapter is returned as it is."""
        if self.base_weights == "difference":
            return self
        if any(isinstance(module, (MotionConv2d, TemporalAttention)) for module in trained_base.modules()):
            raise ValueError("trained_base is an inflated UNet; pass the 2D base UNet the motion was trained on, "
                             "loaded afresh")
        why = fingerprint_mismatch(dict(self.config.base_fingerprint or {}), unet_fingerprint(trained_base))
        if why is not None:
            raise MotionFileError(f"the base given as the one {self.source} was trained on ({self.trained_on}) is not "
                                  f"it: {why}; give the base it was trained on, or leave trained_base out")
        tensors, base = self.tensors(), dict(trained_base.named_parameters())
        for name in [name for name in tensors if name in base]:
            tensors[name] = (tensors[name].float() - base[name].detach().to("cpu", torch.float32)).to(tensors[name].dtype)
        adapter = self._holding(tensors, **{**self._own_config(), "base_weights": "difference"})
        adapter.source = self.source
        return adapter


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


def load_motion(video_unet: VideoUNet, path: str | os.PathLike, allow_other_base: bool = False,
                trained_base: UNet2DConditionModel | None = None) -> MotionFile:
    """Load a motion file onto a freshly inflated ``video_unet``; returns its header.

    Fails as :meth:`LampMotionAdapter.check_fits` says, leaving ``video_unet`` unchanged;
    ``allow_other_base`` and ``trained_base`` as for :meth:`LampMotionAdapter.load_into`."""
    header = read_motion_header(path)
    LampMotionAdapter.from_motion_file(header).load_into(video_unet, allow_other_base, trained_base)
    return header
