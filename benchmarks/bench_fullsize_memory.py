"""Memory of LAMP at Stable Diffusion 1.4 size, measured on the CPU: estimates of the GPU figures.

SD 1.4's UNet, VAE and CLIP text encoder (``lamp_motion.testing``, random
weights) run for real on the CPU, bf16 as on a GPU:

- training: one optimiser step of the trainer's own code path (``Trainer._optimizer_step``,
  ``mixed_precision: bf16``, gradient checkpointing, batch 1, latent cache) on a 16x320x512
  clip. One optimiser step on zero gradients runs before it, so AdamW's state exists as in
  every step after the first;
- generation: one DDIM step with guidance (UNet batch of 2 videos) of ``LampPipeline``
  on 16x320x512 with a first frame, everything bf16, and decoding the 16 frames with the
  VAE, ``decode_chunk`` frames per VAE call.

Each phase's peak is the bytes held before it (every model weight, the optimizer state,
summed tensor by tensor) plus the highest rise of live tensor bytes during it, from the
torch profiler's memory timeline (``profile_memory``): the torch CPU allocator's peak,
what ``torch.cuda.max_memory_allocated`` reports on a GPU for the same tensors. The
process's peak resident set above its level before the phase (``VmHWM`` after resetting
it) is measured on a second, unprofiled run of the same phase and printed as a check.
The CPU kernels are not the GPU's (attention, convolution workspaces), so these are
estimates.

    python benchmarks/bench_fullsize_memory.py                        # 16x320x512; ~20 GB free RAM, long
    python benchmarks/bench_fullsize_memory.py --frames 2 --height 64 --width 64 --no-docs   # a quick check
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402
from _models import first_frame, in_fresh_process  # noqa: E402

from lamp_motion.models import (
    MotionOptions,
    VideoUNet,  # noqa: E402
)
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.testing import random_base  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import Trainer  # noqa: E402

PAGE = "performance.md"
SECTIONS = {"train": "fullsize-memory-train-cpu", "generate": "fullsize-memory-generate-cpu"}
GOAL_TRAIN_GB, GOAL_GENERATE_GB = 6.0, 4.0  # issue 27's goals on a GPU (issue 17's were 8 and 4)
VARIANTS = ("adamw", "adamw+fused", "adamw8bit", "adamw8bit+fused")  # training: optimizer, "+fused" = fused_step
GB = 1e9


# ---- measuring ------------------------------------------------------------------------
def tensor_bytes(tensors) -> int:
    """Bytes of distinct storages among ``tensors``."""
    seen, total = set(), 0
    for tensor in tensors:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def module_bytes(*modules: torch.nn.Module) -> int:
    return tensor_bytes(t for m in modules for t in [*m.parameters(), *m.buffers()])


def optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    return tensor_bytes(v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v))


def rss_bytes(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}: this benchmark needs Linux")


def peak_rss_rise(fn) -> tuple[int, float]:
    """(peak resident bytes above the level before ``fn``, seconds) for one call of ``fn``."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
    before = rss_bytes("VmRSS")
    started = time.perf_counter()
    fn()
    return rss_bytes("VmHWM") - before, time.perf_counter() - started


# The profiler's memory categories, in the order of the memory timeline's columns 1.. (torch.profiler._memory_profiler).
CATEGORIES = ("parameters", "optimizer state", "inputs", "temporaries", "activations", "gradients", "autograd detail",
              "unknown")


def allocator_peak_rise(fn, work: Path) -> dict:
    """Highest rise of live CPU tensor bytes during one call of ``fn`` (profiler memory timeline): ``rise``, what
    rose by the peak in each of the profiler's categories (``at_peak``), and when (``peak_at``: share of the call)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        fn()
    path = work / "timeline.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # export_memory_timeline is marked deprecated for CUDA
        prof.export_memory_timeline(str(path), device="cpu")
    import json

    times, sizes = json.loads(path.read_text())
    sizes, times = np.asarray(sizes, dtype=np.int64), np.asarray(times, dtype=np.float64)
    totals = sizes.sum(axis=1)  # every category, bytes over time
    peak = int(totals.argmax())
    rose = sizes[peak] - sizes[0]  # sizes[0]: tensors that existed before and were used
    span = max(times[-1] - times[0], 1.0)
    return {"rise": int(totals[peak] - totals[0]), "peak_at": float((times[peak] - times[0]) / span),
            "at_peak": {name: int(value) for name, value in zip(CATEGORIES, rose[1:]) if value}}


def measure(fn, work: Path, rss_check: bool) -> dict:
    """The allocator's peak rise during ``fn`` (profiled); with ``rss_check``, an unprofiled run first for RSS and time."""
    rss, seconds = peak_rss_rise(fn) if rss_check else (None, None)
    started = time.perf_counter()
    profiled = allocator_peak_rise(fn, work)
    return {**profiled, "rss_rise": rss, "seconds": seconds, "profiled_seconds": time.perf_counter() - started}


# ---- the two phases, each in a fresh process ----------------------------------------------
def training(frames: int, height: int, width: int, threads: int, variant: str, rss_check: bool) -> dict:
    """One training step of ``variant``: an optimizer name, with "+fused" for ``fused_step`` (and no clipping)."""
    torch.set_num_threads(threads)
    from lamp_motion.data.toy.sets import SET_FILE, make_set

    optimizer, fused = variant.removesuffix("+fused"), variant.endswith("+fused")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "horse_run"
        make_set("move_right", data, num_videos=1, num_frames=frames, height=height, width=width, seed=0)
        (data / SET_FILE).unlink()
        config = TrainConfig(data=str(data), output_dir=str(work / "out"), num_frames=frames, height=height,
                             width=width, steps=3, batch_size=1, mixed_precision="bf16", gradient_checkpointing=True,
                             cache_latents=True, flip=False, tensorboard=False, checkpoint_every=0,
                             optimizer=optimizer, fused_step=fused, max_grad_norm=0.0 if fused else 1.0)
        trainer = Trainer(config, base=random_base(seed=0))
        trainer._setup()

        # AdamW's state, as after any first step: one optimizer step on zero gradients (the state's size
        # depends on the trained tensors only, not on the data).
        video, base = trainer.video, trainer.base
        trained = video.trainable_parameters().values()
        for param in trained:
            param.grad = torch.zeros_like(param)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)

        static = {"weights": module_bytes(video, base.vae, base.text_encoder),
                  "frozen weights": module_bytes(video) - tensor_bytes(trained),
                  "trained weights": tensor_bytes(trained),
                  "VAE + text encoder": module_bytes(base.vae, base.text_encoder),
                  "optimizer state": optimizer_bytes(trainer.optimizer),
                  "gradients": 0 if fused else sum(p.numel() * 4 for p in trained)}
        steps = iter(range(1, 10))
        result = measure(lambda: trainer._optimizer_step(next(steps)), work, rss_check)
    return {**result, **static, "held": static["weights"] + static["optimizer state"],
            "trained_count": sum(p.numel() for p in trained), "threads": torch.get_num_threads()}


def generation(frames: int, height: int, width: int, threads: int, decode_chunks: list[int], guidance: float,
               passes: str, rss_check: bool) -> dict:
    """One guided DDIM step with guidance's UNet ``passes`` ("batched" or "sequential"), and VAE decoding calls."""
    torch.set_num_threads(threads)
    base = random_base(seed=0, dtype=torch.bfloat16)
    video = VideoUNet.inflate(base.unet, MotionOptions(groupnorm="per_frame")).eval()
    pipe = LampPipeline(base.vae, base.text_encoder, base.tokenizer, video, base.ddim_scheduler())
    image = first_frame(height, width)
    weights = module_bytes(video, base.vae, base.text_encoder)
    kept = {}

    def step() -> None:
        kept["latents"] = pipe("a horse runs in the field", image, num_frames=frames, height=height, width=width,
                               num_inference_steps=1, guidance_scale=guidance, generator=0, output_type="latent",
                               sequential_guidance=passes == "sequential", progress=False).latents

    def decode_one_call(chunk: int):
        latents = torch.randn(1, video.config.in_channels, chunk, height // pipe.vae_scale_factor,
                              width // pipe.vae_scale_factor, dtype=torch.bfloat16)  # (b, c, f, h, w)
        return lambda: pipe.decode_latents(latents, chunk=chunk)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        denoise = measure(step, work, rss_check)
        decode = {chunk: measure(decode_one_call(chunk), work, rss_check) for chunk in decode_chunks}
    return {"denoise": denoise, "decode": decode, "weights": weights, "held": weights, "threads": torch.get_num_threads()}


# ---- report ---------------------------------------------------------------------------------
def gb(value: float | None) -> str:
    return "-" if value is None else f"{value / GB:.2f}"


def at_frames(rises: dict[int, int], frames: int) -> float:
    """The rise at ``frames``: measured, or from the straight line through the two largest measured counts."""
    if frames in rises:
        return rises[frames]
    f1, f2 = sorted(rises)[-2:]
    slope = (rises[f2] - rises[f1]) / (f2 - f1)
    return rises[f2] + slope * (frames - f2)


def phase_rows(label: str, measured: dict[int, dict], held: int, weights: int, optimizer: int, goal: float,
               target: int) -> list[list[object]]:
    rows = []
    for frames, m in sorted(measured.items()):
        rows.append([label, f"{frames} (measured)", gb(held + m["rise"]), goal, gb(weights), gb(optimizer),
                     gb(m["rise"]), gb(m["rss_rise"]), f"{m['profiled_seconds']:.0f}"])
    if target not in measured:
        rise = at_frames({f: m["rise"] for f, m in measured.items()}, target)
        total = held + rise
        over = total / GB - goal
        rows.append([label, f"**{target} (extrapolated)**", f"**{gb(total)}**", goal, gb(weights), gb(optimizer),
                     gb(rise), "-", f"{'over' if over > 0 else 'under'} the goal by {abs(over):.2f} GB"])
    else:
        over = (held + measured[target]["rise"]) / GB - goal
        rows[-1][-1] += f"; {'over' if over > 0 else 'under'} the goal by {abs(over):.2f} GB"
    return rows


def section(args, phase: str, measured: dict[str, dict[int, dict]]) -> str:
    """Markdown for ``phase`` ("train" or "generate") from its results by variant and frame count: notes and table."""
    target, size = args.target_frames, f"{args.height}x{args.width}"
    by_frames = next(iter(measured.values()))  # the first variant's results: what every variant holds the same
    first, frames = next(iter(by_frames.values())), sorted(by_frames)
    if phase == "train":
        rows = []
        for variant, results in measured.items():
            optimizer, fused = variant.removesuffix("+fused"), variant.endswith("+fused")
            label = (f"training step ({optimizer}, {'fused_step, max_grad_norm 0' if fused else 'max_grad_norm 1'}, "
                     "gradient checkpointing)")
            some = next(iter(results.values()))
            rows += phase_rows(label, results, some["held"], some["weights"], some["optimizer state"],
                               GOAL_TRAIN_GB, target)
    else:
        rows = []
        for passes, results in measured.items():
            label = (f"generation: one DDIM step, guidance {args.guidance:g}, "
                     f"{'one UNet pass on a batch of 2' if passes == 'batched' else 'sequential_guidance: 2 UNet passes'}")
            rows += phase_rows(label, {f: r["denoise"] for f, r in results.items()}, first["held"], first["weights"],
                               0, GOAL_GENERATE_GB, target)
        decoded = next(r["decode"] for r in by_frames.values() if r["decode"])
        pixels = 2 * target * 3 * args.height * args.width * 4  # the decoded fp32 frames, in a list and concatenated
        for chunk, m in decoded.items():
            total = first["held"] + m["rise"] + pixels
            over = total / GB - GOAL_GENERATE_GB
            rows.append([f"generation: VAE decoding, {chunk} frames per call", f"{target} (one call measured)",
                         gb(total), GOAL_GENERATE_GB, gb(first["weights"]), gb(0), gb(m["rise"] + pixels),
                         gb(m["rss_rise"]),
                         f"{m['profiled_seconds']:.0f}; {'over' if over > 0 else 'under'} the goal by {abs(over):.2f} GB"])
    table = markdown_table(["phase", "frames", "peak GB (estimate)", "goal GB", "weights GB", "optimizer state GB",
                            "rise GB (activations, gradients, temporaries)", "RSS rise GB (check)",
                            "CPU s (profiled) / verdict"], rows)
    notes = [f"{'Training' if phase == 'train' else 'Generation'} memory at Stable Diffusion 1.4 size, measured on "
             f"the CPU as an estimate of the GPU figures: SD 1.4's UNet, VAE and CLIP text encoder configs with "
             f"random weights, {size}, batch 1, bf16."]
    if target not in frames:
        notes.append(f"Measured at {', '.join(map(str, frames))} frames, because the shared 2-core machine could not "
                     f"run {target} frames in the time available; the {target}-frame row extends the straight line "
                     f"through the last two measured points (everything held before the phase is the same at any frame "
                     "count; the rise is a constant part (gradients, autocast's weight copies) plus a part that grows "
                     "with the frames, assumed linear). It is an extrapolation, not a measurement: at 320x512, "
                     "training's rise was linear from 2 to 8 frames but measured 0.46 GB above that line at 16, and "
                     "generation's 0.24 GB above the line through 2 and 4 frames at 16: the line underestimates.")
    if phase == "train":
        notes.append(
            f"Training runs the trainer's own step (`Trainer._optimizer_step`, mixed_precision bf16: frozen weights "
            f"bf16 ({gb(first['frozen weights'])} GB), the {first['trained_count'] / 1e6:.0f}M trained weights fp32 "
            f"({gb(first['trained weights'])} GB), VAE and text encoder bf16 ({gb(first['VAE + text encoder'])} GB), "
            f"gradient checkpointing, latent cache) after one optimizer step on zero gradients that creates AdamW's "
            f"state. The rise includes the fp32 gradients ({gb(first['trained_count'] * 4)} GB once all exist; with "
            "`fused_step` each is freed as soon as its tensor is stepped, during the backward pass) and autocast's "
            "bf16 copies of the trained weights (held during the forward pass; the backward pass runs outside "
            "autocast, so each checkpointed block's recomputation makes and frees its own).")
    else:
        notes.append("Generation is `LampPipeline` with a first frame, everything bf16: one DDIM step (guidance's "
                     "two UNet passes as one batch of 2 videos, or one after the other with `sequential_guidance`; "
                     "AdaIN) and, separately, VAE decoding; a video's peak is the largest of these "
                     "rows, whatever the number of steps. Decoding runs one VAE call of `decode_chunk` frames at a "
                     "time (the pipelines' default `decode_chunk` is 2), so one call is measured and the decoded frames "
                     "of the whole video (fp32, held twice while they are joined) are added by arithmetic.")
    where = []
    for variant, results in measured.items():
        for frames_measured, r in sorted(results.items()):
            r = r if phase == "train" else r["denoise"]
            if "at_peak" in r:
                parts = ", ".join(f"{name} {gb(value)}" for name, value in r["at_peak"].items())
                where.append(f"{variant} at {frames_measured} frames: {r['peak_at']:.0%} of the way through, {parts}")
    if where:
        notes.append("Where the rise peaks (share of the phase's profiled time) and what rose by then, in the "
                     "profiler's categories, GB: " + "; ".join(where) + ".")
    notes.append("Peak = bytes held before the phase (weights and optimizer state, summed tensor by tensor) + the "
                 "highest rise of live tensor bytes during it, from the torch profiler's memory timeline: the CPU "
                 "allocator's view, which is what `torch.cuda.max_memory_allocated` reports on a GPU. The RSS column "
                 "(with --rss-check) is the process's peak resident set above its level before the phase, from an "
                 "unprofiled run. CPU kernels differ from CUDA's (attention, convolution workspaces), so these are "
                 f"estimates. {args.threads} torch thread(s), one fresh process per phase and frame count.")
    return " ".join(notes) + "\n\n" + table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[16],
                        help="frame counts to measure; with several, the largest two extend to --target-frames")
    parser.add_argument("--target-frames", type=int, default=16, help="the frame count the goals are about")
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--only", choices=("train", "generate"), help="measure one phase only")
    parser.add_argument("--variants", nargs="+", default=["adamw", "adamw+fused"], choices=VARIANTS,
                        help="training: the optimizer, +fused for fused_step (max_grad_norm 0); adamw8bit needs "
                             "bitsandbytes")
    parser.add_argument("--decode-chunks", type=int, nargs="+", default=[2, 8],
                        help="frames per VAE decoder call; one call of each is measured (2: the pipelines' "
                             "default decode_chunk; 8: the default before it was lowered to fit the goal)")
    parser.add_argument("--guidance", type=float, default=12.5)
    parser.add_argument("--guidance-passes", nargs="+", default=["batched", "sequential"],
                        choices=("batched", "sequential"),
                        help="generation: guidance's UNet passes as one batch of 2, or one after the other")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rss-check", action="store_true", help="also run each phase unprofiled, for peak RSS")
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave docs/{PAGE} alone")
    args = parser.parse_args(argv)
    if args.target_frames not in args.frames and len(args.frames) < 2:
        parser.error(f"--target-frames {args.target_frames} is not measured: give it in --frames, or two counts to extend")

    # Generation first (the cheaper phase); each phase's section is written as soon as its frame counts are done.
    for phase in ("generate", "train"):
        if args.only not in (None, phase):
            continue
        measured = {}
        for frames in sorted(args.frames):
            size = (frames, args.height, args.width, args.threads)
            if phase == "train":
                for variant in args.variants:
                    result = in_fresh_process(training, *size, variant, args.rss_check)
                    measured.setdefault(variant, {})[frames] = result
                    print(f"{phase}, {variant}, {frames} frames: {result}", flush=True)
            else:
                for index, passes in enumerate(args.guidance_passes):
                    chunks = args.decode_chunks if frames == max(args.frames) and index == 0 else []
                    result = in_fresh_process(generation, *size, chunks, args.guidance, passes, args.rss_check)
                    measured.setdefault(passes, {})[frames] = result
                    print(f"{phase}, {passes}, {frames} frames: {result}", flush=True)
        text = section(args, phase, measured)
        print(text, flush=True)
        if not args.no_docs:
            update_section(PAGE, SECTIONS[phase], text)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
