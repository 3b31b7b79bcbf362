"""Inflation of a Stable Diffusion 1.x ``UNet2DConditionModel`` into LAMP's video UNet.

:meth:`VideoUNet.inflate` changes the given 2D UNet in place and wraps it:

* every pretrained 2D conv of the UNet itself, its ResNet blocks (both convs and the
  1x1 shortcut) and its down/up-samplers becomes a :class:`MotionConv2d`;
* the spatial self-attention of every ``BasicTransformerBlock`` gets a
  :class:`FirstFrameAttnProcessor`;
* every ``BasicTransformerBlock`` gets a :class:`TemporalAttention` child, run after
  the block (so after its feed-forward) by a forward hook;
* with ``groupnorm="joint"`` the ResNet norms and the UNet's ``conv_norm_out`` become
  :class:`ClipGroupNorm` (statistics over all frames of a clip, as the authors' code);
  the transformer blocks' own GroupNorm stays per frame in both modes;
* with ``to_q_rank`` above 0, every ``attn1.to_q`` gets a peft LoRA of that rank
  (``lora_alpha`` = rank, so its change is exactly ``B @ A``): ``attn1.to_q`` then trains
  as the LoRA's two small matrices instead of in full, and the base's weight stays frozen.

Which layers exist is read from the modules themselves, never from a list of block
names or channel counts. The video UNet takes and returns ``(b, c, f, h, w)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Protocol

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D
from torch import nn

from ..settings import MAX_MOTION_SCALE
from .attention import FirstFrameAttnProcessor, TemporalAttention, temporal_attention_hook
from .clip_norm import GROUPNORM_MODES, ClipGroupNorm
from .fingerprint import unet_fingerprint
from .layout import FrameContext, fold_frames, unfold_frames
from .motion_conv import CONV_MODES, MotionConv2d

# UNet block classes of the SD 1.x family: the layers LAMP wraps live in these.
SD1_DOWN_BLOCKS = ("CrossAttnDownBlock2D", "DownBlock2D")
SD1_UP_BLOCKS = ("CrossAttnUpBlock2D", "UpBlock2D")
SD1_MID_BLOCKS = ("UNetMidBlock2DCrossAttn", None)
# What can train (MotionOptions.train_layers); "lamp" is the paper's set.
TRAIN_LAYERS = ("lamp", "attn1", "unet")
MAX_TO_Q_RANK = 1024  # the largest LoRA rank of attn1.to_q (SD 1.x's widest to_q is 1280 wide)
LORA_ADAPTER = "default"  # the peft adapter name of the to_q LoRA (MotionOptions.to_q_rank)


@dataclass(frozen=True)
class MotionOptions:
    """Which of LAMP's layers the video UNet has (the paper's ablation switches)."""

    motion_conv: bool = True  # temporal-spatial motion layer on every pretrained conv
    conv_mode: str = "causal"  # "causal" (video-prediction conv, the paper's) or "centred" (ablation)
    first_frame_attention: bool = True  # spatial self-attention keys/values from frame 1
    temporal_attention: bool = True  # temporal attention after every transformer block's feed-forward
    # What trains: "lamp" (the paper's set: added layers + attn1.to_q), "attn1" (added layers +
    # all of attn1: q, k, v, out) or "unet" (every UNet weight; the motion file then holds
    # the whole UNet). The last two are experiments beyond the paper (docs/results.md, docs/experiments.md).
    train_layers: str = "lamp"
    # GroupNorm statistics of the ResNet norms and conv_norm_out: "joint" (pooled over the clip's
    # frames, as the authors' code; TrainConfig's default too) or "per_frame" (each frame alone).
    # Motion files written without it read as "per_frame" (from_dict), the behaviour they were trained with.
    groupnorm: str = "joint"
    # attn1.to_q trained as a peft LoRA of this rank (train_layers "lamp" only) instead of in full
    # (0, the paper's): a smaller file; docs/results.md compares them.
    to_q_rank: int = 0

    def __post_init__(self) -> None:
        if self.conv_mode not in CONV_MODES:
            raise ValueError(f"conv_mode={self.conv_mode!r} is not one of {CONV_MODES}")
        if self.train_layers not in TRAIN_LAYERS:
            raise ValueError(f"train_layers={self.train_layers!r} is not one of {TRAIN_LAYERS}")
        if self.groupnorm not in GROUPNORM_MODES:
            raise ValueError(f"groupnorm={self.groupnorm!r} is not one of {GROUPNORM_MODES}")
        rank = self.to_q_rank
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= MAX_TO_Q_RANK:
            raise ValueError(f"to_q_rank={rank!r} must be a whole number from 0 (attn1.to_q trained in full) to "
                             f"{MAX_TO_Q_RANK} (a LoRA of that rank)")
        if rank and self.train_layers != "lamp":
            raise ValueError(f"to_q_rank={rank} (a LoRA of attn1.to_q) works with train_layers='lamp' only, not "
                             f"{self.train_layers!r}; set to_q_rank to 0 or train_layers to 'lamp'")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "MotionOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown motion option(s) {unknown}; known options are {sorted(known)}")
        # Options added after the first motion files: the behaviour those files were trained with.
        return cls(**{"groupnorm": "per_frame", **values})


class MotionWeights(Protocol):
    """What :meth:`VideoUNet.from_unet2d` loads: a :class:`~.adapter.LampMotionAdapter` (whose module imports this one)."""

    options: MotionOptions

    def load_into(self, video_unet: "VideoUNet", allow_other_base: bool = False,
                  trained_base: UNet2DConditionModel | None = None) -> str | None: ...


def check_sd1_unet(unet: nn.Module) -> None:
    """Raise a one-line ValueError unless ``unet`` is a UNet of the SD 1.x family."""
    if not isinstance(unet, UNet2DConditionModel):
        raise ValueError(f"expected a diffusers UNet2DConditionModel (SD 1.x), found {type(unet).__name__}")
    config = unet.config
    problems = []
    if config.addition_embed_type is not None or config.class_embed_type is not None:
        problems.append(f"extra conditioning (addition_embed_type={config.addition_embed_type}, class_embed_type={config.class_embed_type}; SD-XL-style)")
    if config.in_channels != config.out_channels:
        problems.append(f"in_channels={config.in_channels} != out_channels={config.out_channels} (inpainting-style)")
    odd_blocks = [b for b in config.down_block_types if b not in SD1_DOWN_BLOCKS]
    odd_blocks += [b for b in config.up_block_types if b not in SD1_UP_BLOCKS]
    if config.mid_block_type not in SD1_MID_BLOCKS:
        odd_blocks.append(config.mid_block_type)
    if odd_blocks:
        problems.append(f"block types {odd_blocks} (SD 1.x uses {SD1_DOWN_BLOCKS + SD1_UP_BLOCKS + SD1_MID_BLOCKS[:1]})")
    if not any(isinstance(m, BasicTransformerBlock) for m in unet.modules()):
        problems.append("no transformer blocks (LAMP modifies their attention)")
    if problems:
        raise ValueError("not an SD 1.x UNet: found " + "; ".join(problems) + ". LAMP needs an SD 1.x-style UNet (e.g. SD 1.4/1.5 or a fine-tune of them).")


def _group_norm_slots(unet: UNet2DConditionModel) -> list[tuple[nn.Module, str]]:
    """(parent, attribute) of the ResNet norms and ``conv_norm_out``: the norms the authors' code runs on clips."""
    slots = [(unet, "conv_norm_out")] if type(getattr(unet, "conv_norm_out", None)) is nn.GroupNorm else []
    for parent in unet.modules():
        if isinstance(parent, ResnetBlock2D):
            slots += [(parent, attr) for attr in ("norm1", "norm2") if type(getattr(parent, attr, None)) is nn.GroupNorm]
    return slots


def _wrapped_conv_slots(unet: UNet2DConditionModel) -> list[tuple[str, nn.Module, str]]:
    """(qualified name, parent, attribute) of every pretrained 2D conv LAMP wraps."""
    slots = []
    for parent_name, parent in unet.named_modules():
        if parent is unet:
            attrs = ("conv_in", "conv_out")
        elif isinstance(parent, ResnetBlock2D):
            attrs = ("conv1", "conv2", "conv_shortcut")
        elif isinstance(parent, (Downsample2D, Upsample2D)):
            attrs = ("conv",)
        else:
            continue
        for attr in attrs:
            if type(getattr(parent, attr, None)) is nn.Conv2d:
                slots.append((f"{parent_name}.{attr}".lstrip("."), parent, attr))
    return slots


def _add_to_q_lora(unet: UNet2DConditionModel, rank: int) -> int:
    """Put a peft LoRA of ``rank`` on every transformer block's ``attn1.to_q`` (B = 0: no change yet); their count."""
    from peft import LoraConfig, inject_adapter_in_model

    targets = [f"{name}.attn1.to_q" for name, block in unet.named_modules() if isinstance(block, BasicTransformerBlock)]
    if targets:
        config = LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, lora_dropout=0.0, init_lora_weights=True)
        inject_adapter_in_model(config, unet, adapter_name=LORA_ADAPTER)
    return len(targets)


def to_q_loras(unet: nn.Module) -> dict[str, nn.Module]:
    """Module name -> the peft LoRA layer of every ``attn1.to_q`` that has one (``MotionOptions.to_q_rank``)."""
    return {name: module for name, module in unet.named_modules()
            if name.endswith("attn1.to_q") and hasattr(module, "lora_A") and hasattr(module, "base_layer")}


class VideoUNet(nn.Module):
    """LAMP's video UNet: an inflated SD 1.x UNet that takes ``(b, c, f, h, w)`` latents.

    Build it with :meth:`from_unet2d` (or :meth:`inflate`). ``unet`` is the inflated ``UNet2DConditionModel``:
    its pretrained parameters keep their names and values; the added ones are listed
    in ``added_parameter_names``. ``base_tensors`` holds CPU copies of the pretrained
    values of :meth:`base_parameter_names` as inflated (with ``train_layers`` "lamp" or
    "attn1"; empty for "unet", whose copy would be a second UNet, and on the meta device),
    so that a motion file can store what training changed in them as a difference.
    """

    def __init__(self, unet: UNet2DConditionModel, options: MotionOptions, context: FrameContext,
                 added_parameter_names: list[str], base_fingerprint: dict, report: dict[str, int]):
        super().__init__()
        self.unet = unet
        self.options = options
        self.context = context
        self.added_parameter_names = added_parameter_names
        self.base_fingerprint = base_fingerprint
        self.report = report
        self.base_tensors: dict[str, torch.Tensor] = {}
        if options.train_layers != "unet":
            params = dict(unet.named_parameters())
            kept = {name: params[name] for name in self.base_parameter_names()}
            if not any(param.is_meta for param in kept.values()):
                self.base_tensors = {name: param.detach().to("cpu", copy=True) for name, param in kept.items()}

    @classmethod
    def from_unet2d(cls, unet: UNet2DConditionModel, adapter: MotionWeights | None = None,
                    options: MotionOptions | None = None, allow_other_base: bool = False,
                    trained_base: UNet2DConditionModel | None = None) -> "VideoUNet":
        """Inflate ``unet`` in place and, given an ``adapter``, load its tensors (cast to the UNet's dtype and device).

        ``options``: the layers to add; default the adapter's options, else MotionOptions().
        The adapter is checked against the inflated model first (options, tensor names and
        shapes, base fingerprint; see ``LampMotionAdapter.check_fits``): a MotionFileError
        says what does not fit. On a base with other weights of the same shapes (e.g. a
        fine-tune of the same SD) a motion file storing its base weights as a difference is
        added with a note; ``allow_other_base`` and ``trained_base`` are for files storing
        them in full (see ``LampMotionAdapter.load_into``).

        In place, because a copy is not free: a copy of SD 1.4's 860M-parameter UNet costs
        1.7 GB more in fp16 for a moment. ``unet`` is changed even when the adapter then
        does not fit, so load the base afresh to retry.
        """
        if options is None and adapter is not None:
            options = adapter.options
        video = cls.inflate(unet, options)
        if adapter is not None:
            adapter.load_into(video, allow_other_base, trained_base)
        return video

    @classmethod
    def inflate(cls, unet: UNet2DConditionModel, options: MotionOptions | None = None) -> "VideoUNet":
        """Add LAMP's layers to ``unet`` (in place) and return the video UNet around it."""
        options = options or MotionOptions()
        check_sd1_unet(unet)
        fingerprint = unet_fingerprint(unet)
        before = set(name for name, _ in unet.named_parameters())
        context = FrameContext()
        report = {"motion_convs": 0, "first_frame_attention": 0, "temporal_attention": 0}
        device, dtype = unet.conv_in.weight.device, unet.conv_in.weight.dtype

        if options.motion_conv:
            for _, parent, attr in _wrapped_conv_slots(unet):
                setattr(parent, attr, MotionConv2d(getattr(parent, attr), context, options.conv_mode))
                report["motion_convs"] += 1

        if options.groupnorm == "joint":
            slots = _group_norm_slots(unet)
            for parent, attr in slots:
                setattr(parent, attr, ClipGroupNorm(getattr(parent, attr), context))
            report["clip_groupnorms"] = len(slots)

        for block in unet.modules():
            if not isinstance(block, BasicTransformerBlock):
                continue
            if options.first_frame_attention:
                block.attn1.set_processor(FirstFrameAttnProcessor(context))
                report["first_frame_attention"] += 1
            if options.temporal_attention:
                attn1 = block.attn1
                with torch.device(device):
                    block.temporal = TemporalAttention(attn1.to_q.in_features, attn1.heads, attn1.inner_dim // attn1.heads, context).to(dtype)
                block.register_forward_hook(temporal_attention_hook)
                report["temporal_attention"] += 1

        if options.to_q_rank:
            report["to_q_loras"] = _add_to_q_lora(unet, options.to_q_rank)

        # New names; a LoRA'd to_q's own weight is renamed (to_q.base_layer.weight) but is the base's, not added.
        added = [name for name, _ in unet.named_parameters()
                 if name not in before and name.replace(".base_layer.", ".") not in before]
        report["added_parameters"] = sum(p.numel() for n, p in unet.named_parameters() if n in set(added))
        return cls(unet, options, context, added, fingerprint, report)

    # ---- trainable set -------------------------------------------------------------
    def trainable_parameter_names(self) -> list[str]:
        """The trainable set of ``options.train_layers``, in model order.

        "lamp": the added layers plus ``attn1.to_q`` of every transformer block (with
        ``to_q_rank``, its LoRA's matrices, which are added layers, instead of its weights);
        "attn1": the added layers plus every ``attn1`` weight; "unet": every parameter.
        """
        if self.options.train_layers == "unet":  # every parameter but other motions' mixed-in branches (models/mixing)
            return [name for name, _ in self.unet.named_parameters() if ".mixed." not in name]
        wanted = set(self.added_parameter_names)
        if self.options.to_q_rank:  # to_q trains as its LoRA, whose matrices are added layers
            return [name for name, _ in self.unet.named_parameters() if name in wanted]
        for block_name, block in self.unet.named_modules():
            if isinstance(block, BasicTransformerBlock):
                if self.options.train_layers == "lamp":
                    prefix, part = f"{block_name}.attn1.to_q", block.attn1.to_q
                else:
                    prefix, part = f"{block_name}.attn1", block.attn1
                wanted.update(f"{prefix}.{n}" for n, _ in part.named_parameters())
        return [name for name, _ in self.unet.named_parameters() if name in wanted]

    def base_parameter_names(self) -> list[str]:
        """The trainable set's pretrained weights (the base's own, e.g. ``attn1.to_q``), in model order."""
        added = set(self.added_parameter_names)
        return [name for name in self.trainable_parameter_names() if name not in added]

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        params = dict(self.unet.named_parameters())
        return {name: params[name] for name in self.trainable_parameter_names()}

    def freeze_base(self) -> int:
        """Make exactly the trainable set require grad; returns its parameter count."""
        trainable = set(self.trainable_parameter_names())
        count = 0
        for name, param in self.unet.named_parameters():
            param.requires_grad_(name in trainable)
            count += param.numel() if name in trainable else 0
        return count

    # ---- running -------------------------------------------------------------------
    def motion_layers(self) -> list[MotionConv2d | TemporalAttention]:
        """The added layers whose output is a residual branch: every motion conv and temporal attention."""
        return [m for m in self.unet.modules() if isinstance(m, (MotionConv2d, TemporalAttention))]

    def set_motion_scale(self, scale: float) -> None:
        """Weight the motion layers' residual branches by ``scale`` at run time (1: as trained; weights untouched).

        Each motion conv gives ``y + scale * temporal(y) * gate`` and each temporal attention
        ``h + scale * attn_temp(norm_temp(h))``; at 0 the branches are not computed and at 1 the
        output is bit-identical to the unscaled model. ``scale``: finite, 0..MAX_MOTION_SCALE.
        """
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= MAX_MOTION_SCALE:
            raise ValueError(f"motion scale {scale!r} must be a number from 0 (no motion layers) to {MAX_MOTION_SCALE:g} "
                             f"(1: the learnt motion)")
        for layer in self.motion_layers():
            layer.motion_scale = float(scale)

    @contextlib.contextmanager
    def motion_scaled(self, scale: float) -> Iterator[None]:
        """:meth:`set_motion_scale` for the ``with`` block; the scale before it is restored after, even on an error."""
        before = self.motion_scale
        self.set_motion_scale(scale)
        try:
            yield
        finally:
            self.set_motion_scale(before)

    @property
    def motion_scale(self) -> float:
        """The weight of the motion layers' branches (:meth:`set_motion_scale`); 1 without motion layers."""
        scales = {layer.motion_scale for layer in self.motion_layers()}
        if len(scales) > 1:
            raise ValueError(f"the motion layers have different scales {sorted(scales)}; set one with set_motion_scale")
        return scales.pop() if scales else 1.0

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def config(self):
        """The 2D UNet's diffusers config (sample size, channels, ...)."""
        return self.unet.config

    def enable_gradient_checkpointing(self) -> None:
        self.unet.enable_gradient_checkpointing()

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float | int,
                encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """Predict the UNet target for every frame.

        sample: (b, c, f, h, w) latents; timestep: scalar or (b,) — one per video;
        encoder_hidden_states: (b, tokens, dim) — one prompt per video.
        Returns (b, c, f, h, w).
        """
        if sample.ndim != 5:
            raise ValueError(f"VideoUNet expects latents shaped (b, c, f, h, w), got {tuple(sample.shape)}")
        b, _, f, _, _ = sample.shape
        if encoder_hidden_states.shape[0] != b:
            raise ValueError(f"{encoder_hidden_states.shape[0]} prompt embeddings for {b} videos; pass one per video")
        self.context.num_frames = f
        timestep = torch.as_tensor(timestep, device=sample.device)
        timestep = timestep.expand(b) if timestep.ndim == 0 else timestep
        timestep = timestep.repeat_interleave(f)  # ((b f),)
        text = encoder_hidden_states.repeat_interleave(f, dim=0)  # ((b f), tokens, dim)
        out = self.unet(fold_frames(sample), timestep, text).sample  # ((b f), c, h, w)
        return unfold_frames(out, f)  # (b, c, f, h, w)
