"""Motion files: exactly the trainable tensors of a video UNet, as one safetensors file.

The tensors are named as the video UNet's parameters. The metadata (all strings, as
safetensors requires) are :class:`~.adapter.LampMotionAdapter`'s config, written by
:func:`motion_metadata` and read back by :func:`motion_config` — the one writer and
the one reader:

* ``format`` ("lamp-motion/1"), ``library_version``, ``dtype`` (of the stored tensors);
* ``options`` (MotionOptions as JSON) and ``base_fingerprint`` (JSON, see :mod:`.fingerprint`);
* ``base_weights``: how the tensors of the base's own weights that trained (``attn1.to_q``
  in the paper's set) are stored: "difference" (trained minus the base's, so that they add
  onto a fine-tune of the same architecture) or "full" (the trained values; files written
  before the key existed, checkpoints and whole-UNet motions);
* where recorded: ``prompt``, ``base`` (the base source the motion was trained on, ""
  for the built-in one), ``num_frames`` / ``height`` / ``width`` / ``stride`` (the
  training clips'), ``steps`` (training steps done), ``resize``, ``config`` (the
  resolved training config, YAML) and ``generation`` (the generation settings that suit
  the motion, JSON ``{"steps": 25, "guidance": 4.0}``).

Files written before the adapter existed have no ``stride`` key (it is read from the
recorded config) and checkpoints of that time recorded their step as ``step``.

A motion file may come from anyone, so reading one checks what its header would make
this library do: recorded numbers lie in :data:`INT_RANGES` (they become generation
sizes), generation settings in :data:`GENERATION_RANGES`, JSON values nest at most
:data:`MAX_JSON_DEPTH` deep, ``options`` holds each of :data:`REQUIRED_OPTIONS` with its
type, and ``base`` is one line of at most :data:`MAX_BASE_LENGTH` characters.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file

from ..files import atomic_path
from ..settings import MAX_SAMPLING_STEPS, MAX_SIDE
from .video_unet import MotionOptions

FORMAT = "lamp-motion/1"
# How a motion file stores the base's own trained weights; files without the key hold them in full.
BASE_WEIGHT_FORMS = ("difference", "full")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Generation settings a motion file may record, with their types.
GENERATION_KEYS = {"steps": int, "guidance": float, "frame_init": bool}
# Recorded fields stored as text, and as whole numbers; the adapter config's name -> the metadata key.
TEXT_FIELDS = {"prompt": "prompt", "base": "base", "resize": "resize", "training_config": "config"}
INT_FIELDS = {"num_frames": "num_frames", "height": "height", "width": "width", "stride": "stride", "steps": "steps"}
# Allowed ranges of the recorded whole numbers (inclusive): a header's sizes become the default generation sizes.
INT_RANGES = {"num_frames": (1, 256), "height": (8, MAX_SIDE), "width": (8, MAX_SIDE), "stride": (1, 64),
              "steps": (0, 100_000_000)}
# Allowed ranges of the recorded generation settings (inclusive).
GENERATION_RANGES = {"steps": (1, MAX_SAMPLING_STEPS), "guidance": (0.0, 100.0)}
MAX_JSON_DEPTH = 16  # JSON metadata nested deeper is refused before it is parsed
MAX_BASE_LENGTH = 1024  # characters of the recorded base (a path or hub id)
# Options every motion file records; later ones default to what files without them were trained with.
REQUIRED_OPTIONS = ("motion_conv", "conv_mode", "first_frame_attention", "temporal_attention")
# Files whose loading would run code from the file: never opened.
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")


class MotionFileError(ValueError):
    """A motion file that cannot be used as asked; the message says why and what to do."""


def dtype_name(dtype: str | torch.dtype) -> str:
    """"fp32", "fp16" or "bf16" for that name or torch dtype; a ValueError for any other."""
    names = {value: key for key, value in DTYPES.items()}
    if dtype in DTYPES:
        return dtype
    if isinstance(dtype, torch.dtype) and dtype in names:
        return names[dtype]
    raise ValueError(f"dtype={dtype!r} is not one of {sorted(DTYPES)} (or torch.float32, torch.float16, torch.bfloat16)")


def motion_metadata(config: dict, dtype: str) -> dict[str, str]:
    """The safetensors metadata of a motion file holding tensors of ``dtype`` with adapter config ``config``."""
    metadata = {
        "format": FORMAT,
        "library_version": config["library_version"] or "",
        "options": json.dumps(written_options(config["options"]), sort_keys=True),
        "base_fingerprint": json.dumps(dict(config["base_fingerprint"]), sort_keys=True),
        "dtype": dtype_name(dtype),
        "base_weights": config.get("base_weights") or "full",
    }
    for field, key in TEXT_FIELDS.items():
        if config[field] is not None:
            metadata[key] = config[field]
    for field, key in INT_FIELDS.items():
        if config[field] is not None:
            metadata[key] = str(int(config[field]))
    if config["generation"]:
        metadata["generation"] = json.dumps(dict(config["generation"]))
    return metadata


def written_options(options: dict) -> dict:
    """``options`` as a file records them: ``to_q_rank`` only when a LoRA (files of rank 0 stay as earlier versions wrote them)."""
    return {key: value for key, value in dict(options).items() if not (key == "to_q_rank" and not value)}


def recorded_fields(metadata: dict[str, str], where: object = "the motion metadata") -> dict:
    """The recorded fields (prompt, base, sizes, stride, steps, resize, training_config, generation) of ``metadata``.

    Lenient where today's files may differ: a number that is not a whole number reads
    as None, and the stride of a file without a ``stride`` key comes from its recorded
    config. Refused (MotionFileError naming the field): a whole number outside
    :data:`INT_RANGES`, a ``generation`` that is not a JSON mapping or holds a setting
    outside :data:`GENERATION_RANGES`, a ``base`` that is not one short line.
    """
    fields: dict = {field: metadata.get(key) for field, key in TEXT_FIELDS.items()}
    fields["training_config"] = fields["training_config"] or None
    for field, key in INT_FIELDS.items():
        value = metadata.get(key, "")
        fields[field] = _in_range(key, int(value), where) if value.isdigit() else None
    if fields["steps"] is None and metadata.get("step", "").isdigit():  # checkpoints written before the adapter
        fields["steps"] = _in_range("steps", int(metadata["step"]), where)
    if fields["stride"] is None:
        stride = config_value(fields["training_config"], "stride", int)
        fields["stride"] = None if stride is None else _in_range("stride", stride, where)
    _check_base(fields["base"], where)
    fields["generation"] = _generation(metadata.get("generation"), where)
    return fields


def motion_config(metadata: dict[str, str], where: object) -> dict:
    """The adapter config (all but ``tensor_shapes``) a motion file's ``metadata`` holds; MotionFileError if it holds none."""
    if metadata.get("format") != FORMAT:
        raise MotionFileError(f"{where} is not a LAMP motion file (format={metadata.get('format')!r}, expected {FORMAT!r})")
    try:
        options = check_options(load_json(metadata["options"], "options", where), where)
        base_fingerprint = load_json(metadata["base_fingerprint"], "base_fingerprint", where)
        if not isinstance(base_fingerprint, dict):
            raise TypeError("base_fingerprint is not a mapping")
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, MotionFileError):
            raise
        raise MotionFileError(f"{where} says it is a LAMP motion file but its header is damaged ({type(error).__name__}: "
                              f"{error}); use the motion.safetensors that `lamp train` wrote, or a checkpoint's") from error
    form = metadata.get("base_weights", "full")
    if form not in BASE_WEIGHT_FORMS:
        raise MotionFileError(f"{where}: its 'base_weights' metadata is {form[:40]!r}, not one of {BASE_WEIGHT_FORMS}; "
                              f"use the motion.safetensors that `lamp train` wrote")
    return {"options": options, "base_fingerprint": base_fingerprint, **recorded_fields(metadata, where),
            "library_version": metadata.get("library_version"), "base_weights": form}


def check_options(values: object, where: object) -> dict:
    """``values`` as a complete MotionOptions dict, or a MotionFileError naming the missing or mistyped option.

    Every option in :data:`REQUIRED_OPTIONS` must be there; each value must have its
    field's type (``motion_conv: true``, ``conv_mode: "causal"``); options added later
    (``train_layers``, ``groupnorm``, ``to_q_rank``) may be missing and read as the files without them
    were trained."""
    if not isinstance(values, dict):
        raise MotionFileError(f"{where}: its 'options' metadata is a {type(values).__name__}, not a mapping of "
                              f"motion options; use the motion.safetensors that `lamp train` wrote")
    missing = [key for key in REQUIRED_OPTIONS if key not in values]
    if missing:
        raise MotionFileError(f"{where}: its 'options' metadata lacks {', '.join(map(repr, missing))}; "
                              f"use the motion.safetensors that `lamp train` wrote")
    kinds = {field.name: {"bool": bool, bool: bool, "int": int, int: int}.get(field.type, str)
             for field in dataclass_fields(MotionOptions)}
    for key, value in values.items():
        kind = kinds.get(key)
        if kind is not None and type(value) is not kind:
            raise MotionFileError(f"{where}: motion option {key!r} is {value!r} ({type(value).__name__}), "
                                  f"expected a {kind.__name__}; use the motion.safetensors that `lamp train` wrote")
    try:
        return MotionOptions.from_dict(values).to_dict()
    except ValueError as error:
        raise MotionFileError(f"{where}: its 'options' metadata is not usable ({error})") from error


def load_json(text: str, key: str, where: object) -> object:
    """``json.loads(text)``, refusing (MotionFileError) values nested deeper than :data:`MAX_JSON_DEPTH` before parsing."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise MotionFileError(f"{where}: its {key!r} metadata nests {depth} levels deep, more than the "
                              f"{MAX_JSON_DEPTH} a motion file needs; it is not a file `lamp train` wrote")
    return json.loads(text)


def json_depth(text: str) -> int:
    """How deep the arrays and objects of JSON ``text`` nest, counted without parsing (brackets inside strings skipped)."""
    brackets = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = deepest = 0
    for char in re.sub(r"[^\[\]{}]", "", brackets):
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _in_range(key: str, value: int, where: object) -> int:
    low, high = INT_RANGES[key]
    if not low <= value <= high:
        raise MotionFileError(f"{where}: its {key!r} metadata is {value}, outside {low}..{high}; "
                              f"it is not a file `lamp train` wrote, or it is damaged")
    return value


def _check_base(base: str | None, where: object) -> None:
    if base is not None and (len(base) > MAX_BASE_LENGTH or any(ord(char) < 32 for char in base)):
        raise MotionFileError(f"{where}: its 'base' metadata is not one line of at most {MAX_BASE_LENGTH} characters "
                              f"(a path or hub id); pass the base with --base")


def config_value(training_config: str | None, key: str, kind: type) -> object | None:
    """One field of a recorded training config (YAML text) when it has that type, else None."""
    try:
        config = yaml.safe_load(training_config or "")
    except yaml.YAMLError:
        return None
    value = config.get(key) if isinstance(config, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _generation(text: str | None, where: object) -> dict[str, int | float]:
    try:
        recorded = load_json(text or "{}", "generation", where)
    except json.JSONDecodeError as error:
        raise MotionFileError(f"{where}: its 'generation' metadata is not JSON ({error}); rewrite it with `lamp train`") from error
    if not isinstance(recorded, dict):
        raise MotionFileError(f"{where}: its 'generation' metadata is not a mapping; rewrite it with `lamp train`")
    settings = {}
    for key, kind in GENERATION_KEYS.items():
        value = recorded.get(key)
        if kind is bool and isinstance(value, bool):
            settings[key] = value
        elif kind is not bool and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = GENERATION_RANGES[key]
            if not (math.isfinite(value) and low <= value <= high):
                raise MotionFileError(f"{where}: its generation setting {key!r} is {value}, outside {low:g}..{high:g}; "
                                      f"rewrite it with `lamp train`")
            settings[key] = kind(value)
    return settings


@dataclass
class MotionFile:
    """A motion file's header: ``metadata`` as stored, ``config`` as the adapter config it holds (no tensor shapes)."""

    path: Path
    options: MotionOptions
    base_fingerprint: dict
    metadata: dict[str, str]
    config: dict

    @property
    def prompt(self) -> str | None:
        return self.config["prompt"]

    @property
    def base(self) -> str | None:
        """The base source the motion was trained on; None for the built-in base or where not recorded."""
        return self.config["base"] or None

    @property
    def base_weights(self) -> str:
        """How the base's own trained weights are stored: "difference" or "full" (see the module docstring)."""
        return self.config["base_weights"]

    @property
    def stride(self) -> int | None:
        """The frame stride of the training clips (None where not recorded)."""
        return self.config["stride"]

    @property
    def training_data(self) -> str | None:
        """The training videos' folder its training config records (as given, relative to where training ran)."""
        return config_value(self.config["training_config"], "data", str)

    @property
    def steps(self) -> int | None:
        """Training steps done when the file was written (None where not recorded)."""
        return self.config["steps"]

    @property
    def trained_size(self) -> dict[str, int | None]:
        """``height``, ``width`` and ``num_frames`` the motion was tuned at (None where not recorded)."""
        return {key: self.config[key] for key in ("height", "width", "num_frames")}

    @property
    def generation(self) -> dict[str, int | float]:
        """The generation settings recorded at training (``steps``, ``guidance``, ``frame_init``); empty for files without them."""
        return dict(self.config["generation"])


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
    config = motion_config(metadata, path)
    return MotionFile(path=path, options=MotionOptions.from_dict(config["options"]),
                      base_fingerprint=config["base_fingerprint"], metadata=metadata, config=config)


def write_motion_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write ``tensors`` and ``metadata`` to ``path`` atomically.

    Raises:
        lamp_motion.files.OutputWriteError: the file could not be written (e.g. the disk is full).
    """
    path = Path(path)
    with atomic_path(path) as temporary:  # a full disk raises OutputWriteError and leaves any older file intact
        save_file(tensors, str(temporary), metadata=metadata)
    return path
