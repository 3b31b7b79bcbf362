"""Every GPU figure of docs/performance.md in one run, on one CUDA GPU (run through gpu_suite.sh).

Sections written (each replaces its own part of docs/performance.md):

- ``train-gpu``: the trainer's own optimiser step (``Trainer._optimizer_step``) at SD 1.4
  size on one 16x320x512 clip, batch 1, bf16 mixed precision: seconds per step and peak
  ``torch.cuda.max_memory_allocated`` with the defaults (gradient checkpointing, fused
  AdamW, latent cache) and with one of them changed at a time (no checkpointing,
  unfused AdamW, 8-bit AdamW where bitsandbytes imports, the VAE encoding every clip);
- ``generate-gpu``: ``bench_generate.py``'s GPU part (16x320x512, 50 DDIM steps,
  guidance, bf16: seconds per video, peak memory, UNet FLOP/s), after checking that every
  attention of the video UNet runs in a fused SDPA kernel;
- ``animatediff-gpu``: ``bench_animatediff.py``'s GPU part (LAMP beside AnimateDiff at
  SD 1.5 size);
- ``compile-gpu``: the same video with the video UNet compiled by ``torch.compile``
  against not compiled.

TF32 is allowed throughout (it affects only fp32 work). ``--dry-run`` runs every code
path on the CPU at the smallest size (tiny models, 2 frames of 64x64, 1-2 steps,
torch.compile's "eager" backend) and writes nothing.

    bash benchmarks/gpu_suite.sh               # on a CUDA machine: < 10 minutes on an H100-class GPU
    bash benchmarks/gpu_suite.sh --dry-run     # anywhere: checks the code paths
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_animatediff  # noqa: E402
import bench_generate  # noqa: E402
from _docs import markdown_table, update_section  # noqa: E402
from _models import SD14, TINY, ModelSpec, peak_memory, reset_peak_memory, seconds_per_call  # noqa: E402

from lamp_motion.data.toy.sets import SET_FILE, make_set  # noqa: E402
from lamp_motion.models.speed import allow_tf32, fused_attention_only  # noqa: E402
from lamp_motion.testing import random_base  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import Trainer  # noqa: E402

PAGE = "performance.md"
GOAL_TRAIN_GB = 8.0  # the goal for a 16x320x512 training step


@dataclass(frozen=True)
class Setting:
    """Sizes and models of one suite run: the real one on a GPU, or the dry run on the CPU."""

    device: str
    spec: ModelSpec  # training and LAMP generation models
    spec_name: str  # bench_generate's name of ``spec``
    animatediff_spec: str  # bench_animatediff's model set
    frames: int
    height: int
    width: int
    train_steps: int  # timed optimiser steps per row
    train_warmup: int
    steps: int  # DDIM steps per video
    videos: int  # timed videos
    unet_calls: int
    compile_backend: str


GPU = Setting("cuda", SD14, "sd14", "sd15", frames=16, height=320, width=512, train_steps=5, train_warmup=2, steps=50,
              videos=3, unet_calls=20, compile_backend="inductor")
DRY = Setting("cpu", TINY, "tiny", "reduced", frames=2, height=64, width=64, train_steps=1, train_warmup=1, steps=1,
              videos=1, unet_calls=1, compile_backend="eager")


def base_for(spec: ModelSpec, device: str):
    return random_base(spec.unet, spec.vae, {**spec.text, "max_position_embeddings": spec.max_length}, device=device)


# ---- training -----------------------------------------------------------------------------------
TRAIN_ROWS = [
    ("defaults: gradient checkpointing, fused AdamW, latent cache", {}),
    ("no gradient checkpointing", {"gradient_checkpointing": False}),
    ("AdamW not fused", {"fused_adamw": False}),
    ("8-bit AdamW (bitsandbytes)", {"optimizer": "adamw8bit"}),
    ("VAE encodes the clip at every step (no latent cache)", {"cache_latents": False}),
]


def training_row(s: Setting, data: Path, out: Path, changes: dict) -> list[object]:
    config = TrainConfig(data=str(data), output_dir=str(out), num_frames=s.frames, height=s.height, width=s.width,
                         steps=s.train_warmup + s.train_steps, batch_size=1, mixed_precision="bf16", flip=False,
                         tensorboard=False, checkpoint_every=0, **changes)
    device = torch.device(s.device)
    trainer = Trainer(config, base=base_for(s.spec, s.device))
    try:
        trainer._setup()
        for step in range(s.train_warmup):
            trainer._optimizer_step(step)
        reset_peak_memory(device)
        steps = iter(range(s.train_warmup, config.steps))
        seconds = seconds_per_call(lambda: trainer._optimizer_step(next(steps)), device, s.train_steps)
        peak = peak_memory(device) / 1e9 if device.type == "cuda" else "-"
        median = statistics.median(seconds)
        return [median, 1 / median, peak]
    except torch.cuda.OutOfMemoryError:
        return ["out of memory", "-", "-"]
    finally:
        trainer = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def training_section(s: Setting, work: Path) -> str:
    data = work / "horse_run"
    make_set("move_right", data, num_videos=1, num_frames=s.frames, height=s.height, width=s.width, seed=0)
    (data / SET_FILE).unlink()
    rows = []
    for label, changes in TRAIN_ROWS:
        if changes.get("optimizer") == "adamw8bit" and not _imports("bitsandbytes"):
            rows.append([label, "skipped: bitsandbytes does not import here", "-", "-"])
        else:
            rows.append([label, *training_row(s, data, work / "out", changes)])
        print(f"train: {rows[-1]}", flush=True)
    table = markdown_table(["training step", "s/step", "steps/s", "peak GB allocated"], rows)
    default_peak = rows[0][3]
    verdict = (f"Goal (issue): at most {GOAL_TRAIN_GB:g} GB and half the authors' release's step time; the "
               f"defaults' peak is {default_peak:.2f} GB ({'met' if default_peak <= GOAL_TRAIN_GB else 'not met'}). "
               "The release's step time is not measured here (it needs its diffusers 0.11 / xformers stack)."
               if isinstance(default_peak, float) else "")
    return (f"Training at {s.spec.name} size on one GPU: the trainer's own optimiser step (`Trainer._optimizer_step`: "
            f"loss on frames 2..N, backward, gradient clipping, AdamW) on one {s.frames}x{s.height}x{s.width} clip, "
            "batch 1, mixed_precision bf16 (frozen weights bf16, trained weights fp32), random weights from SD 1.4's "
            f"configs. Median of {s.train_steps} steps after {s.train_warmup} warm-up steps, timed with CUDA events; "
            "peak memory is `torch.cuda.max_memory_allocated` over the timed steps (1 GB = 10^9 bytes). Each row "
            "changes one default.\n\n" + table + ("\n\n" + verdict if verdict else ""))


def _imports(module: str) -> bool:
    try:
        __import__(module)
    except Exception:  # bitsandbytes can fail with errors other than ImportError on machines it does not support
        return False
    return True


# ---- attention kernels, generation, AnimateDiff, compile -------------------------------------------
def attention_check(s: Setting) -> str:
    """One video UNet call with guidance's batch, the math attention kernel switched off."""
    pipe = bench_generate.lamp_pipeline(s.spec, torch.device(s.device), torch.bfloat16)
    down = pipe.vae_scale_factor
    latents = torch.randn(2, pipe.unet.config.in_channels, s.frames, s.height // down, s.width // down,
                          device=s.device, dtype=torch.bfloat16)
    text = torch.randn(2, s.spec.max_length, pipe.unet.config.cross_attention_dim, device=s.device,
                       dtype=torch.bfloat16)
    with torch.inference_mode(), fused_attention_only():
        pipe.unet(latents, 500, text)
    return ("Every attention of the video UNet (first-frame, cross and temporal) ran in a fused SDPA kernel: one "
            "UNet call with the math kernel switched off (`lamp_motion.models.speed.fused_attention_only`) raised "
            "nothing.")


def compile_section(s: Setting) -> str:
    rows = []
    for backend in (None, s.compile_backend):
        r = bench_generate.measure_lamp(s.spec_name, s.device, "bf16", s.frames, s.height, s.width, s.steps, 12.5,
                                        s.videos, s.steps, 1, torch.get_num_threads(), compile_backend=backend)
        label = "not compiled" if backend is None else f"torch.compile (backend {backend})"
        rows.append([label, r["video_s"], r["warmup_s"], r["peak_bytes"] / 1e9])
        print(f"compile: {rows[-1]}", flush=True)
        gc.collect()
    rows.append(["compiled / not compiled", rows[1][1] / rows[0][1], "-", rows[1][3] / rows[0][3]])
    table = markdown_table(["video UNet", "s/video", "first video s (includes compiling)", "peak GB allocated"],
                           rows)
    return (f"`torch.compile` of the video UNet (`lamp generate --compile`), {s.spec.name} size, "
            f"{s.frames}x{s.height}x{s.width}, {s.steps} DDIM steps, guidance 12.5, bf16: median s/video of "
            f"{s.videos} videos after a first video that compiles (its time is the middle column), each row a fresh "
            "build of the models.\n\n" + table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="every code path on the CPU at the smallest size; prints, writes nothing")
    parser.add_argument("--only", nargs="+", choices=("train", "generate", "animatediff", "compile"),
                        help="run these sections only")
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_suite: no CUDA GPU visible to torch; run it on a GPU machine, or pass --dry-run to "
                         "check its code paths on the CPU")
    s = DRY if args.dry_run else GPU
    allow_tf32(True)
    wanted = set(args.only or ("train", "generate", "animatediff", "compile"))
    started = time.perf_counter()

    def write(name: str, text: str) -> None:
        print(f"---- {name} ({time.perf_counter() - started:.0f} s into the suite)\n{text}", flush=True)
        if not args.dry_run:
            update_section(PAGE, name, text)

    if "train" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            write("train-gpu", training_section(s, Path(tmp)))
    if "generate" in wanted:
        check = attention_check(s)
        gc.collect()
        write("generate-gpu", bench_generate.gpu_section(s.height, s.width, s.frames, s.steps, 12.5, s.videos,
                                                         s.unet_calls, None, s.device, s.spec_name) + "\n\n" + check)
    if "animatediff" in wanted:
        write("animatediff-gpu", bench_animatediff.gpu_section((s.height, s.width), s.frames, s.steps, 12.5, s.videos,
                                                               "np", s.device, s.animatediff_spec))
    if "compile" in wanted:
        write("compile-gpu", compile_section(s))
    print(f"gpu_suite: done in {time.perf_counter() - started:.0f} s" + (" (dry run: nothing written)" if args.dry_run else ""))


if __name__ == "__main__":
    main()
