"""The toy demo's pieces: its colours, its packaged configs, and its report.

The demo itself (render, tune, generate, score) is :func:`lamp_motion.jobs.demo.run_demo`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..video_io import frames_from_contact_sheet, read_video
from .metrics import palette_from_videos, score_video, summarise
from .motions import get_motion
from .scene import COLOURS

HELD_OUT_COLOURS = ("purple", "orange")  # never in a demo training set: generation is on unseen content
TRAIN_COLOURS = tuple(c for c in sorted(COLOURS) if c not in HELD_OUT_COLOURS)
SCORES = ("motion_fidelity", "content_preservation", "frame1_kept", "background_stability", "temporal_smoothness",
          "object_found", "leakage")  # leakage: 0 = none, lower is better
# The demo makes every video twice: as shipped, and raw (AdaIN and histogram matching off: what the tuned model keeps).
MODES = {"shipped": dict(adain=True, histogram_matching=True), "raw": dict(adain=False, histogram_matching=False)}


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


def write_report(out: Path, motion: str, generated: Path | dict[str, Path], data: Path, log=print) -> Path:
    """Score generated (and, as a sanity check, training) videos; write report.md and report.json.

    ``generated``: the folder of the videos, or ``{mode: folder}`` (the demo's ``shipped``
    and ``raw`` videos, see :data:`MODES`); every row and summary line names its mode.
    Generated videos are scored on the exact frames of their contact sheets (the GIF's
    palette and the mp4's compression shift the colours of small objects), with
    ``leakage`` towards the look of the training set in ``data``.
    """
    folders = generated if isinstance(generated, dict) else {"shipped": generated}
    training = [read_video(path)[0] for path in sorted(data.glob("*.mp4"))]
    palette = palette_from_videos(training)
    rows = []
    for mode, folder in folders.items():
        for record_path in sorted(Path(folder).glob("*.json")):
            record = json.loads(record_path.read_text())
            frames = frames_from_contact_sheet(record_path.parent / record["videos"]["sheet"],
                                               record["num_frames_written"], record["height"], record["width"])
            source = "rendered image" if record["first_frame"].startswith("image:") else "base model"
            rows.append({"video": record_path.stem, "first_frame": source, "mode": mode, "prompt": record["prompt"],
                         **score_video(frames, motion, palette=palette)})
    truth = [score_video(frames, motion, palette=palette) for frames in training]
    groups = dict.fromkeys((r["first_frame"], r["mode"]) for r in sorted(rows, key=lambda r: r["first_frame"]))
    summary = {f"{source}, {mode}": summarise([{k: r[k] for k in SCORES} for r in rows
                                               if (r["first_frame"], r["mode"]) == (source, mode)])
               for source, mode in groups}
    summary["training videos (ground truth)"] = summarise([{k: s[k] for k in SCORES} for s in truth])
    (out / "report.json").write_text(json.dumps({"motion": motion, "videos": rows, "summary": summary}, indent=2))
    lines = [f"# LAMP toy demo: {motion!r}", "", "Scores in [0, 1] (see lamp_motion/toy/metrics.py), mean ± std; "
             "1 is best, except leakage (0 = no colour or background taken from the training set). *shipped*: "
             "as `lamp generate` makes them; *raw*: the same videos with AdaIN and histogram matching off, "
             "what the tuned model itself keeps of frame 1.", "",
             "| videos | n | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
    for name, stats in summary.items():
        cells = [f"{stats[k]['mean']:.2f} ± {stats[k]['std']:.2f}" for k in SCORES]
        lines.append(f"| {name} | {int(stats[SCORES[0]]['count'])} | " + " | ".join(cells) + " |")
    lines += ["", "| video | first frame | mode | " + " | ".join(SCORES) + " |", "|---|---|---|" + "---|" * len(SCORES)]
    lines += [f"| {r['video']} | {r['first_frame']} | {r['mode']} | " + " | ".join(f"{r[k]:.2f}" for k in SCORES) + " |"
              for r in rows]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    if log is not None:
        log("\n".join(lines[:6 + len(summary)]))
        log(f"report: {report}; videos: {generated}")
    return report


def mean_scores(report: Path, mode: str = "shipped") -> dict[str, float]:
    """Mean score of every metric over the generated videos of a demo report made in ``mode``."""
    rows = [r for r in json.loads(report.with_suffix(".json").read_text())["videos"] if r.get("mode", "shipped") == mode]
    return {k: float(np.mean([r[k] for r in rows])) for k in SCORES}
