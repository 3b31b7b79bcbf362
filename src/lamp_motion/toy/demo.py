"""`lamp demo`: the whole method on the toy world, through the commands a user runs.

1. render a motion set (content restricted to the training colours) as mp4 files;
2. `lamp train` with the motion's toy config and the data folder overridden;
3. `lamp generate` for content never seen in training (held-out colours), first
   frames both from the base text-to-image model and from rendered images;
4. score every generated video with the toy metrics (on the exact frames of its PNG
   contact sheet), leakage towards the training set's look included, and write a report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..metrics.toy_eval import frames_from_contact_sheet
from ..video_io import read_video
from .metrics import palette_from_videos, score_video, summarise
from .motions import get_motion
from .scene import COLOURS
from .sets import first_frame, make_set

HELD_OUT_COLOURS = ("purple", "orange")  # never in a demo training set: generation is on unseen content
TRAIN_COLOURS = tuple(c for c in sorted(COLOURS) if c not in HELD_OUT_COLOURS)
SCORES = ("motion_fidelity", "content_preservation", "background_stability", "temporal_smoothness", "object_found",
          "leakage")  # leakage: 0 = none, lower is better


def unseen_content(motion: str, index: int) -> tuple[str, str]:
    """Colour and shape of the ``index``-th generated video of ``motion``: held-out colours, the motion's shapes in turn."""
    shapes = get_motion(motion).shapes
    return HELD_OUT_COLOURS[index % len(HELD_OUT_COLOURS)], shapes[index % len(shapes)]


def toy_config(motion: str) -> Path:
    """The packaged training config of a toy motion."""
    path = Path(__file__).resolve().parent.parent / "configs" / "toy" / f"{motion}.yaml"
    if not path.is_file():
        get_motion(motion)  # raises with the list of motions for an unknown name
        raise FileNotFoundError(f"no toy config for {motion!r} at {path}")
    return path


def _cli(args: list[str]) -> None:
    from ..cli.main import main

    code = main(args)
    if code != 0:
        raise RuntimeError(f"`lamp {' '.join(args[:1])}` failed (exit {code}); see the error above")


def run_demo(out: Path, motion: str = "move_right", train_steps: int | None = None, videos: int = 4,
             gen_steps: int = 25, guidance: float = 4.0, num_train_videos: int = 12, seed: int = 0) -> Path:
    """Run the demo into ``out``; returns the report path."""
    if videos < 1 or (train_steps is not None and train_steps < 1):
        raise ValueError(f"--videos {videos}, --train-steps {train_steps}: both must be at least 1 (leave --train-steps "
                         "out for the toy config's steps)")
    prompt = get_motion(motion).prompt
    config = toy_config(motion)
    data = out / "data" / prompt.replace(" ", "_")
    print(f"[1/4] rendering {num_train_videos} training videos of {motion!r} ({prompt!r}) into {data}")
    if not data.exists():
        make_set(motion, data, num_videos=num_train_videos, num_frames=24, seed=seed, colours=TRAIN_COLOURS)

    print(f"[2/4] tuning the motion on the built-in toy base ({config})")
    overrides = [f"data={data}", f"output_dir={out / 'motion'}"] + ([f"steps={train_steps}"] if train_steps is not None else [])
    _cli(["train", str(config), *overrides])
    motion_file = out / "motion" / "motion.safetensors"

    print(f"[3/4] generating videos of unseen content ({', '.join(HELD_OUT_COLOURS)} objects)")
    generated = out / "videos"
    common = ["--motion", str(motion_file), "--out", str(generated), "--steps", str(gen_steps), "--guidance", str(guidance)]
    for index in range(videos):
        colour, shape = unseen_content(motion, index)
        image, _ = first_frame(motion, seed=1000 + index, colour=colour, shape=shape)
        image_path = out / "first_frames" / f"{colour}-{shape}-{index}.png"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(image_path)
        video_prompt = f"a {colour} {shape} {prompt}"
        _cli(["generate", *common, "--prompt", video_prompt, "--image", str(image_path), "--seed", str(index)])
        _cli(["generate", *common, "--prompt", video_prompt, "--image-prompt", f"a {colour} {shape}",
              "--seed", str(100 + index), "--t2i-steps", str(gen_steps), "--t2i-guidance", str(guidance)])

    print("[4/4] scoring the videos with the toy metrics")
    return write_report(out, motion, generated, data)


def write_report(out: Path, motion: str, generated: Path, data: Path) -> Path:
    """Score generated (and, as a sanity check, training) videos; write report.md and report.json.

    Generated videos are scored on the exact frames of their contact sheets (the GIF's
    palette and the mp4's compression shift the colours of small objects), with
    ``leakage`` towards the look of the training set in ``data``.
    """
    training = [read_video(path)[0] for path in sorted(data.glob("*.mp4"))]
    palette = palette_from_videos(training)
    rows = []
    for record_path in sorted(generated.glob("*.json")):
        record = json.loads(record_path.read_text())
        frames = frames_from_contact_sheet(record_path.parent / record["videos"]["sheet"], record["num_frames_written"],
                                           record["height"], record["width"])
        source = "rendered image" if record["first_frame"].startswith("image:") else "base model"
        rows.append({"video": record_path.stem, "first_frame": source, "prompt": record["prompt"],
                     **score_video(frames, motion, palette=palette)})
    truth = [score_video(frames, motion, palette=palette) for frames in training]
    summary = {source: summarise([{k: r[k] for k in SCORES} for r in rows if r["first_frame"] == source])
               for source in sorted({r["first_frame"] for r in rows})}
    summary["training videos (ground truth)"] = summarise([{k: s[k] for k in SCORES} for s in truth])
    (out / "report.json").write_text(json.dumps({"motion": motion, "videos": rows, "summary": summary}, indent=2))
    lines = [f"# LAMP toy demo: {motion!r}", "", "Scores in [0, 1] (see lamp_motion/toy/metrics.py), mean ± std; "
             "1 is best, except leakage (0 = no colour or background taken from the training set).", "",
             "| videos | n | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
    for name, stats in summary.items():
        cells = [f"{stats[k]['mean']:.2f} ± {stats[k]['std']:.2f}" for k in SCORES]
        lines.append(f"| {name} | {int(stats[SCORES[0]]['count'])} | " + " | ".join(cells) + " |")
    lines += ["", "| video | first frame | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
    lines += [f"| {r['video']} | {r['first_frame']} | " + " | ".join(f"{r[k]:.2f}" for k in SCORES) + " |" for r in rows]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6 + len(summary)]))
    print(f"report: {report}; videos: {generated}")
    return report


def mean_scores(report: Path) -> dict[str, float]:
    """Mean score of every metric over the generated videos of a demo report."""
    rows = json.loads(report.with_suffix(".json").read_text())["videos"]
    return {k: float(np.mean([r[k] for r in rows])) for k in SCORES}
