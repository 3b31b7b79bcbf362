"""Several motions in one video UNet, each with a weight (as stacked LoRAs add).

A motion changes the base in two ways, and each is mixed as it adds up:

* the motion layers (every motion conv's temporal branch, every temporal attention) are
  residual branches: with motions ``0..n`` and weights ``w_i`` each layer gives
  ``y + s * sum_i w_i * branch_i(y)``. The first motion's tensors are loaded into the layers
  themselves; the others' are held beside them (``layer.mixed``). This is exact: it is what
  running every motion's branch and adding them computes. It is not one set of tensors (the
  branches are gated and attention is not linear), so a mix costs each motion's layers in
  memory and time;
* the base's own weights a motion retrained (``attn1.to_q``; every ``attn1`` weight or the
  whole UNet with other ``train_layers``) are linear, so their changes add:
  ``W = W_base + sum_i w_i * (W_i - W_base)``; a LoRA of ``to_q`` (``to_q_rank``) changes it
  by ``B_i @ A_i``, so a mix adds ``sum_i w_i * B_i @ A_i`` to the base's ``to_q`` weight
  and empties the LoRA (``B = 0``).

One motion at weight 1 is loaded as :meth:`LampMotionAdapter.load_into` loads it (bit-identical).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from ..settings import MAX_MOTION_SCALE
from .adapter import LampMotionAdapter, OtherBaseWarning
from .attention import TemporalAttention
from .fingerprint import fingerprint_mismatch
from .motion_conv import MotionConv2d
from .motion_file import DTYPES, MotionFileError, dtype_name, motion_metadata, write_motion_file
from .video_unet import LORA_ADAPTER, VideoUNet, to_q_loras

# The parts of a motion layer that make its branch, which a mixed-in motion brings its own copy of.
BRANCH_PARTS = {MotionConv2d: ("conv1d", "conv_gate"), TemporalAttention: ("norm_temp", "attn_temp")}


def check_weights(weights: Sequence[float], count: int) -> tuple[float, ...]:
    """``weights`` as floats, one per motion, each finite and 0..MAX_MOTION_SCALE; ValueError naming the problem."""
    weights = tuple(weights)
    if len(weights) != count:
        raise ValueError(f"{len(weights)} motion weight(s) for {count} motion(s): give one weight per motion, in the "
                         f"motions' order")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or not 0 <= weight <= MAX_MOTION_SCALE:
            raise ValueError(f"motion weight {weight!r} must be a number from 0 to {MAX_MOTION_SCALE:g} (1: the "
                             f"motion as learnt)")
    return tuple(float(weight) for weight in weights)


def _motion_layers(video_unet: VideoUNet) -> dict[str, MotionConv2d | TemporalAttention]:
    return {name: m for name, m in video_unet.unet.named_modules() if isinstance(m, (MotionConv2d, TemporalAttention))}


def is_mixed(video_unet: VideoUNet) -> bool:
    """Whether ``video_unet`` holds a mix (:func:`mix_motions` of several motions, or of one at a weight other than 1)."""
    return any(layer.mix_weights for layer in video_unet.motion_layers())


@torch.no_grad()
def mix_motions(video_unet: VideoUNet, adapters: Sequence[LampMotionAdapter], weights: Sequence[float] | None = None,
                allow_other_base: bool = False, trained_base: UNet2DConditionModel | None = None) -> None:
    """Load ``adapters`` onto a freshly inflated ``video_unet`` (no motion loaded: its base weights still the base's),
    motion ``i`` weighted by ``weights[i]`` (default 1 each); see the module's docstring. A merged motion
    (:func:`merge_motions`) counts as its motions, their weights times its own.

    Each adapter is checked first (``LampMotionAdapter.check_fits``): nothing changes when one does not fit.
    ``allow_other_base``, ``trained_base``: as for ``LampMotionAdapter.load_into``, for each motion."""
    adapters = list(adapters)
    if not adapters:
        raise ValueError("mix_motions needs at least one motion")
    parts = unfold(adapters, weights)
    adapters, weights = [part for part, _ in parts], tuple(w for _, w in parts)  # a merged file: its motions
    if is_mixed(video_unet):
        raise ValueError("this video UNet already has motions mixed in; inflate the base afresh to mix others")
    if len(adapters) == 1 and weights[0] == 1.0:
        adapters[0].load_into(video_unet, allow_other_base, trained_base)
        return
    if trained_base is not None:  # full files of another base: their change against the base they were trained on
        adapters = [a.as_difference(trained_base) if a.base_weights == "full" and fingerprint_mismatch(
            dict(a.config.base_fingerprint or {}), video_unet.base_fingerprint) else a for a in adapters]
    for adapter in adapters:
        note = adapter.check_fits(video_unet, allow_other_base)
        if note is not None:
            warnings.warn(note, OtherBaseWarning, stacklevel=2)

    layers = _motion_layers(video_unet)
    in_branch = {f"{prefix}.{part}." for prefix, layer in layers.items() for part in BRANCH_PARTS[type(layer)]}
    trainable = video_unet.trainable_parameters()
    loras = to_q_loras(video_unet.unet)
    in_lora = tuple(f"{prefix}.{part}." for prefix in loras for part in ("lora_A", "lora_B"))
    own = {name: param for name, param in trainable.items()
           if not any(name.startswith(p) for p in in_branch) and not name.startswith(in_lora)}
    # The base's own values, as inflated (the video UNet's copies, else the parameters before any load).
    kept = video_unet.base_tensors
    base = {name: (kept[name] if name in kept else param.detach()).to(param.device, torch.float32).clone()
            for name, param in own.items()}
    held = [adapter.tensors() for adapter in adapters]
    # Each motion's change of them: held as a difference, or its full values less this base's.
    changes = [{name: tensors[name].to(base[name].device, torch.float32) - (0 if adapter.base_weights == "difference"
                                                                           else base[name]) for name in own}
               for adapter, tensors in zip(adapters, held)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OtherBaseWarning)  # said above, once per motion
        adapters[0].load_into(video_unet, allow_other_base)  # the layers' own branches: motion 0
    for name, param in own.items():  # the base's weights: W_base + sum_i w_i (W_i - W_base)
        mixed = base[name] + sum(w * change[name] for w, change in zip(weights, changes))
        param.copy_(mixed.to(param.dtype))
    for prefix, lora in loras.items():  # to_q's LoRAs, folded into its weight: W_base + sum_i w_i B_i A_i
        weight = lora.base_layer.weight
        change = sum(w * (tensors[f"{prefix}.lora_B.{LORA_ADAPTER}.weight"].to(weight.device, torch.float32)
                          @ tensors[f"{prefix}.lora_A.{LORA_ADAPTER}.weight"].to(weight.device, torch.float32))
                     for w, tensors in zip(weights, held))
        weight.copy_((weight.float() + change).to(weight.dtype))
        lora.lora_B[LORA_ADAPTER].weight.zero_()
    for prefix, layer in layers.items():
        parts = []
        for tensors in held[1:]:
            part = nn.Module()
            for child in BRANCH_PARTS[type(layer)]:
                setattr(part, child, copy.deepcopy(getattr(layer, child)))
            for name, param in part.named_parameters():
                param.requires_grad_(False)
                param.copy_(tensors[f"{prefix}.{name}"].to(param.dtype))
            parts.append(part)
        layer.mixed = nn.ModuleList(parts)
        layer.mix_weights = weights


# ---- merged motion files -------------------------------------------------------------
# A merged motion file holds each motion's tensors under "mix.<i>." and the weights as the tensor "mix.weights"
# (float32): applying it is mix_motions of its parts, bit for bit what applying them one by one at those weights does.
MIX_PREFIX = "mix."
MIX_WEIGHTS = "mix.weights"


def split_merged(adapter: LampMotionAdapter) -> list[tuple[LampMotionAdapter, float]]:
    """A merged motion's parts and their weights; ``[(adapter, 1.0)]`` for a motion that is not merged."""
    tensors = adapter.tensors()
    if MIX_WEIGHTS not in tensors:
        return [(adapter, 1.0)]
    weights = [float(w) for w in tensors[MIX_WEIGHTS].float()]
    parts = []
    for i, weight in enumerate(weights):
        prefix = f"{MIX_PREFIX}{i}."
        own = {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}
        if not own:
            raise MotionFileError(f"{adapter.source} is a merged motion file with {len(weights)} weights but no "
                                  f"tensors of motion {i + 1}: it is damaged; merge the motions again")
        part = LampMotionAdapter._holding(own, **adapter._own_config())
        part.source = f"{adapter.source} (motion {i + 1} of {len(weights)})"
        parts.append((part, weight))
    return parts


def unfold(adapters: Sequence[LampMotionAdapter], weights: Sequence[float] | None = None
           ) -> list[tuple[LampMotionAdapter, float]]:
    """Each motion with its weight (default 1 each; checked by :func:`check_weights`), a merged motion as its
    parts, each weighted by its own weight times the merged motion's."""
    weights = check_weights([1.0] * len(adapters) if weights is None else weights, len(adapters))
    return [(part, w * inner) for adapter, w in zip(adapters, weights) for part, inner in split_merged(adapter)]


def merge_motions(adapters: Sequence[LampMotionAdapter], weights: Sequence[float] | None, path,
                  dtype: str = "fp16") -> Path:
    """Write one motion file that applies ``adapters`` at ``weights`` (default 1 each) exactly as :func:`mix_motions`
    applies them: it holds each motion's tensors (its size is theirs together). The motions must share their options
    and base; merged files may be merged again (their parts' weights multiply). The header is the first motion's
    (its base, sizes and generation settings), its prompt the motions' prompts joined by " and "."""
    adapters = list(adapters)
    if len(adapters) < 2:
        raise ValueError("merging needs at least two motions")
    parts = unfold(adapters, weights)
    first = parts[0][0]
    for part, _ in parts[1:]:
        if part.base_weights != first.base_weights:
            raise ValueError(f"{part.source} holds the base's trained weights as {part.base_weights!r}, {first.source} "
                             f"as {first.base_weights!r}: load the older file onto its base and save it again "
                             f"(LampMotionAdapter.from_video_unet), then merge")
        if part.options != first.options:
            raise ValueError(f"{part.source} was trained with options {part.options.to_dict()}, {first.source} with "
                             f"{first.options.to_dict()}: only motions of the same options can be merged")
        why = fingerprint_mismatch(dict(first.config.base_fingerprint or {}), dict(part.config.base_fingerprint or {}))
        if why:
            raise ValueError(f"{part.source} and {first.source} were trained on different bases ({why}): merge "
                             f"motions of one base")
    wanted = DTYPES[dtype_name(dtype)]
    tensors = {f"{MIX_PREFIX}{i}.{name}": t.to(wanted).contiguous().cpu()
               for i, (part, _) in enumerate(parts) for name, t in part.tensors().items()}
    tensors[MIX_WEIGHTS] = torch.tensor([w for _, w in parts], dtype=torch.float32)
    config = first._own_config()
    prompts = [part.config.prompt for part, _ in parts if part.config.prompt]
    config["prompt"] = " and ".join(dict.fromkeys(prompts)) or None
    return write_motion_file(path, tensors, motion_metadata(config, dtype))
