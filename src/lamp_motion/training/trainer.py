"""First-frame-conditioned few-shot tuning on accelerate.

Per clip: encode frames with the VAE (or read the latent cache), noise every frame at
one timestep per video, put frame 1 back clean, predict with the video UNet, and take
the MSE on frames 2..N only (epsilon or v target, as the base's scheduler says).
Only the trainable set (added layers + ``attn1.to_q``) changes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers.optimization import get_scheduler
from PIL import Image
from tqdm.auto import tqdm

from ..builtin import resolve_base
from ..config_io import config_to_yaml
from ..data import ClipSampler, LatentCache, clip_pixels, encode_clip, scan_videos
from ..data.augment import jitter_colours
from ..errors import TrainingError
from ..files import check_output_folder, slug, write_text_atomic
from ..metrics.motion import MotionScoreError
from ..models import LampMotionAdapter, VideoUNet
from ..models.loading import BaseModel, load_base
from ..models.speed import allow_tf32
from ..pipelines.first_frame import first_frames_from_base
from ..pipelines.images import load_image
from ..pipelines.lamp_pipeline import LampPipeline
from ..video_io import write_video
from .checkpoint import checkpoint_step, load_checkpoint, resolve_resume
from .checks import VideoCheck
from .config import TrainConfig
from .hooks import TrainingHooks
from .motion_progress import MotionProgress
from .rescue import save_checkpoint_or_rescue, save_motion_or_rescue
from .run_guard import RunLock, data_digest, describe_changes, earlier_run, replace_earlier_run, resume_changes


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)


def make_encode_fn(vae, dtype: torch.dtype):
    """VAE encoder for (n, 3, h, w) pixels in [-1, 1] -> scaled latent (mean, std), float32."""
    scale = vae.config.scaling_factor

    @torch.no_grad()
    def encode(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dist = vae.encode(pixels.to(vae.device, dtype)).latent_dist
        return dist.mean.float() * scale, dist.std.float() * scale

    return encode


@torch.no_grad()
def encode_prompts(base: BaseModel, prompts: list[str], device) -> torch.Tensor:
    """(len(prompts), tokens, dim) text embeddings."""
    ids = base.tokenizer(prompts, padding="max_length", max_length=base.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids
    return base.text_encoder(ids.to(device))[0]


def diffusion_loss(video: torch.nn.Module, latents: torch.Tensor, text: torch.Tensor, scheduler,
                   generator: torch.Generator, first_frame_conditioning: bool = True,
                   noise_offset: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """LAMP's training loss for clean latents (b, c, f, h, w); returns (loss, prediction).

    ``noise_offset``: add a random constant per video, channel and frame to the noise,
    scaled by this (0 = plain Gaussian noise; see TrainConfig.noise_offset)."""
    b, c, f = latents.shape[:3]
    noise = torch.randn(latents.shape, generator=generator).to(latents)  # (b, c, f, h, w)
    if noise_offset > 0:
        noise = noise + noise_offset * torch.randn((b, c, f, 1, 1), generator=generator).to(latents)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, t)
    if first_frame_conditioning:
        noisy[:, :, 0] = latents[:, :, 0]  # frame 1 stays clean: it is the condition
    if scheduler.config.prediction_type == "epsilon":
        target = noise
    elif scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(latents, noise, t)
    else:
        raise TrainingError(f"prediction_type={scheduler.config.prediction_type!r} is not supported (epsilon or v_prediction)")
    prediction = video(noisy, t, text)
    first = 1 if first_frame_conditioning else 0
    loss = F.mse_loss(prediction[:, :, first:].float(), target[:, :, first:].float())
    return loss, prediction


class Trainer:
    """Runs one training config end to end; ``run()`` returns the motion file path."""

    def __init__(self, config: TrainConfig, check: VideoCheck | None = None, base: BaseModel | None = None,
                 hooks: TrainingHooks | None = None):
        self.config = config
        self.hooks = hooks or TrainingHooks()  # progress callbacks and a stop request (front ends)
        self.check = check  # scores validation videos and warns when later frames stop resembling frame 1
        self._given_base = base  # an already loaded base instead of config.base (e.g. random weights in tests)
        self.output_dir = Path(config.output_dir)
        mixed = config.mixed_precision
        if mixed == "fp16" and not torch.cuda.is_available():
            warnings.warn("mixed_precision=fp16 needs a CUDA GPU; training in fp32 (use bf16 for mixed precision on CPU)")
            mixed = "no"
        use_tb = config.tensorboard and _has_tensorboard()
        self.accelerator = Accelerator(mixed_precision=mixed, gradient_accumulation_steps=config.gradient_accumulation,
                                       log_with="tensorboard" if use_tb else None,
                                       project_dir=str(self.output_dir / "logs"))
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > self.accelerator.num_processes:
            raise TrainingError(
                f"launched as {launched} processes, but accelerate runs each one alone: they would train separately "
                f"and overwrite each other in {self.output_dir}. Without CUDA GPUs, launch with "
                f"ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes {launched} ...")
        self.weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[mixed]
        self._stop_requested = False

    def log(self, message: str) -> None:
        if self.accelerator.is_main_process:
            tqdm.write(message)

    # ---- set-up ----------------------------------------------------------------------
    def _setup(self) -> None:
        cfg, acc = self.config, self.accelerator
        allow_tf32(cfg.tf32)
        self.video_set = scan_videos(cfg.data, cfg.num_frames, cfg.stride, cfg.height, cfg.width, prompt=cfg.prompt,
                                     resize=cfg.resize)
        self.log(self.video_set.report())
        base = self._given_base or load_base(resolve_base(cfg.base), config=cfg.base_config)
        self.base = base
        self.scheduler = base.noise_scheduler()
        self.validation = self._validation_cases() if cfg.validate_every > 0 else []
        self.motion = None  # scores the validation videos' motion against the training clips
        if self.validation and cfg.motion_score and acc.is_main_process:
            try:
                self.motion = MotionProgress.from_video_set(self.video_set)
            except MotionScoreError as error:
                self.log(f"warning: no motion score during training: {error}")
        set_seed(cfg.seed)  # the temporal attention's q/k/v start random: same seed, same start
        self.video = VideoUNet.from_unet2d(base.unet, options=cfg.motion_options())
        count = self.video.freeze_base()
        self.log(f"inflated base {base.source}: {self.video.report}; training {count:,} parameters")
        base.vae.requires_grad_(False).to(acc.device, self.weight_dtype)
        base.text_encoder.requires_grad_(False).to(acc.device, self.weight_dtype)
        self.video.to(acc.device, self.weight_dtype)
        for param in self.video.trainable_parameters().values():
            param.data = param.data.float()  # trained weights stay fp32 under mixed precision
        if cfg.gradient_checkpointing:
            self.video.enable_gradient_checkpointing()

        prompts = sorted({v.prompt for v in self.video_set.videos})
        embeddings = encode_prompts(base, prompts, acc.device)
        self.text = [embeddings[prompts.index(v.prompt)] for v in self.video_set.videos]
        self.encode = make_encode_fn(base.vae, self.weight_dtype)
        self.cache = LatentCache.build(self.video_set, self.encode, flip=cfg.flip) if cfg.cache_latents else None
        self.sampler = ClipSampler(self.video_set.lengths, cfg.num_frames, cfg.stride, cfg.flip,
                                   seed=_seed_for(cfg.seed, acc.process_index))

        params = list(self.video.trainable_parameters().values())
        self.optimizer = _make_optimizer(cfg, params)
        self.lr_scheduler = get_scheduler(cfg.lr_scheduler, self.optimizer, num_warmup_steps=cfg.lr_warmup_steps,
                                          num_training_steps=cfg.steps)
        self.model, self.optimizer = acc.prepare(self.video, self.optimizer)
        if cfg.fused_step:
            self._fuse_step(params)

    def _fuse_step(self, params: list[torch.nn.Parameter]) -> None:
        """Step each trained tensor as soon as its gradient is complete and free that gradient (``fused_step``).

        AdamW steps each tensor on its own state, so stepping them one at a time during the
        backward pass gives what one step after it gives; the optimizer skips tensors without a
        gradient, and each hook finds only its own tensor's gradient set."""
        if self.accelerator.num_processes > 1:
            raise TrainingError(f"fused_step=true would step each process on its own gradients before they are averaged "
                                f"across the {self.accelerator.num_processes} processes: train in one process or set "
                                f"fused_step=false")
        optimizer = self.optimizer.optimizer  # the torch optimizer inside accelerate's wrapper

        def step_and_free(param: torch.nn.Parameter) -> None:
            optimizer.step()
            param.grad = None

        for param in params:
            param.register_post_accumulate_grad_hook(step_and_free)

    def _clip_latents(self, index: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean latents (1, c, f, h, w) and text (1, tokens, dim) of micro-batch item ``index``."""
        clip = self.sampler.clip_at(index)
        share = self.config.colour_augment
        if share > 0 and float(torch.rand(1, generator=generator)) < share:
            mean, std = encode_clip(jitter_colours(clip_pixels(self.video_set, clip), generator), self.encode)
        elif self.cache is not None:
            mean, std = self.cache.clip_latent_dist(clip)
        else:
            mean, std = encode_clip(clip_pixels(self.video_set, clip), self.encode)  # (c', f, h', w')
        sample = mean + std * torch.randn(mean.shape, generator=generator).to(mean)
        return sample[None].to(self.accelerator.device), self.text[clip.video][None]

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> Path:
        cfg, acc = self.config, self.accelerator
        check_output_folder(cfg.output_dir, "output_dir")  # before any model loads
        lock = RunLock(self.output_dir).acquire() if acc.is_main_process else None
        try:
            return self._run_locked()
        finally:
            if lock is not None:
                lock.release()

    def _run_locked(self) -> Path:
        cfg, acc = self.config, self.accelerator
        resolved = {**asdict(cfg), "data_digest": data_digest(cfg.data)}
        # Refusals come before any model loads: a resume that mixes settings, a new run over an earlier one.
        resume_from = self._check_resume(resolved) if cfg.resume else None
        earlier = [] if cfg.resume else earlier_run(self.output_dir, cfg.overwrite)
        self._setup()
        if acc.is_main_process:
            for note in replace_earlier_run(earlier):
                self.log(note)
            self.output_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.output_dir / "config.yaml", config_to_yaml(cfg))
            if acc.log_with:
                acc.init_trackers("lamp", config={k: v for k, v in resolved.items() if isinstance(v, (int, float, str, bool))})
        step = 0
        if resume_from is not None:
            step = load_checkpoint(resume_from, self.video, self.optimizer, self.lr_scheduler)
            if cfg.resume_override:
                self._apply_optimiser_settings()
            self.log(f"resumed from {resume_from} at step {step}")
            if self.motion is not None:
                self.motion.restore(self.output_dir / "scores.json", step)
            if step == cfg.steps:
                self.log(f"note: the checkpoint is at step {step} = steps; nothing left to train, writing its motion file")

        handlers = {sig: signal.signal(sig, self._on_stop_signal) for sig in (signal.SIGINT, signal.SIGTERM)} \
            if _main_thread() else {}
        progress = tqdm(total=cfg.steps, initial=step, desc="training", disable=not acc.is_main_process)
        last_good = None
        try:
            while step < cfg.steps:
                loss = self._optimizer_step(step)
                if not math.isfinite(loss):
                    kept = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
                    raise TrainingError(f"loss became {loss} at step {step + 1}; stopped, {kept}. Lower learning_rate or use mixed_precision=bf16/no")
                step += 1
                progress.update(1)
                lr = self.lr_scheduler.get_last_lr()[0]
                progress.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", **self._motion_postfix())
                if self.hooks.on_step is not None:
                    self.hooks.on_step(step, cfg.steps, loss)
                if self.hooks.stop.is_set():
                    self._stop_requested = True
                if acc.log_with and step % max(1, cfg.log_every) == 0:
                    acc.log({"loss": loss, "lr": lr}, step=step)
                if self.validation and step % cfg.validate_every == 0:
                    self._validate(step)
                if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or self._stop_requested:
                    last_good = self._checkpoint(step, resolved)
                if self._stop_requested:
                    raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint saved at {last_good}; continue with resume=latest")
        finally:
            progress.close()
            for sig, previous in handlers.items():
                signal.signal(sig, previous)
        acc.wait_for_everyone()
        path = self.output_dir / "motion.safetensors"
        if acc.is_main_process:
            self._save_motion(path, step)
            self.log(f"motion file written to {path}")
            final = self.motion.final_message() if self.motion is not None else None
            if final is not None:
                self.log(f"{final}; its motion file: {self.output_dir / 'best.safetensors'}")
        acc.end_training()
        return path

    def _save_motion(self, path: Path, step: int) -> None:
        cfg = self.config
        adapter = LampMotionAdapter.from_video_unet(
            self.accelerator.unwrap_model(self.model), prompt=self.video_set.prompt, base=cfg.base or "",
            num_frames=cfg.num_frames, height=cfg.height, width=cfg.width, stride=cfg.stride, steps=step,
            generation=cfg.generation_settings(), resize=cfg.resize, training_config=config_to_yaml(cfg))
        save_motion_or_rescue(adapter, path, dtype=cfg.motion_dtype)

    def _motion_postfix(self) -> dict[str, str]:
        """The progress bar's motion score: the latest validation step's mean."""
        if self.motion is None or not self.motion.history:
            return {}
        return {"motion": f"{self.motion.history[-1][1]:.3f}"}

    def _optimizer_step(self, step: int) -> float:
        cfg, acc = self.config, self.accelerator
        losses = []
        for micro in range(cfg.gradient_accumulation):
            micro_index = step * cfg.gradient_accumulation + micro
            generator = torch.Generator().manual_seed(_seed_for(cfg.seed, acc.process_index, micro_index, 1))
            items = [self._clip_latents(micro_index * cfg.batch_size + j, generator) for j in range(cfg.batch_size)]
            latents = torch.cat([lat for lat, _ in items]).to(self.weight_dtype)
            text = torch.cat([txt for _, txt in items])
            with acc.accumulate(self.model):
                with acc.autocast():  # the forward pass only: autocast's cache of bf16 weight copies ends with it
                    loss, _ = diffusion_loss(self.model, latents, text, self.scheduler, generator,
                                             cfg.first_frame_conditioning, cfg.noise_offset)
                acc.backward(loss)  # with fused_step, this also steps every trained tensor (_fuse_step)
                if not cfg.fused_step:
                    if acc.sync_gradients and cfg.max_grad_norm > 0:
                        acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
        self.lr_scheduler.step()
        mean = torch.stack(losses).mean()
        return float(acc.reduce(mean, reduction="mean"))

    def _checkpoint(self, step: int, resolved: dict) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        path = None
        if acc.is_main_process:
            path = save_checkpoint_or_rescue(self.output_dir / "checkpoints", step, acc.unwrap_model(self.model), self.optimizer,
                                   self.lr_scheduler, resolved, self.config.keep_checkpoints)
        acc.wait_for_everyone()
        return path or self.output_dir / "checkpoints" / f"step-{step:06d}"

    def _validation_cases(self) -> list[tuple[str, Image.Image]]:
        """(prompt, first frame) pairs: images with the motion prompt, prompts with base-model first frames.

        Runs before inflation, while the base UNet is still the plain text-to-image model."""
        cfg = self.config
        cases = [(self.video_set.prompt, load_image(path)) for path in cfg.validation_images]
        if cfg.validation_prompts and self.accelerator.is_main_process:
            seeds = [cfg.seed + i for i in range(len(cfg.validation_prompts))]
            images = first_frames_from_base(self.base, cfg.validation_prompts, seeds, cfg.height, cfg.width,
                                            self.accelerator.device, steps=cfg.validation_steps)
            cases += list(zip(cfg.validation_prompts, images))
        if self.check is not None:
            cases += self.check.cases(cfg.height, cfg.width)
        return cases

    @torch.no_grad()
    def _validate(self, step: int) -> None:
        """Write a validation video per case to output_dir/validation/step-N/ (main process)."""
        acc, cfg = self.accelerator, self.config
        if acc.is_main_process:
            video = acc.unwrap_model(self.model)
            video.eval()
            pipe = LampPipeline(self.base.vae, self.base.text_encoder, self.base.tokenizer, video, self.base.ddim_scheduler())
            folder = self.output_dir / "validation" / f"step-{step:06d}"
            guidance = cfg.sample_guidance if cfg.validation_guidance is None else cfg.validation_guidance
            scores: dict[str, dict[str, float]] = {}
            written = []
            for index, (prompt, image) in enumerate(self.validation):
                with acc.autocast():
                    out = pipe(prompt, image, num_frames=cfg.num_frames, height=cfg.height, width=cfg.width,
                               num_inference_steps=cfg.validation_steps, guidance_scale=guidance,
                               generator=cfg.seed, progress=False)
                written.append(folder / f"{index:02d}-{slug(prompt)}.mp4")
                write_video(written[-1], out.frames[0], fps=8)
                name = f"{index:02d}-{slug(prompt)}"
                if self.check is not None:
                    result = self.check.check(out.frames[0], prompt)
                    scores[name] = dict(result.scores)
                    for warning in result.warnings:
                        self.log(f"warning: step {step}, validation video {index:02d} ({prompt!r}): {warning}")
                if self.motion is not None:
                    scores.setdefault(name, {}).update(self.motion.score(out.frames[0]).as_dict())
            video.train()
            if scores:
                (folder / "scores.json").write_text(json.dumps(scores, indent=2))
            self.log(f"validation videos written to {folder}")
            if self.motion is not None:
                self._record_motion(step, [row["motion_score"] for row in scores.values()])
            if self.hooks.on_validation is not None:
                self.hooks.on_validation(step, written)
        acc.wait_for_everyone()

    def _record_motion(self, step: int, values: list[float]) -> None:
        """Log a validation step's mean motion score, keep best.safetensors, write output_dir/scores.json."""
        mean = float(np.mean(values))
        is_best, warnings = self.motion.update(step, mean)
        best_step, best = self.motion.best
        self.log(f"step {step}: motion score {mean:.3f} over {len(values)} validation video(s) "
                 f"(best {best:.3f} at step {best_step}; a still video scores {self.motion.still_score:.3f})")
        for warning in warnings:
            self.log(f"warning: step {step}: {warning}")
        if is_best:
            self._save_motion(self.output_dir / "best.safetensors", step)
        if self.accelerator.log_with:
            self.accelerator.log({"motion_score": mean}, step=step)
        history = {"still_score": self.motion.still_score, "best": {"step": best_step, "motion_score": best},
                   "steps": [{"step": s, "motion_score": v} for s, v in self.motion.history]}
        write_text_atomic(self.output_dir / "scores.json", json.dumps(history, indent=2) + "\n")

    def _check_resume(self, resolved: dict) -> Path:
        """The checkpoint to resume from, refused when it would mix settings or has nothing left to train."""
        cfg = self.config
        path = resolve_resume(cfg.resume, self.output_dir / "checkpoints")
        done = checkpoint_step(path)
        if done > cfg.steps:
            raise TrainingError(f"resume: the checkpoint {path} is at step {done}, beyond steps={cfg.steps}; set steps "
                                f"above {done} to train on, or use its motion file {path / 'motion.safetensors'} as it is")
        changes = resume_changes(path, resolved)
        if changes and not cfg.resume_override:
            raise TrainingError(
                f"resume: this run's settings differ from those the checkpoint {path} was trained with "
                f"({describe_changes(changes)}); a resumed run would mix them. Resume with the checkpoint's values, "
                f"start afresh in another output_dir, or set resume_override=true to train on with the new values")
        if changes:
            self.log(f"resume_override: training on with {describe_changes(changes)}")
        return path

    def _apply_optimiser_settings(self) -> None:
        """After a resume with ``resume_override``: this config's optimiser values, not the checkpoint's."""
        cfg, scheduler = self.config, self.lr_scheduler
        for group in self.optimizer.param_groups:
            group.update(initial_lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2),
                         weight_decay=cfg.adam_weight_decay, eps=cfg.adam_epsilon)
        scheduler.base_lrs = [cfg.learning_rate] * len(self.optimizer.param_groups)
        factors = getattr(scheduler, "lr_lambdas", None)
        for index, group in enumerate(self.optimizer.param_groups):
            factor = factors[index](scheduler.last_epoch) if factors else 1.0
            group["lr"] = cfg.learning_rate * factor
        scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _on_stop_signal(self, signum, frame) -> None:
        """Ctrl-C (SIGINT) or SIGTERM (a scheduler, ``docker stop``, ``timeout``): checkpoint after this step."""
        if self._stop_requested:
            raise KeyboardInterrupt
        self._stop_requested = True
        what = "interrupt" if signum == signal.SIGINT else "SIGTERM"
        self.log(f"{what} received: saving a checkpoint after this step (press Ctrl-C again to quit at once)")


def _make_optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    kwargs = dict(lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), weight_decay=cfg.adam_weight_decay,
                  eps=cfg.adam_epsilon)
    if cfg.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as error:
            raise TrainingError("optimizer=adamw8bit needs bitsandbytes (pip install bitsandbytes); or use optimizer=adamw") from error
        return bnb.optim.AdamW8bit(params, **kwargs)
    return torch.optim.AdamW(params, fused=cfg.fused_adamw, **kwargs)


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def train(config: TrainConfig, check: VideoCheck | None = None, hooks: TrainingHooks | None = None) -> Path:
    """Tune a motion from ``config``; returns the path of the motion file.

    ``check``: scores the validation videos and adds first frames of its own (see
    :mod:`lamp_motion.training.checks`). ``hooks``: progress callbacks and a stop
    request (see :mod:`lamp_motion.training.hooks`)."""
    return Trainer(config, check, hooks=hooks).run()
