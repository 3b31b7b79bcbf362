"""The training config: one YAML per experiment, every field documented here.

Defaults follow the paper and the authors' release (SD 1.4, 16 frames at 320x512,
batch 1, lr 3e-5 constant, AdamW with weight decay 1e-2, grad clip 1.0, fp16 mixed
precision, gradient checkpointing, random horizontal flip, seed 33).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..models import MotionOptions
from ..settings import FALLBACKS
from .config_checks import check_training_numbers

MIXED_PRECISION = ("no", "fp16", "bf16")
OPTIMIZERS = ("adamw", "adamw8bit")
_OPTIONS = MotionOptions()  # the model fields' defaults


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
    resize: str = "crop"  # fit videos to height x width: "crop" (cover, centre-crop), "stretch" (the release's) or "pad"
    # Share of training clips recoloured at random (hue, saturation, tint, brightness, inversion; one
    # transform for every frame of a clip, frame 1 included), so that a set of one look cannot
    # teach that look (lamp_motion.data.augment). 0 = off. Recoloured clips are encoded at every step.
    colour_augment: float = 0.0
    # Offset noise: a random constant per channel and frame added to the training noise, times this
    # (0 = off). A frame's overall colour is then something the model must predict, and frame 1 is
    # where a later frame's colour can be read from.
    noise_offset: float = 0.0

    # --- model (defaults: MotionOptions', see lamp_motion.models.video_unet) -------------
    motion_conv: bool = _OPTIONS.motion_conv  # temporal-spatial motion layer on every conv
    conv_mode: str = _OPTIONS.conv_mode  # "causal" (video-prediction conv) or "centred" (ablation)
    first_frame_attention: bool = _OPTIONS.first_frame_attention  # self-attention keys/values from frame 1
    temporal_attention: bool = _OPTIONS.temporal_attention  # temporal attention after each transformer block
    first_frame_conditioning: bool = True  # keep frame 1 clean and out of the loss (False = ablation)
    train_layers: str = _OPTIONS.train_layers  # "lamp" (added layers + attn1.to_q, the paper's), "attn1" (+ all of attn1) or "unet" (everything; big file)
    # ResNet / output GroupNorm statistics: "joint" (over the clip's frames, frame 1 included, as the authors' code;
    # lowers the raw model's leakage on sets of one look, docs/experiments.md) or "per_frame" (each frame alone)
    groupnorm: str = _OPTIONS.groupnorm
    # attn1.to_q as a peft LoRA of this rank (0: in full, the paper's); a smaller motion file (docs/results.md#motion-size)
    to_q_rank: int = _OPTIONS.to_q_rank

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
    max_grad_norm: float = 1.0  # clip the gradients' global norm to this before each step (0 = no clipping)
    # Step each trained tensor as soon as its gradient is complete, then free that gradient, so the gradients
    # never exist all at once (1.02 GB less at SD 1.4 size, docs/performance.md); the same result up to rounding.
    # Needs max_grad_norm 0 (clipping needs every gradient first), gradient_accumulation 1, one process and
    # mixed_precision bf16 or no (fp16's loss scaling checks all gradients before a step).
    fused_step: bool = False
    mixed_precision: str = "fp16"  # "no", "fp16" or "bf16"; fp16 falls back to "no" without a CUDA GPU
    gradient_checkpointing: bool = True
    seed: int = 33

    # --- generation settings that suit this motion --------------------------------------
    # Recorded in the motion file: `lamp generate`, `lamp edit`, `lamp eval --suite` and
    # LampPipeline default to them (an explicit setting still wins).
    sample_steps: int = FALLBACKS["sampling_steps"]  # DDIM steps (the paper's 50)
    sample_guidance: float = FALLBACKS["guidance"]  # classifier-free guidance scale (the paper's 12.5; <= 1 turns it off)
    # Start later frames from frame 1's mean colour noised to the first step (LampPipeline frame_init;
    # beyond the paper, issue 22). Motion files without the record generate without it.
    sample_frame_init: bool = FALLBACKS["frame_init"]

    # --- outputs ------------------------------------------------------------------
    motion_dtype: str = "fp16"  # dtype of the saved motion file: fp32, fp16 or bf16
    checkpoint_every: int = 1000  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept on disk
    resume: str | None = None  # "latest" or a checkpoint folder to continue from
    # A resume that would train with other settings than the checkpoint's (learning rate, data, size, ...) is
    # refused, naming them; true: train on with this config's values (the motion file records them).
    resume_override: bool = False
    overwrite: bool = False  # true: a new run may replace the motion file and checkpoints of an earlier run in output_dir
    log_every: int = 10  # steps between TensorBoard scalars
    tensorboard: bool = True  # log loss and lr to output_dir/logs (needs the tensorboard package)

    # --- validation videos during training -----------------------------------------
    validate_every: int = 0  # steps between validation videos (0 = never)
    validation_images: list[str] = field(default_factory=list)  # first-frame images
    validation_prompts: list[str] = field(default_factory=list)  # prompts (first frame from the base model)
    validation_steps: int = 25  # DDIM steps for validation videos
    validation_guidance: float | None = None  # None = sample_guidance
    # CLIP model (hub id or folder) that checks validation videos: a warning in the log when later frames'
    # CLIP image similarity to frame 1 drops (real bases). On the toy base, toy motions are checked without it:
    # first frames of unseen colours and backgrounds are added and scored for leakage and preservation.
    validation_clip: str | None = None
    # Score every validation video's motion against the training clips (lamp_motion.metrics.motion): the mean per
    # step goes to the log, the progress bar, output_dir/scores.json and TensorBoard; the best step's motion is kept
    # as output_dir/best.safetensors, with a warning when the score falls and a message when the motion was not learnt.
    motion_score: bool = True

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
        for name in ("stride", "steps", "batch_size", "gradient_accumulation", "sample_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if self.motion_dtype not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"motion_dtype={self.motion_dtype!r}; use fp32, fp16 or bf16")
        self.motion_options()  # validates conv_mode and train_layers
        if self.fused_step:
            _check_fused_step(self)
        check_training_numbers(self)

    def generation_settings(self) -> dict[str, float | int]:
        """The generation settings the motion file records (see :data:`lamp_motion.models.motion_file.GENERATION_KEYS`)."""
        return {"steps": self.sample_steps, "guidance": self.sample_guidance, "frame_init": self.sample_frame_init}

    def motion_options(self) -> MotionOptions:
        """The video UNet's options: this config's fields of the same names."""
        return MotionOptions(**{option.name: getattr(self, option.name) for option in fields(MotionOptions)})


def _check_fused_step(config: TrainConfig) -> None:
    """Raise ValueError when ``fused_step`` cannot give the result of a whole step."""
    if config.max_grad_norm > 0:
        raise ValueError(f"fused_step=true steps each tensor before the others' gradients exist, so it cannot clip the "
                         f"global gradient norm: set max_grad_norm=0 (now {config.max_grad_norm}) or fused_step=false")
    if config.gradient_accumulation != 1:
        raise ValueError(f"fused_step=true steps at every backward pass: set gradient_accumulation=1 (now "
                         f"{config.gradient_accumulation}) or fused_step=false")
    if config.mixed_precision == "fp16":
        raise ValueError("fused_step=true cannot use fp16's loss scaling (it checks every gradient before a step): "
                         "set mixed_precision=bf16 or no, or fused_step=false")
