"""Does the motion score measure motion? Its agreement with the toy tracker's motion fidelity.

For each toy motion: six rendered training clips are the references; three clips of
new content (another seed) are scored in five versions: the ground truth, the same
content with another motion, a still video (frame 1 held), the motion reversed, and a
late start (frame 1 held for half the clip, then the first half of the motion). Each
video gets the new score (:func:`lamp_motion.metrics.motion.motion_score`, -1..1) and
the toy tracker's ``motion_fidelity`` (0..1). Prints per-version means and the Spearman
rank correlation of the two scores over all videos, and writes them to docs/results.md
(section ``motion-score``).

    python benchmarks/bench_motion_score.py             # about a minute on one core
    python benchmarks/bench_motion_score.py --no-docs
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _docs import markdown_table, update_section

from lamp_motion.data.toy.motions import render_clip
from lamp_motion.data.toy.sets import sample_clips
from lamp_motion.metrics.motion import motion_score, reference_tracks
from lamp_motion.metrics.toy import score_video

# motion -> the other motion its "other" videos show (a different direction or kind)
OTHER = {"move_right": "move_up", "move_up": "move_right", "diagonal": "move_left", "orbit": "move_down",
         "grow": "move_right", "shrink": "move_up", "rotate": "move_left", "bounce": "move_right"}
VERSIONS = ("truth", "other", "still", "reversed", "late_start")


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values))
    ranked[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranked[tied] = ranked[tied].mean()
    return ranked


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def versions(clip, frames: int) -> dict[str, np.ndarray]:
    truth = clip.render(frames)
    half = frames // 2
    return {"truth": truth, "other": render_clip(OTHER[clip.motion], clip.start, frames),
            "still": np.repeat(truth[:1], frames, axis=0), "reversed": truth[::-1].copy(),
            "late_start": np.concatenate([np.repeat(truth[:1], frames - half, axis=0), truth[1:half + 1]])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--references", type=int, default=6)
    parser.add_argument("--videos", type=int, default=3, help="new-content clips per motion")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    start = time.time()
    rows = []  # (motion, version, new score, toy fidelity)
    for motion in OTHER:
        refs = reference_tracks([c.render(args.frames) for c in sample_clips(motion, args.references, seed=1)])
        for clip in sample_clips(motion, args.videos, seed=7):
            for version, frames in versions(clip, args.frames).items():
                rows.append((motion, version, motion_score(frames, refs).score,
                             score_video(frames, motion)["motion_fidelity"]))
        print(f"{motion}: done ({time.time() - start:.0f} s)")
    scores, toy = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    table = [[motion, *(float(np.mean([r[2] for r in rows if r[0] == motion and r[1] == v])) for v in VERSIONS)]
             for motion in OTHER]
    table.append(["mean", *(float(np.mean([r[2] for r in rows if r[1] == v])) for v in VERSIONS)])
    toy_means = ["toy fidelity (mean)", *(float(np.mean([r[3] for r in rows if r[1] == v])) for v in VERSIONS)]
    lowest = sum(min(VERSIONS, key=lambda v: np.mean([r[2] for r in rows if r[0] == m and r[1] == v])) == "reversed"
                 for m in OTHER)
    text = "\n".join([
        f"Motion score (-1..1) of toy videos against {args.references} training clips of their motion, mean over "
        f"{args.videos} clips of new content per motion ({args.frames} frames, 32x32); the last row is the toy "
        f"tracker's motion fidelity (0..1) of the same videos.", "",
        markdown_table(["motion", *VERSIONS], table + [toy_means]), "",
        f"Spearman rank correlation with the toy tracker's motion fidelity over all {len(rows)} videos: "
        f"**{spearman(scores, toy):.3f}**; over the ground truth and late-start videos only (where the toy "
        f"fidelity is not all 0): {spearman(*[np.array([r[i] for r in rows if r[1] in ('truth', 'late_start')]) for i in (2, 3)]):.3f}. "
        f"Ground truth above every other version for {sum(max(VERSIONS, key=lambda v: np.mean([r[2] for r in rows if r[0] == m and r[1] == v])) == 'truth' for m in OTHER)} "
        f"of {len(OTHER)} motions; reversed lowest for {lowest} of {len(OTHER)}. {time.time() - start:.0f} s."])
    print(text)
    if not args.no_docs:
        update_section("results.md", "motion-score", text)


if __name__ == "__main__":
    main()
