"""Toy-world motion metrics for `lamp eval`: which videos come from a toy motion, and their scores.

A video comes from a toy motion (:data:`lamp_motion.toy.motions.MOTIONS`) when its
prompt is a toy caption followed by the motion's prompt ("a red circle moves right",
as `lamp toy make-set` and `lamp demo` write them), or when the motion it was made
with was trained on that motion's prompt ("moves right"). Such videos get the scores
of :func:`lamp_motion.toy.metrics.score_video` (motion fidelity, content preservation,
background stability, temporal smoothness, object found; each in ``[0, 1]``, 1 best),
per video and per toy motion. They need no learnt model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..toy.metrics import METRICS, score_video, summarise
from ..toy.motions import MOTIONS
from ..toy.scene import COLOURS, SHAPES

_CAPTION = rf"an? (?:{'|'.join(COLOURS)}) (?:{'|'.join(SHAPES)})\b.*"  # "a red circle", optionally more words


def toy_motion_for(prompt: str, motion_prompt: str | None = None) -> str | None:
    """The toy motion a video of ``prompt``, made with a motion trained on ``motion_prompt``, shows; None if none."""
    if motion_prompt is not None:
        trained = _normalised(motion_prompt)
        for name, motion in MOTIONS.items():
            if trained == motion.prompt:
                return name
    text = _normalised(prompt)
    for name, motion in MOTIONS.items():
        if text == motion.prompt or re.fullmatch(rf"{_CAPTION} {re.escape(motion.prompt)}", text):
            return name
    return None


def toy_report(videos: Sequence[tuple[np.ndarray, str, str]], names: Sequence[str]) -> dict:
    """Toy scores of ``(frames, prompt, toy motion)`` videos: per video, and mean/std/count per toy motion."""
    if len(names) != len(videos):
        raise ValueError(f"got {len(names)} names for {len(videos)} videos")
    rows = []
    for (frames, prompt, motion), name in zip(videos, names):
        if len(frames) < 4:
            raise ValueError(f"{name} has {len(frames)} frames; the toy motion metrics need at least 4")
        rows.append({"name": name, "toy_motion": motion, "prompt": prompt, **score_video(frames, motion)})
    motions = {motion: summarise([{key: row[key] for key in METRICS} for row in rows if row["toy_motion"] == motion])
               for motion in dict.fromkeys(row["toy_motion"] for row in rows)}
    return {"metrics": list(METRICS), "motions": motions, "videos": rows}


def toy_report_to_markdown(report: dict) -> str:
    """The ``toy`` part of an eval report as two markdown tables (per toy motion, per video)."""
    metrics = report["metrics"]
    lines = ["Toy-world motion metrics (0-1, higher is better; per motion: mean ± std over its videos).", "",
             f"| toy motion | videos | {' | '.join(metrics)} |", "|---|---:|" + "---:|" * len(metrics)]
    for motion, summary in report["motions"].items():
        cells = [f"{summary[key]['mean']:.3f} ± {summary[key]['std']:.3f}" for key in metrics]
        lines.append(f"| {motion} | {int(summary[metrics[0]]['count'])} | {' | '.join(cells)} |")
    lines += ["", f"| video | toy motion | prompt | {' | '.join(metrics)} |", "|---|---|---|" + "---:|" * len(metrics)]
    for row in report["videos"]:
        cells = [f"{row[key]:.3f}" for key in metrics]
        lines.append(f"| {_cell(row['name'])} | {row['toy_motion']} | {_cell(row['prompt'])} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _normalised(text: str) -> str:
    return " ".join(text.lower().replace(".", " ").split())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
