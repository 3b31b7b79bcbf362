"""Where is the limit on frame 1? Ceilings and candidate fixes, raw and shipped, on fresh sets of one look.

Issue 22: tuned on 8 clips of one look, the raw model (AdaIN and histogram matching
off) paints the base's and the set's look over frame 1 from frame 2 on. Each row of
this benchmark is a way of making and scoring videos with the same video architecture
and the same evaluation; the gaps between rows locate the limit:

- ``few_shot``: the motion tuned on the set (the toy config, 1000 steps), videos of
  content the set lacks (unseen colours on its backgrounds, its colours on unseen
  backgrounds; the object placed so that its whole path stays in frame);
- ``own_frames``: the same motion file, videos from its own training clips' first
  frames (content it has seen);
- ``many_shot``: the same architecture and steps tuned on 240 rendered clips of the
  motion with every colour and background (data is not the limit), the ``few_shot``
  videos' first frames;
- ``vae_truth``: the ground-truth clips of those first frames through the VAE (the
  best any latent model can score; no training, no seeds);
- candidate rows (``CANDIDATES``): ``few_shot`` with a training change.

Scores (toy tracker, frames 2..16 against frame 1): *kept* (``frame1_kept``: object
colour and background both kept), *fidelity*, *preservation* (hue and shape),
*leakage* (towards the set's look; lower is better), *background* (pixel share kept).
Every run is kept under ``--work`` (``runs/<set>-<row>-seed<k>.json``) and reused;
``--shard I/N`` runs every N-th job, so two one-thread processes can share two cores;
``--report`` writes the table to docs/results.md (section ``frame1-ceilings``).

    python benchmarks/bench_frame1_ceilings.py --shard 0/2 & python benchmarks/bench_frame1_ceilings.py --shard 1/2; \
        wait; python benchmarks/bench_frame1_ceilings.py --report
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
from bench_frame1 import seed_means  # noqa: E402

from lamp_motion.builtin import resolve_base  # noqa: E402
from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.scene import ALL_BACKGROUNDS, COLOURS  # noqa: E402
from lamp_motion.data.toy.sets import background_names, first_frame, make_set, read_set  # noqa: E402
from lamp_motion.jobs.demo import toy_config  # noqa: E402
from lamp_motion.metrics.toy import palette_from_folder, score_video  # noqa: E402
from lamp_motion.models.loading import load_base  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import train  # noqa: E402

# Fresh sets of one look, none used to design anything before (issue 22's kind: 8 clips of 16 frames,
# 3 colours on plain pale backgrounds, a diagonal translation, two speeds).
SETS = {
    "diag_up": dict(motion="move_deg_45", num_videos=8, num_frames=16, colours=["red", "green", "blue"],
                    backgrounds="pale", texture="none", seed=21),
    "diag_down_slow": dict(motion="move_deg_320", num_videos=8, num_frames=16, colours=["red", "green", "blue"],
                           backgrounds="pale", texture="none", speed_scale=0.7, seed=22),
}
MANY_SHOT_VIDEOS = 240
ROWS = ("few_shot", "own_frames", "many_shot", "vae_truth")
# Training changes measured as candidates (rows named after them, scored like few_shot), as
# "name": {TrainConfig field: value}; docs/experiments.md, *Where frame 1 is lost*, says what each did.
CANDIDATES: dict[str, dict] = {"colour_augment": {"colour_augment": 0.8}}
TRAIN_SEEDS = (33, 34, 35)
MODES = {"shipped": dict(adain=True, histogram_matching=True, frame_init=False),
         "raw": dict(adain=False, histogram_matching=False, frame_init=False),
         "shipped+frame_init": dict(adain=True, histogram_matching=True, frame_init=True),
         "raw+frame_init": dict(adain=False, histogram_matching=False, frame_init=True)}
SCORES = ("frame1_kept", "motion_fidelity", "content_preservation", "leakage", "background_stability")
HEADERS = ("kept", "fidelity", "preservation", "leakage", "background")


def set_folder(work: Path, name: str, many_shot: bool = False) -> Path:
    folder = work / "data" / (f"{name}-many" if many_shot else name)
    if not (folder / "set.json").is_file():
        spec = dict(SETS[name])
        if many_shot:
            spec.update(num_videos=MANY_SHOT_VIDEOS, colours=None, backgrounds=list(ALL_BACKGROUNDS), texture="mixed")
        make_set(out_dir=folder, **spec)
    return folder


def unseen_cases(name: str, videos: int) -> list[dict]:
    """Half unseen colours on the set's backgrounds, half the set's colours on unseen backgrounds."""
    spec = SETS[name]
    motion = get_motion(spec["motion"])
    seen_bg = background_names(spec.get("backgrounds"))
    new_colours = [c for c in COLOURS if c not in spec["colours"]]
    new_bg = [b for b in ALL_BACKGROUNDS if b not in seen_bg]
    cases = []
    for i in range(videos):
        colour, background = ((new_colours[(i // 2) % len(new_colours)], seen_bg[(i // 2) % len(seen_bg)]) if i % 2 == 0
                              else (spec["colours"][(i // 2) % len(spec["colours"])], new_bg[(i // 2) % len(new_bg)]))
        image, clip = first_frame(spec["motion"], seed=7000 + i, shape=motion.shapes[i % len(motion.shapes)],
                                  colour=colour, background=background, texture=spec.get("texture", "mixed"),
                                  speed_scale=spec.get("speed_scale", 1.0))
        cases.append(dict(image=image, clip=clip, prompt=clip.caption))
    return cases


def own_cases(work: Path, name: str) -> list[dict]:
    """The set's own training clips: first frame and caption of each."""
    _, videos = read_set(set_folder(work, name))
    return [dict(image=clip.render(16)[0], clip=clip, prompt=clip.caption) for _, clip in videos]


def tuned_motion(work: Path, name: str, row: str, seed: int, base: str | None = None) -> tuple[Path, float]:
    """The motion file of a training row (tuned unless done) and the minutes its tuning took."""
    trained_as = "few_shot" if row == "own_frames" else row
    out = work / "motions" / f"{name}-{trained_as}-seed{seed}"
    motion_file = out / "motion.safetensors"
    data = set_folder(work, name, many_shot=trained_as == "many_shot")
    config = load_config(TrainConfig, toy_config("move_right"), [f"data={data}", f"output_dir={out}"])
    config = replace(config, prompt=get_motion(SETS[name]["motion"]).prompt, seed=seed, num_frames=16,
                     validate_every=0, base=base, **CANDIDATES.get(row, {}))
    started = time.perf_counter()
    if not motion_file.is_file():
        train(config)
    return motion_file, (time.perf_counter() - started) / 60


def score(frames: np.ndarray, name: str, palette) -> dict:
    return score_video(frames, SETS[name]["motion"], palette=palette)


def run(work: Path, name: str, row: str, seed: int, videos: int, base: str | None = None,
        modes: tuple[str, ...] = tuple(MODES)) -> dict:
    """Make and score one (set, row, seed) on ``base`` (None: the built-in one) in ``modes``; kept in work/runs/."""
    record_path = work / "runs" / f"{name}-{row}-seed{seed}.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else None
    if record is not None and {v["mode"] for v in record["videos"]} >= set(modes):
        return record
    palette = palette_from_folder(set_folder(work, name))
    cases = own_cases(work, name) if row == "own_frames" else unseen_cases(name, videos)
    rows, minutes, generation = [], 0.0, None
    done = set() if record is None else {v["mode"] for v in record["videos"]}  # modes added since a record was made
    if record is not None:
        rows, minutes = record["videos"], record["train_minutes"]
    if row == "vae_truth":
        rows = []
        pipe = LampPipeline.from_base(load_base(resolve_base(base)))
        for index, case in enumerate(cases):
            truth = case["clip"].render(16)  # (f, h, w, 3) uint8
            pixels = torch.from_numpy(truth).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (f, 3, h, w)
            latents = pipe.encode_images(pixels).permute(1, 0, 2, 3)[None]  # (1, c, f, h, w)
            frames = pipe.decode_latents(latents)[0]
            for mode in modes:  # nothing to post-process: both modes are the same video
                rows.append({"mode": mode, "index": index, **score(frames, name, palette)})
    else:
        motion_file, tuning = tuned_motion(work, name, row, seed, base)
        minutes = minutes or tuning
        pipe = LampPipeline.from_motion(str(motion_file))
        generation = pipe.generation
        for index, case in enumerate(cases):
            for mode, settings in ((m, MODES[m]) for m in modes if m not in done):
                frames = pipe(case["prompt"], Image.fromarray(case["image"]), num_frames=16, height=32, width=32,
                              generator=index, progress=False, **settings).frames[0]
                rows.append({"mode": mode, "index": index, "prompt": case["prompt"], **score(frames, name, palette)})
    record = {"set": name, "row": row, "seed": seed, "train_minutes": minutes, "videos": rows, "generation": generation}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1))
    return record


def all_rows() -> list[str]:
    return [*ROWS, *CANDIDATES]


def jobs(sets: list[str], rows: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    order = []
    for seed in seeds:
        order += [(s, r, seed) for r in rows for s in sets if not (r == "vae_truth" and seed != TRAIN_SEEDS[0])]
    return order


def report(work: Path, base: str | None = None) -> str:
    records = [json.loads(p.read_text()) for p in sorted((work / "runs").glob("*.json"))]
    where = "built-in base" if base is None else f"base `{Path(base).name}`"
    lines = [f"Toy world, {where}; fresh sets of one look (8 clips of 16 frames, colours red, green, blue on "
             "plain pale backgrounds): `diag_up` (45 degrees, normal speed) and `diag_down_slow` (320 degrees, 0.7x "
             "speed). Training: the toy config (1000 steps, lr 1e-3), seeds 33, 34, 35; 8 videos per run "
             "(own_frames: the set's 8 clips), 16 frames, the motion file's settings (25 DDIM steps, guidance 4). "
             "Each cell: the mean over seeds, then each seed's mean in brackets. *raw*: AdaIN and histogram "
             "matching off. *+frame_init*: later frames start from frame 1's mean colour noised to the first step "
             "(`frame_init`). *kept*: share of frames 2..16 that keep frame 1's object colour and background.", ""]
    for name, spec in SETS.items():
        lines += [f"### `{name}`: {spec['motion']}, speed x{spec.get('speed_scale', 1.0)}", "",
                  "| row | mode | " + " | ".join(HEADERS) + " | train min |", "|---|---|" + "---|" * (len(HEADERS) + 1)]
        for row in all_rows():
            runs = sorted((r for r in records if r["set"] == name and r["row"] == row), key=lambda r: r["seed"])
            if not runs:
                continue
            for mode in MODES if row != "vae_truth" else ("raw",):
                if not any(v["mode"] == mode for r in runs for v in r["videos"]):
                    continue
                cells = []
                for key in SCORES:
                    means = seed_means(runs, mode, key)
                    spread = f" ({' / '.join(f'{m:.2f}' for m in means)})" if len(means) > 1 else ""
                    cells.append(f"{np.mean(means):.2f}{spread}")
                minutes = np.mean([r["train_minutes"] for r in runs])
                label = "truth" if row == "vae_truth" else mode
                lines.append(f"| {row} | {label} | " + " | ".join(cells) + f" | {minutes:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-frame1-ceilings"), help="folder for sets, motions, runs")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--rows", nargs="+", default=all_rows(), choices=all_rows())
    parser.add_argument("--seeds", nargs="+", type=int, default=list(TRAIN_SEEDS), help="training seeds, in order")
    parser.add_argument("--videos", type=int, default=8, help="evaluation videos per run (per mode)")
    parser.add_argument("--base", default=None, help="base to tune and sample on (default: the built-in toy base)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES), help="modes to make and score")
    parser.add_argument("--section", default="frame1-ceilings", help="section of docs/results.md that --report writes")
    parser.add_argument("--shard", default="0/1", help="I/N: run every N-th job starting at I")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only write the table of the runs done so far")
    parser.add_argument("--no-docs", action="store_true", help="print the table without writing docs/results.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.report:
        index, count = (int(part) for part in args.shard.split("/"))
        for job in jobs(args.sets, args.rows, args.seeds)[index::count]:
            record = run(args.work, *job, videos=args.videos, base=args.base, modes=tuple(args.modes))
            kept = ", ".join(f"{mode} {seed_means([record], mode, 'frame1_kept')[0]:.2f}" for mode in args.modes)
            print(f"{job}: kept {kept}, {record['train_minutes']:.1f} min", flush=True)
    text = report(args.work, args.base)
    print(text)
    if args.report and not args.no_docs:
        update_section("results.md", args.section, text)


if __name__ == "__main__":
    main()
