"""When is a motion learnt? The motion score per validation step, and best.safetensors against the last step.

For each toy set below and two training seeds, this script tunes the toy base with the
toy config (1000 steps) and ``validate_every`` 100: every validation step makes the toy
check's two videos of unseen content (colours and backgrounds the set lacks), which get
both the motion score (:mod:`lamp_motion.metrics.motion`, against the training clips)
and the toy tracker's scores. From these it reports

* the step at which each run's motion score saturates (the first validation step whose
  score is within ``SATURATION`` of the run's best), beside the toy fidelity at that step
  and at the end;
* the rank correlation (Spearman) of the motion score with the toy tracker's motion
  fidelity over every validation video of every run: generated videos, not rendered ones;
* whether the best-scored step's motion (``best.safetensors``) beats the last step's
  (``motion.safetensors``) on videos of new content (``VIDEOS`` rendered first frames,
  as shipped and raw): toy fidelity, frame-1 keeping and leakage.

Sets (``SETS``): ``varied`` is the toy benchmark's kind of set; the other three are sets of
one look made for this script (nothing was designed on them): a diagonal, a shrink and an
orbit. Every run is kept under ``--work`` and reused; ``--shard I/N`` runs every N-th one.

    python benchmarks/bench_motion_steps.py --work W --shard 0/2 & \
        python benchmarks/bench_motion_steps.py --work W --shard 1/2; \
        python benchmarks/bench_motion_steps.py --work W --report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import update_section  # noqa: E402
from bench_motion_score import spearman  # noqa: E402

from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.scene import ALL_BACKGROUNDS, COLOURS  # noqa: E402
from lamp_motion.data.toy.sets import background_names, first_frame, make_set  # noqa: E402
from lamp_motion.jobs.demo import toy_config  # noqa: E402
from lamp_motion.metrics.toy import palette_from_folder, score_video  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.training.checks import default_check  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import train  # noqa: E402

SETS = {
    "varied": dict(motion="move_right", num_videos=12, num_frames=24, colours=["blue", "green", "red", "yellow"], seed=0),
    "diag_pale": dict(motion="move_deg_135", num_videos=8, num_frames=16, colours=["red", "green", "blue"],
                      backgrounds="pale", texture="none", seed=41),
    "shrink_dark": dict(motion="shrink", num_videos=8, num_frames=16, colours=["yellow", "orange"],
                        backgrounds="dark", texture="none", seed=42),
    "orbit_pale": dict(motion="orbit", num_videos=8, num_frames=16, colours=["red", "blue"],
                       backgrounds="pale", texture="striped", seed=43),
}
TRAIN_SEEDS = (33, 34)
VALIDATE_EVERY = 100
VIDEOS = 6  # new-content videos per motion file in the best-against-last comparison
SATURATION = 0.05  # a step is saturated when its motion score is within this of the run's best
MODES = {"shipped": dict(adain=True, histogram_matching=True), "raw": dict(adain=False, histogram_matching=False)}
COMPARED = ("motion_fidelity", "frame1_kept", "leakage")


def set_folder(work: Path, name: str) -> Path:
    folder = work / "data" / name
    if not (folder / "set.json").is_file():
        make_set(out_dir=folder, **SETS[name])
    return folder


def new_content(name: str) -> list[dict]:
    """First frames the set lacks: alternately unseen colours on its backgrounds and its colours on unseen ones."""
    spec = SETS[name]
    motion = get_motion(spec["motion"])
    colours = spec.get("colours") or list(COLOURS)
    seen_bg = background_names(spec.get("backgrounds"))
    new_colours = [c for c in COLOURS if c not in colours]
    new_bg = [b for b in ALL_BACKGROUNDS if b not in seen_bg] or list(ALL_BACKGROUNDS)
    cases = []
    for i in range(VIDEOS):
        colour, background = ((new_colours[(i // 2) % len(new_colours)], seen_bg[(i // 2) % len(seen_bg)]) if i % 2 == 0
                              else (colours[(i // 2) % len(colours)], new_bg[(i // 2) % len(new_bg)]))
        image, clip = first_frame(spec["motion"], seed=9000 + i, shape=motion.shapes[i % len(motion.shapes)],
                                  colour=colour, background=background, texture=spec.get("texture", "mixed"))
        cases.append(dict(image=image, prompt=clip.caption))
    return cases


def run(work: Path, name: str, seed: int) -> dict:
    """Tune one (set, seed) with validation every VALIDATE_EVERY steps, then compare best with last; kept in work/runs/."""
    record_path = work / "runs" / f"{name}-seed{seed}.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    data, out = set_folder(work, name), work / "motions" / f"{name}-seed{seed}"
    config = load_config(TrainConfig, toy_config("move_right"), [f"data={data}", f"output_dir={out}", "overwrite=true"])
    config = replace(config, prompt=get_motion(SETS[name]["motion"]).prompt, seed=seed, num_frames=16,
                     validate_every=VALIDATE_EVERY)
    started = time.perf_counter()
    train(config, default_check(config))
    minutes = (time.perf_counter() - started) / 60
    history = json.loads((out / "scores.json").read_text())
    steps = []
    for row in history["steps"]:
        videos = json.loads((out / "validation" / f"step-{row['step']:06d}" / "scores.json").read_text())
        steps.append({"step": row["step"], "motion_score": row["motion_score"], "videos": list(videos.values())})
    palette = palette_from_folder(data)
    compared = {}
    for which in ("best", "motion"):
        pipe = LampPipeline.from_motion(str(out / f"{which}.safetensors"))
        rows = []
        for index, case in enumerate(new_content(name)):
            for mode, post in MODES.items():
                frames = pipe(case["prompt"], Image.fromarray(case["image"]), num_frames=16, height=32, width=32,
                              generator=index, progress=False, **post).frames[0]
                rows.append({"mode": mode, **score_video(frames, SETS[name]["motion"], palette=palette)})
        compared["last" if which == "motion" else "best"] = rows
    record = {"set": name, "seed": seed, "train_minutes": minutes, "threads": torch.get_num_threads(), "still_score": history["still_score"],
              "best_step": history["best"]["step"], "steps": steps, "compared": compared}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1))
    return record


def jobs() -> list[tuple[str, int]]:
    return [(name, seed) for seed in TRAIN_SEEDS for name in SETS]


def saturation_step(steps: list[dict]) -> int:
    best = max(s["motion_score"] for s in steps)
    return next(s["step"] for s in steps if s["motion_score"] >= best - SATURATION)


def mean_of(rows: list[dict], mode: str, key: str) -> float:
    return float(np.mean([r[key] for r in rows if r["mode"] == mode]))


def report(work: Path) -> str:
    records = [json.loads(p.read_text()) for p in sorted((work / "runs").glob("*.json"))]
    if not records:
        raise SystemExit(f"no runs under {work / 'runs'}; run the benchmark first")
    lines = [f"Toy base, toy config (1000 steps, 16 frames), validation every {VALIDATE_EVERY} steps (the toy "
             f"check's 2 videos of unseen content, 25 DDIM steps, as shipped); training seeds "
             f"{', '.join(map(str, TRAIN_SEEDS))}. Motion score: mean of a step's validation videos against the "
             f"training clips; *saturates*: first step within {SATURATION} of the run's best.", "",
             "| set | seed | still video | score at 100 | at 500 | best (step) | last | saturates at | "
             "toy fidelity there | toy fidelity at the end |", "|---|---|---|---|---|---|---|---|---|---|"]
    scores, fidelities = [], []
    for r in records:
        by_step = {s["step"]: s for s in r["steps"]}
        fid = {s["step"]: float(np.mean([v["motion_fidelity"] for v in s["videos"]])) for s in r["steps"]}
        sat, last = saturation_step(r["steps"]), r["steps"][-1]
        best = max(r["steps"], key=lambda s: s["motion_score"])
        lines.append(f"| {r['set']} | {r['seed']} | {r['still_score']:.2f} | {by_step[100]['motion_score']:.2f} | "
                     f"{by_step[500]['motion_score']:.2f} | {best['motion_score']:.2f} ({best['step']}) | "
                     f"{last['motion_score']:.2f} | {sat} | {fid[sat]:.2f} | {fid[last['step']]:.2f} |")
        for s in r["steps"]:
            for video in s["videos"]:
                scores.append(video["motion_score"])
                fidelities.append(video["motion_fidelity"])
    rho = spearman(np.array(scores), np.array(fidelities))
    lines += ["", f"Spearman rank correlation of the motion score with the toy tracker's motion fidelity over all "
              f"{len(scores)} validation videos (generated by the tuned models at every validation step): "
              f"**{rho:.3f}**.", "",
              f"Best-scored step (`best.safetensors`) against the last step (`motion.safetensors`) on {VIDEOS} "
              f"videos of new content per run (mean over runs; per run: best - last):", "",
              "| set | mode | " + " | ".join(f"{k} best / last" for k in COMPARED) + " | runs where best = last |",
              "|---|---|" + "---|" * (len(COMPARED) + 1)]
    for name in dict.fromkeys(r["set"] for r in records):
        runs = [r for r in records if r["set"] == name]
        same = sum(r["best_step"] == r["steps"][-1]["step"] for r in runs)
        for mode in MODES:
            cells = []
            for key in COMPARED:
                best = [mean_of(r["compared"]["best"], mode, key) for r in runs]
                last = [mean_of(r["compared"]["last"], mode, key) for r in runs]
                deltas = " / ".join(f"{b - a:+.2f}" for b, a in zip(best, last))
                cells.append(f"{np.mean(best):.2f} / {np.mean(last):.2f} ({deltas})")
            lines.append(f"| {name} | {mode} | " + " | ".join(cells) + f" | {same} of {len(runs)} |")
    threads = sorted({r.get("threads", 0) for r in records})
    lines += ["", f"Training took {np.mean([r['train_minutes'] for r in records]):.1f} min per run with its validation "
              f"steps ({'/'.join(map(str, threads))} torch thread(s) per run process)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("bench-motion-steps"))
    parser.add_argument("--shard", default="0/1", help="I/N: run every N-th job starting at I")
    parser.add_argument("--report", action="store_true", help="write the tables from the kept runs")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.report:
        text = report(args.work)
        print(text)
        if not args.no_docs:
            update_section("results.md", "motion-steps", text)
        return
    index, count = (int(part) for part in args.shard.split("/"))
    for name, seed in jobs()[index::count]:
        started = time.perf_counter()
        record = run(args.work, name, seed)
        print(f"{name} seed {seed}: best step {record['best_step']}, "
              f"{(time.perf_counter() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
