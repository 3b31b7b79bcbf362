"""Toy-world motion metrics for `lamp eval`: which videos come from a toy motion, and their scores.

A video comes from a toy motion (:data:`lamp_motion.data.toy.motions.MOTIONS`, or a
translation at any angle, ``move_deg_<DEG>`` with the prompt "moves at DEG degrees")
when its prompt is a toy caption followed by the motion's prompt ("a red circle moves
right", as `lamp toy make-set` and `lamp demo` write them), or when the motion it was
made with was trained on that motion's prompt ("moves right"). Such videos get the
scores of :func:`lamp_motion.metrics.toy.score_video` (motion fidelity, content
preservation, background stability, temporal smoothness, object found; each in
``[0, 1]``, 1 best), per video and per toy motion, and ``leakage`` (0 = none, lower is
better) where the training videos are known (:func:`palette_from_folder`). They need
no learnt model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.toy.motions import DIRECTION_PREFIX, MOTIONS
from ..data.toy.scene import COLOURS, SHAPES
from ..video_io import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    frames_from_contact_sheet,  # noqa: F401 (its home was here)
    read_video,
)
from .toy import METRICS, TrainingPalette, palette_from_videos, score_video, summarise

LEAKAGE = "leakage"  # the score added where a video's training set is known
_CAPTION = rf"an? (?:{'|'.join(COLOURS)}) (?:{'|'.join(SHAPES)})\b.*"  # "a red circle", optionally more words
_ANGLED = r"moves at (-?\d+(?:\.\d+)?) degrees"  # the prompt of move_deg_<DEG>


def toy_motion_for(prompt: str, motion_prompt: str | None = None) -> str | None:
    """The toy motion a video of ``prompt``, made with a motion trained on ``motion_prompt``, shows; None if none."""
    if motion_prompt is not None:
        trained = _normalised(motion_prompt)
        for name, motion in MOTIONS.items():
            if trained == motion.prompt:
                return name
        angled = re.fullmatch(_ANGLED, trained)
        if angled:
            return f"{DIRECTION_PREFIX}{angled.group(1)}"
    text = _normalised(prompt)
    for name, motion in MOTIONS.items():
        if text == motion.prompt or re.fullmatch(rf"{_CAPTION} {re.escape(motion.prompt)}", text):
            return name
    angled = re.fullmatch(rf"(?:{_CAPTION} )?{_ANGLED}", text)
    return f"{DIRECTION_PREFIX}{angled.group(1)}" if angled else None


def palette_from_folder(folder: str | os.PathLike[str]) -> TrainingPalette:
    """The :class:`~lamp_motion.metrics.toy.TrainingPalette` of a folder of training videos.

    Any folder `lamp train` takes: video files (``VIDEO_SUFFIXES``) and subfolders of
    frame images; other files (captions, ``set.json``) and hidden entries are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"training set {folder} is not a folder; give the folder of videos the motion was trained on")
    videos = []
    for entry in sorted(folder.iterdir()):
        frame_folder = entry.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir())
        if not entry.name.startswith(".") and (entry.suffix.lower() in VIDEO_SUFFIXES or frame_folder):
            videos.append(read_video(entry)[0])
    if not videos:
        raise ValueError(f"training set {folder} holds no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders")
    return palette_from_videos(videos)


def toy_report(videos: Sequence[tuple[np.ndarray, str, str]], names: Sequence[str],
               palettes: Sequence[TrainingPalette | None] | None = None) -> dict:
    """Toy scores of ``(frames, prompt, toy motion)`` videos: per video, and mean/std/count per toy motion.

    ``palettes``: per video, the palette of its training set (adds ``leakage``) or None.
    """
    palettes = [None] * len(videos) if palettes is None else list(palettes)
    if len(names) != len(videos) or len(palettes) != len(videos):
        raise ValueError(f"got {len(names)} names and {len(palettes)} palettes for {len(videos)} videos")
    rows = []
    for (frames, prompt, motion), name, palette in zip(videos, names, palettes):
        if len(frames) < 4:
            raise ValueError(f"{name} has {len(frames)} frames; the toy motion metrics need at least 4")
        rows.append({"name": name, "toy_motion": motion, "prompt": prompt, **score_video(frames, motion, palette=palette)})
    metrics = [*METRICS, *([LEAKAGE] if any(LEAKAGE in row for row in rows) else [])]
    motions = {motion: summarise([{key: row[key] for key in metrics if key in row} for row in rows
                                  if row["toy_motion"] == motion])
               for motion in dict.fromkeys(row["toy_motion"] for row in rows)}
    return {"metrics": metrics, "motions": motions, "videos": rows}


def toy_report_to_markdown(report: dict) -> str:
    """The ``toy`` part of an eval report as two markdown tables (per toy motion, per video)."""
    metrics = report["metrics"]
    note = f"; {LEAKAGE}: 0-1, lower is better, n/a where the training set is unknown" if LEAKAGE in metrics else ""
    lines = [f"Toy-world motion metrics (0-1, higher is better{note}; per motion: mean ± std over its videos).", "",
             f"| toy motion | videos | {' | '.join(metrics)} |", "|---|---:|" + "---:|" * len(metrics)]
    for motion, summary in report["motions"].items():
        cells = [f"{summary[key]['mean']:.3f} ± {summary[key]['std']:.3f}" if key in summary else "n/a"
                 for key in metrics]
        lines.append(f"| {motion} | {int(summary[metrics[0]]['count'])} | {' | '.join(cells)} |")
    lines += ["", f"| video | toy motion | prompt | {' | '.join(metrics)} |", "|---|---|---|" + "---:|" * len(metrics)]
    for row in report["videos"]:
        cells = [f"{row[key]:.3f}" if key in row else "n/a" for key in metrics]
        lines.append(f"| {_cell(row['name'])} | {row['toy_motion']} | {_cell(row['prompt'])} | {' | '.join(cells)} |")
    lines += [f"\n{text}" for text in report.get("notes", [])]
    return "\n".join(lines) + "\n"


def _normalised(text: str) -> str:
    """Lower case, full stops as spaces (not decimal points: "22.5 degrees"), single spaces."""
    return " ".join(re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text.lower()).split())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
