"""Motion file size against toy fidelity and frame-1 keeping: the precision of the tensors, and to_q as a LoRA.

Takes the toy motions that ``bench_motion_delta.py`` tuned on the built-in base (one per
training seed, reused from the same ``--work``; tuned here when missing), writes each as a
motion file in fp32, fp16 and bf16 (``save_motion_file(path, dtype)``, ``lamp train``'s
``motion_dtype``; the base's to_q as a difference), then tunes the same motion with
``attn1.to_q`` as a peft LoRA of each ``--ranks`` rank (``to_q_rank``; same set, seed, steps
and learning rate) and writes it in fp16. Each file generates on the built-in base from
first frames of unseen content, as shipped and raw: file size, toy motion fidelity and
frame-1 keeping. A last line gives the same files' sizes at Stable Diffusion 1.4's
architecture, counted (no training). Table: docs/results.md, section ``motion-size``.

    python benchmarks/bench_motion_size.py --work bench-motion-delta   # about 35 minutes on one thread
    python benchmarks/bench_motion_size.py --quick --no-docs --work W  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DConditionModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402
from bench_motion_delta import MODES, measure, tune  # noqa: E402

from lamp_motion.builtin import builtin_base_path  # noqa: E402
from lamp_motion.models import LampMotionAdapter, MotionOptions, VideoUNet  # noqa: E402
from lamp_motion.models.loading import load_base  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.testing import SD14_UNET  # noqa: E402

DTYPES = ("fp32", "fp16", "bf16")


def sd14_sizes(ranks: list[int]) -> dict[int, int]:
    """Rank (0: to_q in full) -> bytes of an fp16 motion file's tensors at SD 1.4's architecture (counted on meta)."""
    sizes = {}
    for rank in [0, *ranks]:
        with torch.device("meta"):
            video = VideoUNet.inflate(UNet2DConditionModel(**SD14_UNET), MotionOptions(to_q_rank=rank))
        sizes[rank] = 2 * sum(p.numel() for p in video.trainable_parameters().values())
    return sizes


def variant_name(rank: int) -> str:
    return "to_q in full" if rank == 0 else f"to_q as LoRA rank {rank}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-motion-delta"), help="bench_motion_delta.py's folder")
    parser.add_argument("--motion", default="move_left")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds")
    parser.add_argument("--ranks", nargs="*", type=int, default=[4, 16], help="LoRA ranks of to_q to tune and compare")
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy config's steps")
    parser.add_argument("--videos", type=int, default=6, help="first frames of unseen content")
    parser.add_argument("--gen-seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--gen-steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, one video and seed")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/results.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_steps, args.videos, args.seeds, args.gen_steps = args.train_steps or 20, 1, args.seeds[:1], 5
    torch.set_num_threads(args.threads)
    rows, minutes = [], {}
    for seed in args.seeds:
        files = []
        motion_file, _ = tune(args.work, args.motion, None, "mixed", seed, args.train_steps)
        adapter = LampMotionAdapter.from_pretrained(motion_file, dtype=torch.float32)
        for dtype in DTYPES:
            path = adapter.save_motion_file(args.work / "size" / f"{args.motion}-seed{seed}-{dtype}.safetensors", dtype)
            files.append((variant_name(0), dtype, path))
        for rank in args.ranks:
            tuned, minutes[f"rank {rank}, seed {seed}"] = tune(args.work, args.motion, None, "mixed", seed,
                                                               args.train_steps, to_q_rank=rank)
            path = LampMotionAdapter.from_pretrained(tuned, dtype=torch.float32).save_motion_file(
                args.work / "size" / f"{args.motion}-seed{seed}-lora{rank}-fp16.safetensors", "fp16")
            files.append((variant_name(rank), "fp16", path))
        for variant, dtype, path in files:
            pipe = LampPipeline.from_base(load_base(str(builtin_base_path())), str(path))
            pipe.set_progress_bar_config(disable=True)
            for mode in MODES:
                for index in range(args.videos):
                    rows.append({"variant": variant, "dtype": dtype, "mode": mode, "seed": seed,
                                 "bytes": path.stat().st_size, **measure(pipe, args.motion, index, args, mode,
                                                                         texture="mixed")})
                group = [r for r in rows if (r["variant"], r["dtype"], r["mode"], r["seed"]) == (variant, dtype, mode, seed)]
                print(f"seed {seed} {variant} {dtype} {mode:8s}: {path.stat().st_size / 1024:.0f} KiB, fidelity "
                      f"{np.mean([r['fidelity'] for r in group]):.2f}, frame 1 kept "
                      f"{np.mean([r['frame1_kept'] for r in group]):.2f}", flush=True)
    (args.work / "motion_size.json").write_text(json.dumps({"rows": rows, "tuning minutes": minutes}, indent=2))

    def cell(values: list[float]) -> str:
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    def per_seed(group: list[dict], key: str) -> str:
        return " / ".join(f"{np.mean([r[key] for r in group if r['seed'] == s]):.2f}" for s in args.seeds)

    table = []
    for variant, dtype in dict.fromkeys((r["variant"], r["dtype"]) for r in rows):
        for mode in MODES:
            group = [r for r in rows if (r["variant"], r["dtype"], r["mode"]) == (variant, dtype, mode)]
            table.append([variant, dtype, mode, f"{np.mean([r['bytes'] for r in group]) / 1024:.0f} KiB",
                          cell([r["fidelity"] for r in group]), per_seed(group, "fidelity"),
                          cell([r["frame1_kept"] for r in group]), per_seed(group, "frame1_kept")])
    sizes = sd14_sizes(args.ranks)
    steps = f"{args.train_steps} steps" if args.train_steps else "the toy config's steps"
    text = "\n".join([
        f"Toy motion {args.motion} tuned on the built-in base (12 training videos, {steps} and learning rate, "
        f"training seeds {', '.join(map(str, args.seeds))}): to_q in full, saved at each precision, and to_q as a "
        f"peft LoRA of rank {', '.join(map(str, args.ranks))} (`to_q_rank`, tuned separately, saved in fp16). On the "
        f"built-in base, {args.videos} first frames of unseen content, generation seed {args.gen_seed}, {args.frames} "
        f"frames, {args.gen_steps} DDIM steps, guidance {args.guidance}. Mean ± std over videos; *per seed*: the mean "
        f"for each training seed.", "",
        markdown_table(["to_q", "dtype", "mode", "file size", "fidelity", "fidelity per seed", "frame 1 kept",
                        "frame 1 kept per seed"], table), "",
        "The same files' tensors at Stable Diffusion 1.4's architecture, fp16, counted: " + ", ".join(
            f"{variant_name(rank)} {size / 2**20:.1f} MiB" for rank, size in sizes.items()) + "."])
    print(text)
    if not args.no_docs:
        update_section("results.md", "motion-size", text)


if __name__ == "__main__":
    main()
