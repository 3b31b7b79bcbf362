"""The training config: one YAML per experiment, every field documented here.

Defaults follow the paper and the authors' release (SD 1.4, 16 frames at 320x512,
batch 1, lr 3e-5 constant, AdamW with weight decay 1e-2, grad clip 1.0, fp16 mixed
precision, gradient checkpointing, random horizontal flip, seed 33).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import MotionOptions

MIXED_PRECISION = ("no", "fp16", "bf16")
OPTIMIZERS = ("adamw", "adamw8bit")


@dataclass
class TrainConfig:
    # --- what to learn from -------------------------------------------------------
    data: str = "data/horse_run"  # folder of the motion's videos (mp4/webm/mov/mkv/gif or frame folders)
    prompt: str | None = None  # motion prompt; None = the data folder's name with _ as spaces
    base: str | None = None  # SD 1.x base: hub id, diffusers folder or .safetensors; None = built-in toy base
    base_config: str | None = None  # architecture config (folder or hub id) for a single-file base
    output_dir: str = "outputs/motion"  # where motion.safetensors, config.yaml, checkpoints and logs go

    # --- clips --------------------------------------------------------------------
    num_frames: int = 16  # frames per training clip (the model's window)
    stride: int = 1  # take every stride-th frame of the source video
    height: int = 320  # clip height in pixels, a multiple of 8
    width: int = 512  # clip width in pixels, a multiple of 8
    flip: bool = True  # random horizontal flip (p = 0.5)
    cache_latents: bool = True  # encode each video (and its flip) with the VAE once, not at every step

    # --- model --------------------------------------------------------------------
    motion_conv: bool = True  # temporal-spatial motion layer on every conv
    conv_mode: str = "causal"  # "causal" (video-prediction conv) or "centred" (ablation)
    first_frame_attention: bool = True  # self-attention keys/values from frame 1
    temporal_attention: bool = True  # temporal attention after each transformer block
    first_frame_conditioning: bool = True  # keep frame 1 clean and out of the loss (False = ablation)
    train_layers: str = "lamp"  # "lamp" (added layers + attn1.to_q, the paper's), "attn1" (+ all of attn1) or "unet" (everything; big file)

    # --- optimisation -------------------------------------------------------------
    steps: int = 30000  # optimiser steps (the release trains 30,000 for a motion, ~500 for one video)
    batch_size: int = 1  # clips per process per micro-step
    gradient_accumulation: int = 1  # micro-steps per optimiser step
    learning_rate: float = 3e-5
    lr_scheduler: str = "constant"  # any diffusers.optimization scheduler name (constant, cosine, linear, ...)
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    optimizer: str = "adamw"  # "adamw" or "adamw8bit" (needs bitsandbytes)
    fused_adamw: bool = True  # AdamW as one fused kernel over every trained tensor (CUDA; CPU with torch >= 2.4)
    tf32: bool = True  # fp32 matmuls and convolutions may use TF32 on Ampere+ GPUs (no effect elsewhere)
    max_grad_norm: float = 1.0
    mixed_precision: str = "fp16"  # "no", "fp16" or "bf16"; fp16 falls back to "no" without a CUDA GPU
    gradient_checkpointing: bool = True
    seed: int = 33

    # --- outputs ------------------------------------------------------------------
    motion_dtype: str = "fp16"  # dtype of the saved motion file: fp32, fp16 or bf16
    checkpoint_every: int = 1000  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept on disk
    resume: str | None = None  # "latest" or a checkpoint folder to continue from
    log_every: int = 10  # steps between TensorBoard scalars
    tensorboard: bool = True  # log loss and lr to output_dir/logs (needs the tensorboard package)

    # --- validation videos during training -----------------------------------------
    validate_every: int = 0  # steps between validation videos (0 = never)
    validation_images: list[str] = field(default_factory=list)  # first-frame images
    validation_prompts: list[str] = field(default_factory=list)  # prompts (first frame from the base model)
    validation_steps: int = 25  # DDIM steps for validation videos
    validation_guidance: float = 12.5

    def __post_init__(self) -> None:
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision={self.mixed_precision!r}; use one of {MIXED_PRECISION}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}; use one of {OPTIMIZERS}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value <= 0 or value % 8:
                raise ValueError(f"{name}={value} must be a positive multiple of 8 (e.g. {max(8, value // 8 * 8)})")
        if self.num_frames < 2:
            raise ValueError(f"num_frames={self.num_frames}: a clip needs at least 2 frames (frame 1 is the condition)")
        for name in ("stride", "steps", "batch_size", "gradient_accumulation"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if self.motion_dtype not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"motion_dtype={self.motion_dtype!r}; use fp32, fp16 or bf16")
        self.motion_options()  # validates conv_mode and train_layers

    def motion_options(self) -> MotionOptions:
        return MotionOptions(motion_conv=self.motion_conv, conv_mode=self.conv_mode,
                             first_frame_attention=self.first_frame_attention,
                             temporal_attention=self.temporal_attention, train_layers=self.train_layers)
