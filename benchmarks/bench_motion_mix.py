"""Two motions at once (models/mixing.py) on the toy world: where the mixed motion goes.

For each pair of toy motions (default: move_right + move_up, grow + move_right) and each
training seed, tunes both motions on the built-in toy base (reused from ``--work``, as
``bench_motion_scale.py`` tunes them), then generates videos of unseen content from the
first motion's first frames with: each motion alone, the pair mixed at weights 1 + 1, and
at 0.5 + 0.5, as shipped (AdaIN and histogram matching on) and raw (both off). Per video,
from the toy tracker (lamp_motion.metrics.toy):

- velocity: the tracked object's displacement per frame (x right, y up; image sides), from
  frame 1 to the last frame where it is found; *direction*: its angle in degrees (0 right,
  90 up); *growth*: log of the object's area change per frame;
- fidelity to each motion of the pair: ``score_video``'s ``motion_fidelity`` against it.

The table goes to docs/results.md (section ``motion-mix``) and ``--work``/motion_mix.json.

    python benchmarks/bench_motion_mix.py                    # about 40 minutes on one thread
    python benchmarks/bench_motion_mix.py --quick --no-docs  # a smoke run
    python benchmarks/bench_motion_mix.py --report           # the table again from --work's rows
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402
from bench_motion_scale import MODES, add_video_arguments, tune  # noqa: E402

from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.sets import first_frame  # noqa: E402
from lamp_motion.jobs.demo import unseen_content  # noqa: E402
from lamp_motion.metrics.toy import score_video, track_object  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402

PAIRS = ["move_right+move_up", "grow+move_right"]


def motion_of(video: np.ndarray) -> dict:
    """Velocity (x right, y up, image sides per frame), direction (degrees) and growth (log area per frame)."""
    track = track_object(video)
    found = np.flatnonzero(track.found)
    if len(found) < 2 or found[0] != 0:
        return {"vx": math.nan, "vy": math.nan, "direction": math.nan, "growth": math.nan}
    last = found[-1]
    dx, dy = (track.centroid[last] - track.centroid[0]) / last
    growth = math.log(max(track.area[last], 1e-6) / max(track.area[0], 1e-6)) / last
    return {"vx": float(dx), "vy": float(-dy), "direction": math.degrees(math.atan2(-dy, dx)), "growth": growth}


def variants(a: Path, b: Path) -> dict[str, tuple[list[Path], list[float] | None]]:
    return {"A alone": ([a], None), "B alone": ([b], None), "A + B (1, 1)": ([a, b], [1.0, 1.0]),
            "A + B (0.5, 0.5)": ([a, b], [0.5, 0.5])}


def run_pair(args: argparse.Namespace, pair: str, train_seed: int) -> list[dict]:
    names = pair.split("+")
    files = [tune(args.work, name, args.train_videos, args.train_steps, seed=0, train_seed=train_seed)[0]
             for name in names]
    rows = []
    for variant, (motions, weights) in variants(*files).items():
        pipe = LampPipeline.from_motion([str(m) for m in motions], motion_weights=weights)
        pipe.set_progress_bar_config(disable=True)
        used = [names[files.index(m)] for m in motions]
        for index in range(args.videos):
            colour, shape = unseen_content(names[0], index)
            image, _ = first_frame(names[0], seed=1000 + index, colour=colour, shape=shape)
            prompt = f"a {colour} {shape} " + " and ".join(get_motion(name).prompt for name in used)
            for seed in args.seeds:
                for mode, post in MODES.items():
                    video = pipe(prompt, Image.fromarray(image), num_frames=args.frames, height=image.shape[0],
                                 width=image.shape[1], num_inference_steps=args.gen_steps,
                                 guidance_scale=args.guidance, generator=seed, progress=False, **post).frames[0]
                    rows.append({"pair": pair, "train_seed": train_seed, "variant": variant, "mode": mode,
                                 "first_frame": index, "seed": seed, **motion_of(video),
                                 **{f"fidelity_{k}": score_video(video, name)["motion_fidelity"]
                                    for k, name in zip("AB", names)}})
        group = [r for r in rows if r["variant"] == variant]
        print(f"{pair} seed {train_seed} {variant}: direction {np.nanmean([r['direction'] for r in group]):.0f}, "
              f"fidelity A {np.mean([r['fidelity_A'] for r in group]):.2f} B "
              f"{np.mean([r['fidelity_B'] for r in group]):.2f}", flush=True)
        del pipe
    return rows


def report(rows: list[dict], args: argparse.Namespace) -> str:
    def cell(values, digits: int) -> str:
        values = np.array(values, dtype=np.float64)
        return f"{np.nanmean(values):.{digits}f} ± {np.nanstd(values):.{digits}f}"

    header = ["pair", "variant", "mode", "velocity x / y", "direction (deg)", "direction per training seed",
              "growth", "fidelity to A", "fidelity to B"]
    table = []
    for pair in args.pairs:
        for variant in variants(Path("a"), Path("b")):
            for mode in MODES:
                group = [r for r in rows if (r["pair"], r["variant"], r["mode"]) == (pair, variant, mode)]
                if not group:
                    continue
                pick = lambda key, seed=None: [r[key] for r in group if seed is None or r["train_seed"] == seed]  # noqa: E731
                per_seed = " / ".join(f"{np.nanmean(pick('direction', s)):.0f}" for s in args.train_seeds)
                table.append([pair.replace("+", " + "), variant, mode,
                              f"{np.nanmean(pick('vx')):+.4f} / {np.nanmean(pick('vy')):+.4f}",
                              cell(pick("direction"), 0), per_seed, cell(pick("growth"), 4),
                              cell(pick("fidelity_A"), 2), cell(pick("fidelity_B"), 2)])
    steps = f"{args.train_steps} steps" if args.train_steps else "the toy config's steps"
    text = [f"Toy motions tuned on the built-in toy base ({args.train_videos} training videos, {steps}, training "
            f"seeds {', '.join(map(str, args.train_seeds))}); per row {args.videos} first frames of unseen content "
            f"(the first motion's) x seeds {', '.join(map(str, args.seeds))} x both training seeds, {args.frames} "
            f"frames, {args.gen_steps} DDIM steps, guidance {args.guidance}. A and B: the pair's first and second "
            f"motion; mixes: both motions' branches added at the weights given, the prompt naming both. *velocity*: "
            f"the tracked object's displacement per frame (x right, y up; image sides); *direction*: its angle (0 "
            f"right, 90 up); *growth*: log area change per frame. Mean ± std over videos.", "",
            markdown_table(header, table)]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-motion-mix"), help="folder for the sets and motions")
    parser.add_argument("--pairs", nargs="+", default=PAIRS, help="pairs of toy motions, A+B")
    parser.add_argument("--train-videos", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy config's steps")
    parser.add_argument("--train-seeds", nargs="+", type=int, default=[33, 34])
    add_video_arguments(parser, videos=2, seeds=[0, 1])
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, one first frame, seed and pair")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/results.md")
    parser.add_argument("--report", action="store_true", help="only report the rows already in --work/motion_mix.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_steps, args.videos, args.seeds, args.gen_steps = args.train_steps or 20, 1, args.seeds[:1], 5
        args.pairs, args.train_seeds = args.pairs[:1], args.train_seeds[:1]
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.report:
        rows = json.loads((args.work / "motion_mix.json").read_text())
    else:
        rows = [row for pair in args.pairs for seed in args.train_seeds for row in run_pair(args, pair, seed)]
        (args.work / "motion_mix.json").write_text(json.dumps(rows, indent=2))
    text = report(rows, args)
    print(text)
    if not args.no_docs:
        update_section("results.md", "motion-mix", text)


if __name__ == "__main__":
    main()
