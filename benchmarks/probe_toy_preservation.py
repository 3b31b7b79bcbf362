"""Where a toy motion file loses the first frame's content: frame by frame, and why.

Generates the videos bench_toy.py's ``evaluate()`` generates (same content, seeds and
settings unless changed here) from one motion file, tracks the object in each and
compares every later frame with the video's own frame 1 under the toy metric's
tolerances (``lamp_motion.metrics.toy.preservation_checks``). Prints:

- fidelity and preservation (mean ± std), preservation by shape;
- what failed in the later frames: object lost, hue only, shape only, both;
- the share of videos failing at each frame index;
- for frames failing on elongation (``|c_2|``), the axis they stretch along.

A diagnostic, not a benchmark table: it writes nothing to docs. docs/results.md quotes
its output with the command that made it.

    python benchmarks/probe_toy_preservation.py bench-toy/move_right-full-12v/motion.safetensors
    python benchmarks/probe_toy_preservation.py MOTION_FILE --frames 8 --adain-start 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_toy import evaluation_video  # noqa: E402

from lamp_motion.data.toy.motions import MOTIONS  # noqa: E402
from lamp_motion.data.toy.sets import read_set  # noqa: E402
from lamp_motion.jobs.demo import unseen_content  # noqa: E402
from lamp_motion.metrics.toy import SHAPE_TOLERANCE, preservation_checks, score_video, track_object  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.pipelines.postprocess import AdaINSchedule  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("motion_file", type=Path)
    parser.add_argument("--motion", default="move_right", choices=sorted(MOTIONS), help="the toy motion it was tuned on")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gen-steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--shared-noise", type=float, default=0.2)
    parser.add_argument("--adain-start", type=float, default=None,
                        help="AdaINSchedule.start_fraction (default: the pipeline's schedule)")
    parser.add_argument("--training-set", type=Path, default=None,
                        help="generate from this set's own first frames and captions instead of unseen content")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.videos < 1 or args.frames < 4:
        parser.error("--videos must be at least 1 and --frames at least 4")
    torch.set_num_threads(args.threads)
    pipe = LampPipeline.from_motion(str(args.motion_file))
    pipe.set_progress_bar_config(disable=True)
    clips = [clip for _, clip in read_set(args.training_set)[1]] if args.training_set else None
    adain = True if args.adain_start is None else AdaINSchedule(start_fraction=args.adain_start)

    rows, causes = [], {"lost": 0, "hue only": 0, "shape only": 0, "both": 0, "kept": 0}
    failing = np.zeros(args.frames - 1)
    axes = []  # stretch axis (degrees, 0 = horizontal) of frames failing on |c_2|
    for index in range(args.videos):
        frames, image = evaluation_video(pipe, args.motion, index, args.seed, clips, gen_steps=args.gen_steps,
                                         guidance=args.guidance, shared_noise=args.shared_noise, adain=adain,
                                         num_frames=args.frames)
        track = track_object(frames)  # against the video's own frame 1, as the benchmark's *preservation*
        checks = preservation_checks(track)
        hue_bad, shape_bad = ~checks["hue"] & checks["found"], ~checks["shape"] & checks["found"]
        causes["lost"] += int((~checks["found"]).sum())
        causes["hue only"] += int((hue_bad & ~shape_bad).sum())
        causes["shape only"] += int((shape_bad & ~hue_bad).sum())
        causes["both"] += int((hue_bad & shape_bad).sum())
        kept = checks["hue"] & checks["shape"]
        causes["kept"] += int(kept.sum())
        failing += ~kept
        elongation = np.abs(track.descriptor[1:, 1] - track.descriptor[0, 1])
        for k in np.flatnonzero(checks["found"] & (elongation > SHAPE_TOLERANCE)):
            axes.append(np.degrees(np.angle(track.harmonics[k + 1, 1])) / 2)
        fidelity = score_video(frames, args.motion, first_frame=image)["motion_fidelity"]  # as the benchmark's
        preservation = float(kept.mean())  # = the benchmark's *preservation* (content_preservation)
        shape = clips[index % len(clips)].start.shape if clips else unseen_content(args.motion, index)[1]
        rows.append({"shape": shape, "fidelity": fidelity, "preservation": preservation})
        print(f"video {index:2d} {rows[-1]['shape']:8s} fidelity {fidelity:.2f} preservation {preservation:.2f}", flush=True)

    def mean_std(key: str, subset: list[dict]) -> str:
        values = np.array([r[key] for r in subset])
        return f"{values.mean():.2f} ± {values.std():.2f}"

    later = args.videos * (args.frames - 1)
    print(f"\n{args.videos} videos of {args.frames} frames: fidelity {mean_std('fidelity', rows)}, "
          f"preservation {mean_std('preservation', rows)}")
    for shape in dict.fromkeys(r["shape"] for r in rows):
        subset = [r for r in rows if r["shape"] == shape]
        print(f"  {shape}: preservation {mean_std('preservation', subset)} ({len(subset)} videos)")
    print(f"later frames ({later}): " + ", ".join(f"{name} {count} ({count / later:.0%})" for name, count in causes.items()))
    print("share of videos failing, frames 2.." + str(args.frames) + ": "
          + " ".join(f"{share:.2f}" for share in failing / args.videos))
    if axes:
        angles = np.abs(np.array(axes))
        print(f"frames past tolerance on |c_2|: {len(axes)}; stretched within 30 degrees of horizontal "
              f"{np.mean(angles <= 30):.0%}, within 30 degrees of vertical {np.mean(angles >= 60):.0%}")
    return {"rows": rows, "causes": causes, "failing": failing / args.videos, "axes": axes}


if __name__ == "__main__":
    main()
