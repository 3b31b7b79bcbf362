"""Does frame 1 hold on a training set of one look? Candidates measured on sets like a user's.

A user's 8-16 clips of one motion usually share a look (few colours, one kind of
background). Tuned on such a set, a motion can learn the look along with the motion and
pull later frames towards it. For every set below and every candidate change, this
script tunes the toy base (the toy config's 1000 steps) with two training seeds, makes
videos of content the set does not have (unseen colours on the set's backgrounds, and
the set's colours on unseen backgrounds; first frames rendered, so each video has a
known ground truth) and scores them as shipped and with AdaIN and histogram matching
off (the raw model), with the toy metrics, leakage towards the set's palette included.

Sets (``SETS``): ``pale3``, ``one_colour`` and ``fast`` are the sets candidates were
chosen on; ``held_out`` (another direction, colours and background family) is scored
only to confirm a choice; ``varied`` is the existing benchmark's kind of set (all
base-model backgrounds, four colours) that must not get worse.

Every run is kept under ``--work`` (``runs/<set>-<candidate>-seed<k>.json``) and reused;
``--shard I/N`` runs every N-th job, so two one-thread processes can share two cores.
``--report`` writes the tables to docs/results.md (section ``frame1``).

    python benchmarks/bench_frame1.py --shard 0/2 & python benchmarks/bench_frame1.py --shard 1/2; \
        python benchmarks/bench_frame1.py --report
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

from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.scene import ALL_BACKGROUNDS, COLOURS  # noqa: E402
from lamp_motion.data.toy.sets import background_names, first_frame, make_set  # noqa: E402
from lamp_motion.jobs.demo import toy_config  # noqa: E402
from lamp_motion.metrics.toy import (
    palette_from_folder,  # noqa: E402
    score_video,  # noqa: E402
)
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import train  # noqa: E402

# Training sets: make_set arguments. The first three choose; held_out confirms; varied must not regress.
SETS = {
    "pale3": dict(motion="move_right", num_videos=8, num_frames=20, colours=["red", "green", "blue"],
                  backgrounds=["pale"], texture="none", seed=1),
    "one_colour": dict(motion="move_up", num_videos=8, num_frames=20, colours=["green"], backgrounds=["dark"],
                       texture="none", seed=2),
    "fast": dict(motion="move_right", num_videos=8, num_frames=16, colours=["red", "blue"], backgrounds=["pale"],
                 texture="striped", speed_scale=1.25, seed=3),
    "held_out": dict(motion="move_deg_225", num_videos=10, num_frames=20, colours=["yellow", "orange"],
                     backgrounds=["dark_green", "dark_brown", "navy"], texture="mixed", seed=4),
    "varied": dict(motion="move_right", num_videos=12, num_frames=24, colours=["blue", "green", "red", "yellow"],
                   seed=0),
}
# Training-config changes of each candidate.
CANDIDATES = {
    "baseline": {},
    "joint_groupnorm": {"groupnorm": "joint"},
    "colour_augment": {"colour_augment": 0.8},
    "noise_offset": {"noise_offset": 0.1},
    "joint_groupnorm+noise_offset": {"groupnorm": "joint", "noise_offset": 0.1},
}
TRAIN_SEEDS = (33, 34)
MODES = {"shipped": dict(adain=True, histogram_matching=True), "raw": dict(adain=False, histogram_matching=False)}
SCORES = ("motion_fidelity", "content_preservation", "leakage", "background_stability", "all_frames_found")


def set_folder(work: Path, name: str) -> Path:
    folder = work / "data" / name
    if not (folder / "set.json").is_file():
        make_set(out_dir=folder, **SETS[name])
    return folder


def unseen_cases(name: str, videos: int) -> list[dict]:
    """First-frame content of the evaluation: half unseen colours on the set's backgrounds, half its colours on unseen ones."""
    spec = SETS[name]
    motion = get_motion(spec["motion"])
    seen_bg = background_names(spec.get("backgrounds"))
    seen_colours = spec["colours"]
    new_colours = [c for c in COLOURS if c not in seen_colours]
    new_bg = [b for b in ALL_BACKGROUNDS if b not in seen_bg]
    texture = spec.get("texture", "mixed")
    cases = []
    for i in range(videos):
        shape = motion.shapes[i % len(motion.shapes)]
        if i % 2 == 0:
            colour, background, kind = new_colours[(i // 2) % len(new_colours)], seen_bg[(i // 2) % len(seen_bg)], "unseen colour"
        else:
            colour, background, kind = seen_colours[(i // 2) % len(seen_colours)], new_bg[(i // 2) % len(new_bg)], "unseen background"
        cases.append(dict(shape=shape, colour=colour, background=background, texture=texture, kind=kind))
    return cases


def run(work: Path, name: str, candidate: str, seed: int, videos: int, steps: int | None = None) -> dict:
    """Tune (unless done) and score one (set, candidate, seed); the record is kept in work/runs/."""
    record_path = work / "runs" / f"{name}-{candidate}-seed{seed}.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    spec = SETS[name]
    data = set_folder(work, name)
    out = work / "motions" / f"{name}-{candidate}-seed{seed}"
    motion_file = out / "motion.safetensors"
    config = load_config(TrainConfig, toy_config("move_right"), [f"data={data}", f"output_dir={out}"])
    config = replace(config, prompt=get_motion(spec["motion"]).prompt, seed=seed, num_frames=16, **CANDIDATES[candidate])
    config = replace(config, steps=steps) if steps else config
    started = time.perf_counter()
    if not motion_file.is_file():
        train(config)
    minutes = (time.perf_counter() - started) / 60
    palette = palette_from_folder(data)
    pipe = LampPipeline.from_motion(str(motion_file))
    rows = []
    for index, case in enumerate(unseen_cases(name, videos)):
        image, _ = first_frame(spec["motion"], seed=5000 + index, shape=case["shape"], colour=case["colour"],
                               background=case["background"], texture=case["texture"],
                               speed_scale=spec.get("speed_scale", 1.0))
        prompt = f"a {case['colour']} {case['shape']} {get_motion(spec['motion']).prompt}"
        for mode, settings in MODES.items():
            frames = pipe(prompt, Image.fromarray(image), num_frames=16, height=32, width=32, generator=index,
                          progress=False, **settings).frames[0]
            score = score_video(frames, spec["motion"], palette=palette)
            score["all_frames_found"] = float(score["object_found"] == 1.0)
            rows.append({"mode": mode, "index": index, **case, **score})
    record = {"set": name, "candidate": candidate, "seed": seed, "train_minutes": minutes, "videos": rows,
              "generation": pipe.generation}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1))
    return record


def jobs(sets: list[str], candidates: list[str]) -> list[tuple[str, str, int]]:
    """Most telling first: the choosing sets with the first candidates, then confirmation and regression sets."""
    order = []
    for seed in TRAIN_SEEDS:
        order += [(s, c, seed) for c in candidates for s in sets]
    return order


def seed_means(records: list[dict], mode: str, key: str) -> list[float]:
    return [float(np.mean([v[key] for v in r["videos"] if v["mode"] == mode])) for r in records]


def report(work: Path) -> str:
    records = [json.loads(p.read_text()) for p in sorted((work / "runs").glob("*.json"))]
    lines = ["Toy world: each set's motion tuned on the built-in base with the toy config (1000 steps, 16-frame "
             "windows) and two training seeds (33, 34); per run 8 videos of content the set lacks (4 of unseen "
             "colours on the set's backgrounds, 4 of the set's colours on unseen backgrounds), made with the "
             "motion file's settings (25 DDIM steps, guidance 4). Each cell: the mean over both seeds, then the two "
             "seeds' means in brackets; a difference between candidates smaller than the spread of the brackets is "
             "not a difference. *leakage*: 0 = later frames keep frame 1's colours, 1 = they take the training "
             "set's (lower is better). *all found*: share of videos with the object found in every frame. "
             "*raw*: AdaIN and histogram matching off.", ""]
    for name in SETS:
        rows = [r for r in records if r["set"] == name]
        if not rows:
            continue
        spec = SETS[name]
        lines += [f"### Set `{name}`: {spec['motion']}, {spec['num_videos']} clips, colours {', '.join(spec['colours'])}, "
                  f"backgrounds {', '.join(background_names(spec.get('backgrounds')))}", "",
                  "| candidate | mode | fidelity | preservation | leakage | background | all found | train min |",
                  "|---|---|---|---|---|---|---|---|"]
        for candidate in CANDIDATES:
            runs = sorted((r for r in rows if r["candidate"] == candidate), key=lambda r: r["seed"])
            if not runs:
                continue
            for mode in MODES:
                cells = []
                for key in SCORES:
                    means = seed_means(runs, mode, key)
                    cells.append(f"{np.mean(means):.2f} ({' / '.join(f'{m:.2f}' for m in means)})")
                minutes = np.mean([r["train_minutes"] for r in runs])
                lines.append(f"| {candidate} | {mode} | " + " | ".join(cells) + f" | {minutes:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-frame1"), help="folder for sets, motion files and runs")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--videos", type=int, default=8, help="evaluation videos per run (per mode)")
    parser.add_argument("--shard", default="0/1", help="I/N: run every N-th job starting at I")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="override the toy config's training steps (smoke runs)")
    parser.add_argument("--report", action="store_true", help="only write the tables of the runs done so far")
    parser.add_argument("--no-docs", action="store_true", help="print the tables without writing docs/results.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.report:
        index, count = (int(part) for part in args.shard.split("/"))
        for job in jobs(args.sets, args.candidates)[index::count]:
            record = run(args.work, *job, videos=args.videos, steps=args.steps)
            shipped = seed_means([record], "shipped", "content_preservation")[0]
            raw_leak = seed_means([record], "raw", "leakage")[0]
            print(f"{job}: preservation {shipped:.2f} shipped, leakage raw {raw_leak:.2f}, "
                  f"{record['train_minutes']:.1f} min", flush=True)
    text = report(args.work)
    print(text)
    if args.report and not args.no_docs:
        update_section("results.md", "frame1", text)


if __name__ == "__main__":
    main()
