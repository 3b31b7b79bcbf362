"""What the motion scale does: toy motion fidelity, speed and stillness at several scales.

Tunes one toy motion on the built-in toy base (reused when its motion file is in
``--work``), then generates videos of unseen content (held-out colours, first frames
rendered by the toy renderer) from ``--videos`` first frames and ``--seeds`` seeds at each
``--scales`` value, as shipped (AdaIN and histogram matching on) and raw (both off). Per
video it measures, from the toy metrics' tracker (lamp_motion.metrics.toy):

- fidelity: ``score_video``'s ``motion_fidelity`` (0..1);
- speed: the tracked object's displacement along the motion's direction per frame, in
  image sides, from frame 1 to the last frame where it is found (the rendered ground
  truth of the same first frames gives the learnt speed's target);
- median step: the median of its frame-to-frame displacements along the direction (pairs
  of frames where the object is found in both), less swayed by one jump than speed;
- still: the mean absolute pixel change of frames 2..N from frame 1 (0-255; 0 = a still video).

A last row, *layers off alone*, turns the motion layers off without the pipeline's still
anchor (scale 0's other half), to show why scale 0 needs it. The table goes to
docs/results.md (section ``motion-scale``) and ``--work``/motion_scale.json.

    python benchmarks/bench_motion_scale.py                    # about 10 minutes on one thread
    python benchmarks/bench_motion_scale.py --quick --no-docs  # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402

from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.sets import first_frame, make_set  # noqa: E402
from lamp_motion.jobs.demo import TRAIN_COLOURS, toy_config, unseen_content  # noqa: E402
from lamp_motion.metrics.toy import score_video, track_object  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import train  # noqa: E402

MODES = {"shipped": dict(adain=True, histogram_matching=True), "raw": dict(adain=False, histogram_matching=False)}
LAYERS_OFF = "layers off alone"  # the motion layers at 0 without the still anchor


def tune(work: Path, motion: str, num_videos: int, steps: int | None, seed: int,
         train_seed: int | None = None) -> tuple[Path, float | None]:
    """The motion file (trained unless already there) and its training minutes (None: reused).

    ``seed``: the training set's; ``train_seed``: the training run's (default: the toy config's)."""
    out = work / (f"{motion}-{num_videos}v" + (f"-{steps}s" if steps else "")
                  + (f"-seed{train_seed}" if train_seed is not None else ""))
    motion_file = out / "motion.safetensors"
    if motion_file.is_file():
        return motion_file, None
    data = work / "data" / f"{motion}-{num_videos}v"
    if not data.exists():
        make_set(motion, data, num_videos=num_videos, num_frames=24, seed=seed, colours=TRAIN_COLOURS)
    config = load_config(TrainConfig, toy_config(motion), [f"data={data}", f"output_dir={out}", "validate_every=0"])
    config = replace(config, **({"steps": steps} if steps else {}), **({"seed": train_seed} if train_seed is not None else {}))
    started = time.perf_counter()
    train(config)
    return motion_file, (time.perf_counter() - started) / 60


def speed(frames: np.ndarray, direction: tuple[float, float]) -> float:
    """Displacement along ``direction`` per frame (image sides) from frame 1 to the last frame the object is found in."""
    track = track_object(frames)
    found = np.flatnonzero(track.found)
    if len(found) < 2 or found[0] != 0:
        return float("nan")
    moved = track.centroid[found[-1]] - track.centroid[0]
    return float(moved @ np.array(direction) / found[-1])


def median_step(frames: np.ndarray, direction: tuple[float, float]) -> float:
    """The median displacement along ``direction`` between consecutive frames where the object is found in both
    (image sides): the steady speed of a motion, less swayed by one jump than :func:`speed`."""
    track = track_object(frames)
    both = track.found[1:] & track.found[:-1]
    if not both.any():
        return float("nan")
    steps = (track.centroid[1:] - track.centroid[:-1])[both] @ np.array(direction)
    return float(np.median(steps))


def still(frames: np.ndarray) -> float:
    """Mean absolute change (0-255) of frames 2..N from frame 1."""
    return float(np.abs(frames[1:].astype(np.float64) - frames[:1]).mean())


def measure(pipe: LampPipeline, motion: str, scale: float | str, index: int, seed: int, mode: str,
            frames: int, steps: int, guidance: float) -> dict:
    """One video's figures; ``scale`` a number, or LAYERS_OFF."""
    colour, shape = unseen_content(motion, index)
    image, _ = first_frame(motion, seed=1000 + index, colour=colour, shape=shape)
    prompt = f"a {colour} {shape} {get_motion(motion).prompt}"
    settings = dict(num_frames=frames, height=image.shape[0], width=image.shape[1], num_inference_steps=steps,
                    guidance_scale=guidance, generator=seed, progress=False, **MODES[mode])
    if scale == LAYERS_OFF:
        # The pipeline would set the layers' scale itself (and add its still anchor below 1): keep it out.
        pipe.unet.motion_scaled = lambda _: contextlib.nullcontext()
        pipe.unet.set_motion_scale(0.0)
        try:
            video = pipe(prompt, Image.fromarray(image), **settings).frames[0]
        finally:
            del pipe.unet.motion_scaled
            pipe.unet.set_motion_scale(1.0)
    else:
        video = pipe(prompt, Image.fromarray(image), motion_scale=scale, **settings).frames[0]
    return {"scale": scale, "mode": mode, "first_frame": index, "seed": seed,
            "fidelity": score_video(video, motion)["motion_fidelity"],
            "speed": speed(video, get_motion(motion).direction),
            "median_step": median_step(video, get_motion(motion).direction), "still": still(video)}


def ground_truth_speed(motion: str, videos: int, frames: int) -> float:
    """Mean speed of the rendered clips that the first frames begin."""
    values = []
    for index in range(videos):
        colour, shape = unseen_content(motion, index)
        _, clip = first_frame(motion, seed=1000 + index, colour=colour, shape=shape)
        values.append(speed(np.stack(clip.render(frames)), get_motion(motion).direction))
    return float(np.nanmean(values))


def report(rows: list[dict], args: argparse.Namespace, truth: float, minutes: float | None) -> str:
    def cell(values: list[float], digits: int) -> str:
        values = np.array(values, dtype=np.float64)
        return f"{np.nanmean(values):.{digits}f} ± {np.nanstd(values):.{digits}f}"

    def per_seed(values_of, digits: int) -> str:
        return " / ".join(f"{np.nanmean(values_of(seed)):.{digits}f}" for seed in args.seeds)

    header = ["scale", "mode", "fidelity", "fidelity per seed", "speed", "speed per seed", "median step",
              "still (0-255)"]
    table = []
    for scale in [*args.scales, LAYERS_OFF]:
        for mode in MODES:
            group = [r for r in rows if r["scale"] == scale and r["mode"] == mode]
            if not group:
                continue
            pick = lambda key, seed=None: [r[key] for r in group if seed is None or r["seed"] == seed]  # noqa: E731
            table.append([f"{scale:g}" if scale != LAYERS_OFF else LAYERS_OFF, mode, cell(pick("fidelity"), 2),
                          per_seed(lambda s: pick("fidelity", s), 2), cell(pick("speed"), 4),
                          per_seed(lambda s: pick("speed", s), 4), cell(pick("median_step"), 4),
                          cell(pick("still"), 2)])
    trained = f"tuned for {minutes:.1f} min" if minutes is not None else "reused"
    steps = f"{args.train_steps} steps" if args.train_steps else "the toy config's steps"
    text = [f"Toy motion {args.motion} ({args.train_videos} training videos, {steps}, {trained}), built-in toy base; {args.videos} first frames of unseen content x seeds "
            f"{', '.join(map(str, args.seeds))} per row, {args.frames} frames, {args.gen_steps} DDIM steps, guidance "
            f"{args.guidance}. *fidelity*: toy motion fidelity (0..1); *speed*: displacement of the tracked object "
            f"along the motion per frame, image sides (the rendered ground truth of these first frames: "
            f"{truth:.4f}); *median step*: the median frame-to-frame displacement along the motion (frames where "
            f"the object is found in both), less swayed by one jump than *speed*; *per seed*: the mean over the first frames for each seed; *still*: mean absolute pixel "
            f"change of frames 2..N from frame 1. Mean ± std over videos. *{LAYERS_OFF}*: the motion layers at 0 "
            "without the pipeline's still anchor.", "", markdown_table(header, table)]
    return "\n".join(text)


def add_video_arguments(parser: argparse.ArgumentParser, videos: int, seeds: list[int]) -> None:
    """The generation flags of the toy benchmarks: first frames, seeds, frames, DDIM steps, guidance, threads."""
    parser.add_argument("--videos", type=int, default=videos, help="first frames of unseen content")
    parser.add_argument("--seeds", nargs="+", type=int, default=seeds)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--gen-steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-motion-scale"), help="folder for the set and motion file")
    parser.add_argument("--motion", default="move_right", help="a toy translation (its speed is measured along it)")
    parser.add_argument("--train-videos", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy config's steps")
    parser.add_argument("--scales", nargs="+", type=float, default=[0.0, 0.5, 1.0, 1.5])
    add_video_arguments(parser, videos=4, seeds=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, one first frame and seed")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/results.md")
    args = parser.parse_args(argv)
    if get_motion(args.motion).direction is None:
        parser.error(f"--motion {args.motion} is not a translation; its speed along a direction cannot be measured")
    if args.quick:
        args.train_steps, args.videos, args.seeds, args.gen_steps = args.train_steps or 20, 1, args.seeds[:1], 5
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    motion_file, minutes = tune(args.work, args.motion, args.train_videos, args.train_steps, seed=0)
    pipe = LampPipeline.from_motion(str(motion_file))
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for scale in [*args.scales, LAYERS_OFF]:
        for mode in MODES:
            for seed in args.seeds:
                for index in range(args.videos):
                    rows.append(measure(pipe, args.motion, scale, index, seed, mode, args.frames, args.gen_steps,
                                        args.guidance))
            group = [r for r in rows if r["scale"] == scale and r["mode"] == mode]
            print(f"scale {scale} {mode:8s}: fidelity {np.mean([r['fidelity'] for r in group]):.2f}, speed "
                  f"{np.nanmean([r['speed'] for r in group]):+.4f}, still {np.mean([r['still'] for r in group]):.2f}",
                  flush=True)
    truth = ground_truth_speed(args.motion, args.videos, args.frames)
    (args.work / "motion_scale.json").write_text(json.dumps({"ground_truth_speed": truth, "rows": rows}, indent=2))
    text = report(rows, args, truth, minutes)
    print(text)
    if not args.no_docs:
        update_section("results.md", "motion-scale", text)


if __name__ == "__main__":
    main()
