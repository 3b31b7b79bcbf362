"""A motion on a fine-tune of its base: its to_q change added (difference) vs its to_q put in (replacement).

The recipe: (1) a fine-tune of the built-in toy base in a shifted style, made by
``tools/build_toy_base.py --init-from <toy base> --texture strong`` (its UNet trained on
for ``--finetune-steps`` on stills whose backgrounds are all strongly striped, amplitude
0.9-1, where the base saw half of them striped at 0.2-0.8; VAE and text encoder kept: the
toy VAE reconstructs only the base's four background colours, so the style is a texture,
not a palette); (2) for each training seed, a toy motion tuned on the built-in base (a
default set) and the same motion tuned on the fine-tune (a set with strong stripes);
(3) videos on the fine-tune from first frames of unseen content (held-out colours) in the
fine-tune's style, for three variants:

- *difference*: the motion tuned on the built-in base, its to_q change added to the
  fine-tune's to_q (what a motion file does now);
- *replacement*: the same motion with its trained to_q put in place of the fine-tune's
  (what ``--allow-other-base`` did before, and still does for files holding to_q in full);
- *tuned on the fine-tune*: the motion tuned on the fine-tune itself (the ceiling).

Per video, as shipped (AdaIN, histogram matching) and raw (both off): the toy motion
fidelity, frame-1 keeping (``frame1_kept``: share of frames keeping frame 1's object hue
and background colour), and *texture kept*: how much of the fine-tune's style frames 2..N
keep, as the stripes' amplitude in their background (outside the object; least squares
on the stripe pattern) over the first frame's (1: kept, 0: a plain background). A first
line reports the stripe amplitude of text-to-image stills of the built-in base and of the
fine-tune, to show what the fine-tune learnt. Table: docs/results.md, section ``motion-delta``; rows in
``--work``/motion_delta.json.

    python benchmarks/bench_motion_delta.py                    # about 45 minutes on one thread
    python benchmarks/bench_motion_delta.py --quick --no-docs  # a smoke run (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402

from lamp_motion.builtin import builtin_base_path  # noqa: E402
from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.scene import SHAPES, TEXTURE_CONTRAST, stripes  # noqa: E402
from lamp_motion.data.toy.sets import first_frame, make_set  # noqa: E402
from lamp_motion.jobs.demo import TRAIN_COLOURS, toy_config, unseen_content  # noqa: E402
from lamp_motion.metrics.toy import score_video, track_object  # noqa: E402
from lamp_motion.models import LampMotionAdapter, VideoUNet  # noqa: E402
from lamp_motion.models.loading import load_base, load_base_unet  # noqa: E402
from lamp_motion.pipelines.first_frame import first_frames_from_base  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import train  # noqa: E402

MODES = {"shipped": dict(adain=True, histogram_matching=True), "raw": dict(adain=False, histogram_matching=False)}
VARIANTS = ("difference", "replacement", "tuned on the fine-tune")
STYLE = "strong"  # the fine-tune's background texture
BUILD_TOOL = Path(__file__).resolve().parent.parent / "tools" / "build_toy_base.py"


def fine_tune(work: Path, steps: int, batch: int, images: int, threads: int) -> tuple[Path, float | None]:
    """The fine-tune's folder (built unless there) and its build minutes (None: reused)."""
    out = work / f"toy-{STYLE}-texture-{steps}s"
    if (out / "model_index.json").is_file():
        return out, None
    started = time.perf_counter()
    subprocess.run([sys.executable, str(BUILD_TOOL), "--out", str(out), "--init-from", str(builtin_base_path()),
                    "--texture", STYLE, "--seed", "1", "--images", str(images), "--unet-steps", str(steps),
                    "--unet-batch", str(batch), "--unet-lr", "3e-4", "--warmup-steps", "50",
                    "--no-train-text-encoder", "--threads", str(threads)], check=True)
    return out, (time.perf_counter() - started) / 60


def tune(work: Path, motion: str, base: Path | None, texture: str, seed: int, steps: int | None,
         to_q_rank: int = 0) -> tuple[Path, float | None]:
    """A motion tuned on ``base`` (None: the built-in one) from a set with ``texture``, to_q in full (``to_q_rank``
    0) or as a LoRA of that rank; the motion file and its minutes (None: reused)."""
    name = f"{motion}-{'finetune' if base else 'base'}-seed{seed}" + (f"-{steps}s" if steps else "")
    name += f"-lora{to_q_rank}" if to_q_rank else ""
    motion_file = work / name / "motion.safetensors"
    if motion_file.is_file():
        return motion_file, None
    data = work / "data" / f"{motion}-{texture}-seed{seed}"
    if not data.exists():
        make_set(motion, data, num_videos=12, num_frames=24, seed=100 + seed, colours=TRAIN_COLOURS, texture=texture)
    overrides = [f"data={data}", f"output_dir={work / name}", "validate_every=0", f"seed={seed}", f"to_q_rank={to_q_rank}"]
    overrides += [f"base={base}"] if base else []
    config = load_config(TrainConfig, toy_config(motion), overrides)
    config = replace(config, **({"steps": steps} if steps else {}))
    started = time.perf_counter()
    train(config)
    return motion_file, (time.perf_counter() - started) / 60


def replacing(motion_file: Path) -> LampMotionAdapter:
    """The motion with its trained to_q in full (as files of earlier versions hold it): on another base it replaces."""
    adapter = LampMotionAdapter.from_pretrained(motion_file)
    video = VideoUNet.from_unet2d(load_base_unet(str(builtin_base_path())), adapter)
    return LampMotionAdapter.from_video_unet(video, base=adapter.config.base, base_weights="full")


def stripe_amplitude(frame: np.ndarray, background: np.ndarray) -> float:
    """The texture amplitude of ``frame`` ``(h, w, 3)`` over the pixels where ``background`` ``(h, w)`` is True."""
    h, w, _ = frame.shape
    pattern = stripes(h, w)[background].astype(np.float64)
    grey = frame.astype(np.float64).mean(axis=-1)[background]
    return float(((grey - grey.mean()) @ pattern) / (pattern @ pattern) / TEXTURE_CONTRAST)


def texture_kept(frames: np.ndarray, given: float) -> np.ndarray:
    """Per frame, its stripe amplitude outside the tracked object over ``given`` (the first frame's)."""
    track = track_object(frames)
    return np.array([stripe_amplitude(frame, ~region) for frame, region in zip(frames, track.region)]) / given


def stills_style(base: Path, count: int) -> tuple[float, float]:
    """Mean and std of the stripe amplitude (outside the object) of ``count`` text-to-image stills of ``base``."""
    model = load_base(str(base))
    prompts = [f"a {colour} {SHAPES[i % len(SHAPES)]}" for i, colour in enumerate(TRAIN_COLOURS * count)][:count]
    images = first_frames_from_base(model, prompts, list(range(count)), 32, 32, torch.device("cpu"), steps=25,
                                    guidance=4.0)
    amplitudes = []
    for image in images:
        pixels = np.asarray(image)
        amplitudes.append(stripe_amplitude(pixels, ~track_object(pixels[None]).region[0]))
    return float(np.mean(amplitudes)), float(np.std(amplitudes))


def measure(pipe: LampPipeline, motion: str, index: int, args: argparse.Namespace, mode: str,
            texture: str = STYLE) -> dict:
    """One video's figures, from the ``index``-th first frame of unseen content with a ``texture`` background."""
    colour, shape = unseen_content(motion, index)
    image, clip = first_frame(motion, seed=2000 + index, colour=colour, shape=shape, texture=texture)
    prompt = f"a {colour} {shape} {get_motion(motion).prompt}"
    video = pipe(prompt, Image.fromarray(image), num_frames=args.frames, height=32, width=32,
                 num_inference_steps=args.gen_steps, guidance_scale=args.guidance, generator=args.gen_seed,
                 progress=False, **MODES[mode]).frames[0]
    scores = score_video(video, motion, first_frame=image)
    return {"fidelity": scores["motion_fidelity"], "frame1_kept": scores["frame1_kept"],
            "texture_kept": float(np.nanmean(texture_kept(video, clip.start.texture)[1:])) if clip.start.texture else None}


def report(rows: list[dict], args: argparse.Namespace, stills: dict, minutes: dict) -> str:
    def cell(values: list[float]) -> str:
        values = np.array(values, dtype=np.float64)
        return f"{np.nanmean(values):.2f} ± {np.nanstd(values):.2f}"

    def per_seed(group: list[dict], key: str) -> str:
        return " / ".join(f"{np.nanmean([r[key] for r in group if r['seed'] == s]):.2f}" for s in args.seeds)

    header = ["variant", "mode", "fidelity", "fidelity per seed", "frame 1 kept", "frame 1 kept per seed",
              "texture kept (frames 2..N)", "texture kept per seed"]
    table = []
    for variant in VARIANTS:
        for mode in MODES:
            group = [r for r in rows if r["variant"] == variant and r["mode"] == mode]
            table.append([variant, mode, cell([r["fidelity"] for r in group]), per_seed(group, "fidelity"),
                          cell([r["frame1_kept"] for r in group]), per_seed(group, "frame1_kept"),
                          cell([r["texture_kept"] for r in group]), per_seed(group, "texture_kept")])
    steps = f"{args.train_steps} steps" if args.train_steps else "the toy config's steps"
    built = "reused" if minutes["finetune"] is None else f"built in {minutes['finetune']:.1f} min"
    text = [f"Toy motion {args.motion}: 12 training videos, {steps}, training seeds {', '.join(map(str, args.seeds))}. "
            f"Fine-tune of the built-in toy base: {args.finetune_steps} UNet steps at batch {args.finetune_batch} on "
            f"{args.finetune_images} stills whose backgrounds are all striped at amplitude 0.9-1 ({built}). On the "
            f"fine-tune, {args.videos} first frames of unseen content (held-out colours) in its style, generation seed "
            f"{args.gen_seed}, {args.frames} frames, {args.gen_steps} DDIM steps, guidance {args.guidance}. Stripe "
            f"amplitude of text-to-image stills ({stills['count']} each): built-in base {stills['base'][0]:.2f} ± "
            f"{stills['base'][1]:.2f}, fine-tune {stills['finetune'][0]:.2f} ± {stills['finetune'][1]:.2f}. "
            "*fidelity*: toy motion fidelity (0..1); *frame 1 kept*: share of frames keeping frame 1's object hue and "
            "background colour; *texture kept*: frames 2..N's stripe amplitude outside the object over the first "
            "frame's (1: the fine-tune's style kept, 0: plain). Mean ± std over videos; *per seed*: the mean for "
            "each training seed.", "", markdown_table(header, table)]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-motion-delta"), help="folder for the models and sets")
    parser.add_argument("--motion", default="move_left")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds")
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy config's steps")
    parser.add_argument("--finetune-steps", type=int, default=2000)
    parser.add_argument("--finetune-batch", type=int, default=32)
    parser.add_argument("--finetune-images", type=int, default=8192)
    parser.add_argument("--videos", type=int, default=6, help="first frames of unseen content")
    parser.add_argument("--gen-seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--gen-steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--stills", type=int, default=10, help="text-to-image stills per base for the style line")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, few videos, one seed")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/results.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_steps, args.finetune_steps, args.finetune_images = args.train_steps or 20, 40, 512
        args.videos, args.seeds, args.gen_steps, args.stills = 1, args.seeds[:1], 5, 2
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    finetuned, finetune_minutes = fine_tune(args.work, args.finetune_steps, args.finetune_batch, args.finetune_images,
                                            args.threads)
    stills = {"count": args.stills, "base": stills_style(builtin_base_path(), args.stills),
              "finetune": stills_style(finetuned, args.stills)}
    print(f"stripe amplitude of text-to-image stills: base {stills['base']}, fine-tune {stills['finetune']}", flush=True)
    rows, tuning = [], {}
    for seed in args.seeds:
        on_base, tuning[f"base-{seed}"] = tune(args.work, args.motion, None, "mixed", seed, args.train_steps)
        on_finetune, tuning[f"finetune-{seed}"] = tune(args.work, args.motion, finetuned, STYLE, seed, args.train_steps)
        motions = {"difference": LampMotionAdapter.from_pretrained(on_base), "replacement": replacing(on_base),
                   "tuned on the fine-tune": LampMotionAdapter.from_pretrained(on_finetune)}
        for variant, adapter in motions.items():
            pipe = LampPipeline.from_base(load_base(str(finetuned)), adapter, allow_other_base=True)
            pipe.set_progress_bar_config(disable=True)
            for mode in MODES:
                group = [{"variant": variant, "mode": mode, "seed": seed, "first_frame": index,
                          **measure(pipe, args.motion, index, args, mode)} for index in range(args.videos)]
                rows += group
                print(f"seed {seed} {variant:24s} {mode:8s}: " + ", ".join(
                    f"{key} {np.nanmean([r[key] for r in group]):.2f}" for key in ("fidelity", "frame1_kept", "texture_kept")),
                    flush=True)
    minutes = {"finetune": finetune_minutes, "tuning": tuning}
    (args.work / "motion_delta.json").write_text(json.dumps({"stills": stills, "minutes": minutes, "rows": rows}, indent=2))
    text = report(rows, args, stills, minutes)
    print(text)
    if not args.no_docs:
        update_section("results.md", "motion-delta", text)


if __name__ == "__main__":
    main()
