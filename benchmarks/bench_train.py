"""Training speed and memory: tiny runs on the CPU, and SD 1.4 size on a CUDA GPU.

CPU (section ``train-cpu`` of docs/performance.md): the toy config
configs/toy/move_right.yaml (16 frames of 32x32 px, fp32) on a base with the toy base's
architecture and random weights, 8 rendered videos of 24 frames, once with the latent
cache and once encoding every clip with the VAE at every step. Each run is a fresh
process, so its peak resident memory (``resource.getrusage``) is its own.

GPU (section ``train-gpu``, only where CUDA is available): a UNet2DConditionModel with
Stable Diffusion 1.4's config (random weights) inflated into LAMP's video UNet, one
16x320x512 clip, batch 1, run as the trainer runs it with ``mixed_precision: bf16``
(frozen weights in bf16, trained weights in fp32, bf16 autocast):

- the video UNet's forward, and forward+backward with and without gradient checkpointing;
- whole training steps (loss, backward, grad clip, AdamW) with gradient checkpointing,
  on cached latents and with an SD-1.4-size VAE encoding the clip at every step.

Peak memory there is ``torch.cuda.max_memory_allocated`` over the timed iterations:
weights, optimizer state and activations together.

    python benchmarks/bench_train.py                  # CPU (~2 min on 2 cores), then GPU if there is one
    python benchmarks/bench_train.py --only gpu       # the GPU part alone
    python benchmarks/bench_train.py --steps 5 --no-docs
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # the toy base's build tool
from _docs import DOCS, markdown_table, update_section  # noqa: E402

import lamp_motion  # noqa: E402
from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data import encode_clip  # noqa: E402
from lamp_motion.models import (
    MotionOptions,
    VideoUNet,  # noqa: E402
)
from lamp_motion.testing import SD14_SCHEDULER, SD14_UNET, SD14_VAE  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import Trainer, diffusion_loss, make_encode_fn  # noqa: E402

PAGE = "performance.md"
TOY_CONFIG = Path(lamp_motion.__file__).resolve().parent / "configs" / "toy" / "move_right.yaml"
TOY_VIDEOS, TOY_VIDEO_FRAMES = 8, 24

SD14_SCHEDULE = {k: SD14_SCHEDULER[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                                 "prediction_type")}  # the training noise schedule
SD14_TEXT_TOKENS = 77  # CLIP ViT-L/14's context length
PAPER_CLIP = dict(frames=16, height=320, width=512)


# ---- CPU: the trainer itself on a tiny setting ------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_toy_run(work: Path) -> tuple[Path, Path]:
    """A toy-architecture base with random weights and a rendered motion set; returns (base, data)."""
    from build_toy_base import BuildConfig, build_models, build_scheduler, build_tokenizer
    from diffusers import StableDiffusionPipeline

    from lamp_motion.data.toy.sets import SET_FILE, make_set

    build = BuildConfig()
    tokenizer = build_tokenizer(build.max_length)
    text_encoder, vae, unet = build_models(build, tokenizer)
    base = work / "base"
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=build_scheduler(),
                            safety_checker=None, feature_extractor=None, requires_safety_checker=False).save_pretrained(base)
    data = work / "moves_right"
    make_set("move_right", data, num_videos=TOY_VIDEOS, num_frames=TOY_VIDEO_FRAMES, seed=0)
    (data / SET_FILE).unlink()  # the set's description is not a training video
    return base, data


def cpu_run(base: Path, data: Path, out: Path, cache: bool, steps: int, warmup: int) -> dict[str, float]:
    """Set up the trainer and time ``steps`` optimiser steps after ``warmup``; run in a fresh process."""
    config = load_config(TrainConfig, TOY_CONFIG, [f"data={data}", f"base={base}", f"output_dir={out}",
                                                   f"cache_latents={str(cache).lower()}", f"steps={warmup + steps}"])
    trainer = Trainer(config)
    started = time.perf_counter()
    trainer._setup()
    setup_s = time.perf_counter() - started
    rss_after_setup = peak_rss_mb()
    for step in range(warmup):
        trainer._optimizer_step(step)
    seconds = []
    for step in range(warmup, warmup + steps):
        started = time.perf_counter()
        trainer._optimizer_step(step)
        seconds.append(time.perf_counter() - started)
    return {"setup_s": setup_s, "step_s": statistics.median(seconds), "peak_rss_mb": peak_rss_mb(),
            "rss_after_setup_mb": rss_after_setup, "threads": torch.get_num_threads(),
            "trained": sum(p.numel() for p in trainer.video.trainable_parameters().values())}


def cpu_section(steps: int, warmup: int) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base, data = prepare_toy_run(work)
        for cache in (True, False):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                result = pool.submit(cpu_run, base, data, work / f"out-{cache}", cache, steps, warmup).result()
            label = "latent cache (default)" if cache else "VAE encode every step"
            print(f"cpu, {label}: {result}", flush=True)
            rows.append([label, result["setup_s"], 1 / result["step_s"], result["step_s"],
                         round(result["peak_rss_mb"]), round(result["peak_rss_mb"] - result["rss_after_setup_mb"])])
    table = markdown_table(["clips", "set-up s", "steps/s", "median s/step", "peak RSS MB",
                            "RSS growth while training MB"], rows)
    toy = load_config(TrainConfig, TOY_CONFIG)
    return (f"Training on the CPU at toy size: `{TOY_CONFIG.relative_to(TOY_CONFIG.parents[2])}` ({toy.num_frames}-frame "
            f"clips of {toy.height}x{toy.width} px, batch {toy.batch_size}, mixed_precision {toy.mixed_precision}) on a "
            f"base with the toy base's architecture (random weights; {result['trained']:,} trained parameters), "
            f"{TOY_VIDEOS} rendered videos of {TOY_VIDEO_FRAMES} frames, {result['threads']} torch threads. "
            f"{steps} timed optimiser steps after {warmup} warm-up steps; steps/s is one over the median step time "
            "(the machine is shared). Set-up covers reading the videos, loading and inflating the base and, with the "
            "cache, encoding every frame once. Each row is a fresh process: peak RSS includes the libraries, and the "
            "growth column is how far the peak rose during the steps.\n\n" + table)


# ---- GPU: SD 1.4 size ------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], device: torch.device, steps: int, warmup: int) -> tuple[float, float | None]:
    """Seconds per call of ``fn`` and peak GiB allocated during the timed calls (CUDA only)."""
    for _ in range(warmup):
        fn()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    seconds = (time.perf_counter() - started) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak


def video_unet_figures(device: torch.device, unet_config: dict, vae_config: dict, frames: int, height: int, width: int,
                       steps: int, warmup: int) -> tuple[list[list[object]], dict[str, int]]:
    """Rows (measurement, s/iteration, iterations/s, peak GiB) for one clip, run as the trainer runs bf16."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    dtype = torch.bfloat16
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**unet_config)
        vae = AutoencoderKL(**vae_config)
    video = VideoUNet.inflate(unet, MotionOptions(groupnorm="per_frame"))
    counts = {"unet": sum(p.numel() for p in video.parameters()), "trained": video.freeze_base()}
    video.to(device, dtype)
    vae.requires_grad_(False).to(device, dtype)
    params = list(video.trainable_parameters().values())
    for param in params:
        param.data = param.data.float()  # trained weights stay fp32 under mixed precision
    optimizer = torch.optim.AdamW(params, lr=3e-5, weight_decay=1e-2)
    scheduler = DDPMScheduler(**SD14_SCHEDULE)
    encode = make_encode_fn(vae, dtype)

    down = 2 ** (len(vae.config.block_out_channels) - 1)
    generator = torch.Generator().manual_seed(0)
    shape = (1, unet.config.in_channels, frames, height // down, width // down)  # (b, c, f, h, w)
    mean, std = torch.randn(shape, device=device), torch.rand(shape, device=device) * 0.1  # a "cached" latent distribution
    pixels = torch.rand((3, frames, height, width), device=device) * 2 - 1  # (c, f, h, w) in [-1, 1]
    text = torch.randn((1, SD14_TEXT_TOKENS, unet.config.cross_attention_dim), device=device, dtype=dtype)
    autocast = torch.autocast(device.type, dtype=dtype)

    def cached_latents() -> torch.Tensor:
        return (mean + std * torch.randn(shape, device=device)).to(dtype)

    def encoded_latents() -> torch.Tensor:
        clip_mean, clip_std = encode_clip(pixels, encode)  # (c', f, h', w')
        return (clip_mean + clip_std * torch.randn_like(clip_std))[None].to(dtype)

    def forward() -> None:
        with torch.no_grad(), autocast:
            video(cached_latents(), torch.tensor([500], device=device), text)

    def forward_backward() -> None:
        with autocast:
            loss, _ = diffusion_loss(video, cached_latents(), text, scheduler, generator)
        loss.backward()
        optimizer.zero_grad(set_to_none=True)

    def train_step(latents: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            with autocast:
                loss, _ = diffusion_loss(video, latents(), text, scheduler, generator)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    cases = [
        ("video UNet forward (no grad)", forward, False),
        ("video UNet forward+backward, no gradient checkpointing", forward_backward, False),
        ("video UNet forward+backward, gradient checkpointing", forward_backward, True),
        ("training step, latent cache", train_step(cached_latents), True),
        ("training step, VAE encodes the clip every step", train_step(encoded_latents), True),
    ]
    rows = []
    for label, fn, checkpointing in cases:
        if checkpointing:
            video.enable_gradient_checkpointing()
        else:
            video.unet.disable_gradient_checkpointing()
        try:
            seconds, peak = timed(fn, device, steps, warmup)
            rows.append([label, seconds, 1 / seconds, "-" if peak is None else peak])
        except torch.cuda.OutOfMemoryError:
            rows.append([label, "out of memory", "-", "-"])
            optimizer.zero_grad(set_to_none=True)
            gc.collect()
            torch.cuda.empty_cache()
        print(f"{device.type}: {rows[-1]}", flush=True)
    return rows, counts


def gpu_section(steps: int, warmup: int) -> str:
    device = torch.device("cuda")
    rows, counts = video_unet_figures(device, SD14_UNET, SD14_VAE, steps=steps, warmup=warmup, **PAPER_CLIP)
    table = markdown_table(["measurement", "s/iteration", "iterations/s", "peak GiB allocated"], rows)
    clip = PAPER_CLIP
    return (f"Stable Diffusion 1.4 size on one GPU: the SD 1.4 UNet config with random weights, inflated "
            f"({counts['unet'] / 1e6:.0f}M parameters, {counts['trained'] / 1e6:.0f}M trained), one "
            f"{clip['frames']}x{clip['height']}x{clip['width']} clip, batch 1, bf16 autocast with bf16 frozen and "
            f"fp32 trained weights, AdamW. {steps} timed iterations after {warmup} warm-up iterations; peak memory "
            "is `torch.cuda.max_memory_allocated` over the timed iterations (weights, optimizer state, "
            "activations).\n\n" + table)


GPU_NOT_RUN = ("Not measured yet: this section is filled by running `python benchmarks/bench_train.py` on a machine "
               "with a CUDA GPU (SD 1.4-size video UNet, one 16x320x512 clip, batch 1, bf16, forward and "
               "forward+backward with and without gradient checkpointing, training steps with and without the latent "
               "cache, peak `torch.cuda.max_memory_allocated`). The run that wrote this note had no CUDA device.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("cpu", "gpu"), help="run one part only")
    parser.add_argument("--steps", type=int, default=30, help="timed CPU optimiser steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing (CPU and GPU)")
    parser.add_argument("--gpu-steps", type=int, default=5, help="timed GPU iterations per measurement")
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave docs/{PAGE} alone")
    args = parser.parse_args(argv)

    if args.only != "gpu":
        text = cpu_section(args.steps, args.warmup)
        print(text)
        if not args.no_docs:
            update_section(PAGE, "train-cpu", text)
    if args.only != "cpu":
        if torch.cuda.is_available():
            text = gpu_section(args.gpu_steps, args.warmup)
            print(text)
            if not args.no_docs:
                update_section(PAGE, "train-gpu", text)
        else:
            print("no CUDA device: GPU part skipped")
            page = DOCS / PAGE
            if not args.no_docs and "<!-- begin:train-gpu -->" not in (page.read_text() if page.exists() else ""):
                update_section(PAGE, "train-gpu", GPU_NOT_RUN)


if __name__ == "__main__":
    main()
