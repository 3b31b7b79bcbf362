"""Motion file size against toy fidelity and frame-1 keeping, for the precision the tensors are saved at.

Takes the toy motions that ``bench_motion_delta.py`` tuned on the built-in base (one per
training seed, reused from the same ``--work``; tuned here when missing), writes each as a
motion file in fp32, fp16 and bf16 (``save_motion_file(path, dtype)``, ``lamp train``'s
``motion_dtype``; the base's to_q as a difference), and generates on the built-in base
from first frames of unseen content, as shipped and raw: file size, toy motion fidelity
and frame-1 keeping. Table: docs/results.md, section ``motion-size``.

    python benchmarks/bench_motion_size.py --work bench-motion-delta   # about 10 minutes on one thread
    python benchmarks/bench_motion_size.py --quick --no-docs --work W  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402
from bench_motion_delta import MODES, measure, tune  # noqa: E402

from lamp_motion.builtin import builtin_base_path  # noqa: E402
from lamp_motion.models import LampMotionAdapter  # noqa: E402
from lamp_motion.models.loading import load_base  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402

DTYPES = ("fp32", "fp16", "bf16")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-motion-delta"), help="bench_motion_delta.py's folder")
    parser.add_argument("--motion", default="move_left")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds")
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
    rows = []
    for seed in args.seeds:
        motion_file, _ = tune(args.work, args.motion, None, "mixed", seed, args.train_steps)
        adapter = LampMotionAdapter.from_pretrained(motion_file, dtype=torch.float32)
        for dtype in DTYPES:
            path = adapter.save_motion_file(args.work / "size" / f"{args.motion}-seed{seed}-{dtype}.safetensors", dtype)
            pipe = LampPipeline.from_base(load_base(str(builtin_base_path())), str(path))
            pipe.set_progress_bar_config(disable=True)
            for mode in MODES:
                for index in range(args.videos):
                    rows.append({"dtype": dtype, "mode": mode, "seed": seed, "bytes": path.stat().st_size,
                                 **measure(pipe, args.motion, index, args, mode, texture="mixed")})
                group = [r for r in rows if (r["dtype"], r["mode"], r["seed"]) == (dtype, mode, seed)]
                print(f"seed {seed} {dtype} {mode:8s}: {path.stat().st_size / 1024:.0f} KiB, fidelity "
                      f"{np.mean([r['fidelity'] for r in group]):.2f}, frame 1 kept "
                      f"{np.mean([r['frame1_kept'] for r in group]):.2f}", flush=True)
    (args.work / "motion_size.json").write_text(json.dumps(rows, indent=2))

    def cell(values: list[float]) -> str:
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    def per_seed(group: list[dict], key: str) -> str:
        return " / ".join(f"{np.mean([r[key] for r in group if r['seed'] == s]):.2f}" for s in args.seeds)

    table = []
    for dtype in DTYPES:
        for mode in MODES:
            group = [r for r in rows if r["dtype"] == dtype and r["mode"] == mode]
            table.append([dtype, mode, f"{group[0]['bytes'] / 1024:.0f} KiB", cell([r["fidelity"] for r in group]),
                          per_seed(group, "fidelity"), cell([r["frame1_kept"] for r in group]),
                          per_seed(group, "frame1_kept")])
    steps = f"{args.train_steps} steps" if args.train_steps else "the toy config's steps"
    text = "\n".join([
        f"Toy motion {args.motion} tuned on the built-in base (12 training videos, {steps}, training seeds "
        f"{', '.join(map(str, args.seeds))}), saved at each precision; on the built-in base, {args.videos} first frames "
        f"of unseen content, generation seed {args.gen_seed}, {args.frames} frames, {args.gen_steps} DDIM steps, "
        f"guidance {args.guidance}. Mean ± std over videos; *per seed*: the mean for each training seed.", "",
        markdown_table(["dtype", "mode", "file size", "fidelity", "fidelity per seed", "frame 1 kept",
                        "frame 1 kept per seed"], table)])
    print(text)
    if not args.no_docs:
        update_section("results.md", "motion-size", text)


if __name__ == "__main__":
    main()
