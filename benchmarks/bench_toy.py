"""Does LAMP learn a motion and keep the content? The toy world's objective answer.

For each experiment: render a motion set (training colours only), tune the built-in toy
base on it, generate videos of unseen content (held-out colours, first frames rendered
by the toy renderer, so every video has a known ground truth), and score every video
with the toy metrics (lamp_motion/toy/metrics.py). Experiments:

- ``full``: the full method on several motions;
- the paper's ablations (Fig. 5) on a few motions: ``no_ffc`` (frame 1 noised and in the
  loss), ``no_motion_conv``, ``centred_conv``, ``no_shared_noise`` (generation only),
  ``no_temporal_attention``, ``no_first_frame_attention``;
- ``videos=K``: the full method with 4, 8 and 16 training videos;
- training steps: the full method with 3000 steps beside the config's;
- generation settings on one full motion file: guidance off or higher, more shared
  noise, more DDIM steps, without AdaIN, without histogram matching;
- where the limit on preservation is (beyond the paper): the ground-truth videos
  through the VAE (the most a model decoding through it can keep), the full motion
  file on its own training videos, and tunings with another learning rate or schedule
  or with more of the UNet trained (all of attn1, every weight).

Motion files are kept under ``--work`` and reused when the same experiment is run again
(delete the folder to retrain). Results go to docs/results.md (section ``toy-results``)
and to ``--work``/results.json.

    python benchmarks/bench_toy.py                      # everything (about two and a half hours on 2 cores)
    python benchmarks/bench_toy.py --quick --no-docs    # a smoke run
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
from _docs import markdown_table, update_section  # noqa: E402

from lamp_motion.config_io import load_config  # noqa: E402
from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.scene import SHAPES  # noqa: E402
from lamp_motion.data.toy.sets import first_frame, make_set, read_set  # noqa: E402
from lamp_motion.jobs.demo import HELD_OUT_COLOURS, TRAIN_COLOURS, toy_config, unseen_content  # noqa: E402
from lamp_motion.metrics.toy import score_video  # noqa: E402
from lamp_motion.pipelines.images import image_to_tensor  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.pipelines.postprocess import AdaINSchedule  # noqa: E402
from lamp_motion.training.config import TrainConfig  # noqa: E402
from lamp_motion.training.trainer import train  # noqa: E402

# Training-config changes of each ablation (no_shared_noise changes generation only).
ABLATIONS = {
    "full": {},
    "no_ffc": {"first_frame_conditioning": False},
    "no_motion_conv": {"motion_conv": False},
    "centred_conv": {"conv_mode": "centred"},
    "no_shared_noise": {},
    "no_temporal_attention": {"temporal_attention": False},
    "no_first_frame_attention": {"first_frame_attention": False},
}
# Generation settings compared on the --count-motion's full motion file: changes to evaluate()'s arguments.
GENERATION_VARIANTS = {
    "guidance 1 (off)": {"guidance": 1.0},
    "guidance 7.5": {"guidance": 7.5},
    "shared noise 0.5": {"shared_noise": 0.5},
    "50 DDIM steps": {"gen_steps": 50},
    "no AdaIN": {"adain": False},
    "no histogram matching": {"histogram_matching": False},
}
# What the paper's Fig. 5 / Sec. 4.4 reports when each part is removed.
PAPER_SAYS = {
    "no_ffc": "content drifts from frame 1 (worse preservation)",
    "no_motion_conv": "weaker, less coherent motion",
    "centred_conv": "worse motion than the causal (video-prediction) conv",
    "no_shared_noise": "less consistent frames (worse preservation / smoothness)",
    "no_temporal_attention": "worse temporal consistency",
    "no_first_frame_attention": "content and background drift from frame 1",
}
# Beyond the paper: training changes that could lift preservation (same data, seed and steps).
TRAINING_VARIANTS = {
    "lr_cosine": {"lr_scheduler": "cosine"},
    "lr_3e-4": {"learning_rate": 3e-4},
    "train_attn1": {"train_layers": "attn1"},
    "train_unet": {"train_layers": "unet", "learning_rate": 3e-4},  # 1e-3 on every base weight is too much
}
# The rows of the "where the limit is" group: the training variants and two evaluation-only rows.
LIMIT_VARIANTS = {
    "ground_truth_vae": "ground truth through the VAE (no model)",
    "training_content": "the full row's motion file on its own training videos",
    "lr_cosine": "cosine learning-rate decay to 0",
    "lr_3e-4": "learning rate 3e-4 instead of 1e-3",
    "train_attn1": "trains all of attn1 (q, k, v, out), not just to_q",
    "train_unet": "trains every UNet weight (learning rate 3e-4)",
}
TRANSLATIONS = ("move_right", "move_left", "move_up", "move_down", "diagonal")


def tune(work: Path, motion: str, variant: str, num_videos: int, steps: int | None,
         seed: int) -> tuple[Path, float, int]:
    """The motion file of one experiment (trained unless already there), its training minutes and steps."""
    name = f"{motion}-{variant}-{num_videos}v" + (f"-{steps}s" if steps else "")
    out = work / name
    motion_file = out / "motion.safetensors"
    record = out / "bench.json"
    if motion_file.is_file() and record.is_file():
        saved = json.loads(record.read_text())
        return motion_file, saved["train_minutes"], saved["steps"]
    data = work / "data" / f"{motion}-{num_videos}v"
    if not data.exists():
        make_set(motion, data, num_videos=num_videos, num_frames=24, seed=seed, colours=TRAIN_COLOURS)
    config = load_config(TrainConfig, toy_config(motion), [f"data={data}", f"output_dir={out}"])
    config = replace(config, **{**ABLATIONS, **TRAINING_VARIANTS}[variant], **({"steps": steps} if steps else {}))
    started = time.perf_counter()
    train(config)
    minutes = (time.perf_counter() - started) / 60
    record.write_text(json.dumps({"train_minutes": minutes, "steps": config.steps}))
    return motion_file, minutes, config.steps


def evaluate(motion_file: Path, motion: str, videos: int, seed: int, training_set: Path | None = None,
             **settings) -> list[dict[str, float]]:
    """Generate ``videos`` videos of unseen content and score each against its rendered first frame.

    ``training_set``: generate from its videos' own first frames and captions instead
    (video ``i`` from clip ``i`` modulo the set's size). ``settings``: those of
    :func:`evaluation_video`.
    """
    pipe = LampPipeline.from_motion(str(motion_file))
    pipe.set_progress_bar_config(disable=True)
    clips = [clip for _, clip in read_set(training_set)[1]] if training_set else []
    scores = []
    for index in range(videos):
        frames, image = evaluation_video(pipe, motion, index, seed, clips, **settings)
        score = score_video(frames, motion, first_frame=image)
        # Preservation against the video's own frame 1 (the decoded first-frame latent the
        # model was given) and the ceiling the toy VAE alone sets on preservation against
        # the rendered image: a still video of the image's VAE round trip.
        score["preservation_vs_frame1"] = score_video(frames, motion)["content_preservation"]
        still = np.repeat(vae_round_trip(pipe, image)[None], len(frames), axis=0)
        score["vae_ceiling"] = score_video(still, motion, first_frame=image)["content_preservation"]
        scores.append(score)
    return scores


def evaluation_video(pipe: LampPipeline, motion: str, index: int, seed: int, clips: list | None = None,
                     gen_steps: int = 25, guidance: float = 4.0, shared_noise: float = 0.2,
                     adain: AdaINSchedule | bool = True, histogram_matching: bool = True, ground_truth: bool = False,
                     num_frames: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Video ``index`` of an evaluation ``(f, h, w, 3)`` and the image it starts from ``(h, w, 3)``, uint8.

    Unseen content (:func:`unseen_content`, start drawn from ``seed + 1000 + index``),
    or, given ``clips``, clip ``index`` modulo their number with its own caption.
    ``ground_truth``: instead of generating, the content's rendered ground truth with
    every frame passed through the VAE (encoded and decoded as a first frame is).
    """
    colour, shape = unseen_content(motion, index)
    image, clip = first_frame(motion, seed=seed + 1000 + index, colour=colour, shape=shape)
    prompt = f"a {colour} {shape} {get_motion(motion).prompt}"
    if clips:
        clip = clips[index % len(clips)]
        image, prompt = clip.render(num_frames)[0], clip.caption
    if ground_truth:
        return np.stack([vae_round_trip(pipe, frame) for frame in clip.render(num_frames)]), image
    frames = pipe(prompt, Image.fromarray(image), num_frames=num_frames, height=32, width=32,
                  num_inference_steps=gen_steps, guidance_scale=guidance, generator=seed + index,
                  shared_noise_alpha=shared_noise, adain=adain, histogram_matching=histogram_matching,
                  progress=False).frames[0]
    return frames, image


def vae_round_trip(pipe: LampPipeline, image: np.ndarray) -> np.ndarray:
    """``image`` (h, w, 3) uint8 encoded as the pipeline encodes a first frame, then decoded."""
    latent = pipe.encode_images(image_to_tensor(Image.fromarray(image)))  # (1, c, h/f, w/f)
    return pipe.decode_latents(latent[:, :, None])[0, 0]


def stats(scores: list[dict[str, float]], key: str) -> str:
    values = np.array([s[key] for s in scores])
    return f"{values.mean():.2f} ± {values.std():.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-toy"), help="folder for sets, motion files and results")
    parser.add_argument("--motions", nargs="+", default=["move_right", "grow", "move_up", "orbit"])
    parser.add_argument("--ablation-motions", nargs="*", default=["move_right", "grow"])
    parser.add_argument("--counts", nargs="*", type=int, default=[4, 8, 16], help="training-set sizes to compare")
    parser.add_argument("--count-motion", default="move_right")
    parser.add_argument("--train-videos", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=None, help="override the toy configs' steps")
    parser.add_argument("--compare-steps", nargs="*", type=int, default=[3000],
                        help="training steps to compare with the config's, on --count-motion")
    parser.add_argument("--videos", type=int, default=16, help="generated videos per experiment")
    parser.add_argument("--gen-steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--shared-noise", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generation-variants", nargs="*", default=list(GENERATION_VARIANTS),
                        help="generation settings to compare on --count-motion's full motion file")
    parser.add_argument("--limit-variants", nargs="*", default=list(LIMIT_VARIANTS),
                        help="rows of the 'where the limit is' group, on --count-motion")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: the toy models are too small to gain from more, and a loaded "
                             "shared machine can stall with 2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one motion, few steps and videos")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/results.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.motions, args.ablation_motions, args.counts, args.compare_steps = args.motions[:1], [], [], []
        args.generation_variants, args.limit_variants = [], []
        args.train_steps, args.videos, args.gen_steps = args.train_steps or 20, 2, 5
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)

    # Most telling first, so that a run stopped early still answers the main questions.
    steps = args.train_steps
    full = [(m, "full", args.train_videos, steps) for m in args.motions]
    ablations = [[(m, v, args.train_videos, steps) for v in ABLATIONS] for m in args.ablation_motions]
    counts = [(args.count_motion, "full", k, steps) for k in args.counts]
    longer = [(args.count_motion, "full", args.train_videos, k) for k in args.compare_steps]
    unknown = set(args.generation_variants) - set(GENERATION_VARIANTS)
    if unknown:
        parser.error(f"unknown --generation-variants {sorted(unknown)}; choose from {list(GENERATION_VARIANTS)}")
    settings = [(args.count_motion, v, args.train_videos, steps) for v in args.generation_variants]
    unknown = set(args.limit_variants) - set(LIMIT_VARIANTS)
    if unknown:
        parser.error(f"unknown --limit-variants {sorted(unknown)}; choose from {list(LIMIT_VARIANTS)}")
    limits = [(args.count_motion, v, args.train_videos, steps) for v in args.limit_variants]
    experiments = (full[:2] + (ablations[0] if ablations else []) + counts + longer + sum(ablations[1:], [])
                   + full[2:] + settings + limits)
    # Rows of an earlier (stopped, or split) run in the same --work folder with the same
    # generation settings are kept rather than generated again.
    saved = args.work / "results.json"
    earlier = json.loads(saved.read_text()) if saved.is_file() else []
    kept = {_key(r): r for r in earlier if r.get("generation") == generation_settings(args)}
    results = []
    for motion, variant, count, override in dict.fromkeys(experiments):  # in order, without repeats
        row = kept.get((motion, variant, count, override)) or experiment(args, motion, variant, count, override)
        results.append(row)
        done = {_key(r) for r in results}
        saved.write_text(json.dumps(results + [r for r in earlier if _key(r) not in done], indent=2))
        if not args.no_docs:  # after every experiment, so a stopped run still leaves its figures
            update_section("results.md", "toy-results", report(results, args))


def experiment(args: argparse.Namespace, motion: str, variant: str, count: int, override: int | None) -> dict:
    """Tune (unless the motion file is there) and evaluate one experiment; its results row."""
    trained = variant in TRAINING_VARIANTS or (variant in ABLATIONS and variant != "no_shared_noise")
    motion_file, minutes, trained_steps = tune(args.work, motion, variant if trained else "full", count, override, args.seed)
    settings = {"gen_steps": args.gen_steps, "guidance": args.guidance,
                "shared_noise": 0.0 if variant == "no_shared_noise" else args.shared_noise,
                **GENERATION_VARIANTS.get(variant, {})}
    if variant == "training_content":
        settings["training_set"] = args.work / "data" / f"{motion}-{count}v"
    if variant == "ground_truth_vae":  # the motion file only lends its pipeline's VAE
        settings["ground_truth"], minutes = True, 0.0
    started = time.perf_counter()
    scores = evaluate(motion_file, motion, args.videos, seed=args.seed, **settings)
    print(f"{motion:12s} {variant:26s} {count:2d} videos: fidelity {stats(scores, 'motion_fidelity')}, "
          f"preservation {stats(scores, 'preservation_vs_frame1')} (vs image "
          f"{stats(scores, 'content_preservation')}), train {minutes:.1f} min", flush=True)
    return {"motion": motion, "variant": variant, "train_videos": count, "steps_override": override,
            "train_steps": trained_steps, "train_minutes": minutes, "generation": generation_settings(args),
            "generate_seconds_per_video": (time.perf_counter() - started) / args.videos, "scores": scores}


def generation_settings(args: argparse.Namespace) -> dict:
    return {"videos": args.videos, "gen_steps": args.gen_steps, "guidance": args.guidance,
            "shared_noise": args.shared_noise, "seed": args.seed}


def report(results: list[dict], args: argparse.Namespace) -> str:
    """Markdown tables of the experiment groups."""
    def cells(row: dict) -> list[object]:
        s = row["scores"]
        return [stats(s, "motion_fidelity"), stats(s, "preservation_vs_frame1"), stats(s, "content_preservation"),
                stats(s, "vae_ceiling"), stats(s, "background_stability"), stats(s, "temporal_smoothness"),
                f"{row['train_minutes']:.1f}"]

    header = ["fidelity", "preservation", "vs image", "VAE ceiling", "background", "smoothness", "train min"]
    steps = args.train_steps or "the toy config's"
    text = [f"Toy world, built-in base, {steps} training steps on {args.train_videos} videos "
            f"(training colours only), {args.videos} generated videos per row on held-out colours "
            f"({', '.join(HELD_OUT_COLOURS)}), {args.gen_steps} DDIM steps, guidance {args.guidance}, "
            f"shared noise {args.shared_noise}. Scores in [0, 1], mean ± std over videos. "
            "*preservation*: against the video's own frame 1 (the decoded first-frame latent the model "
            "is given); *vs image*: against the rendered first frame; *VAE ceiling*: what a still video "
            "of the rendered frame's round trip through the toy VAE scores against it: about the best "
            "*vs image* a model decoding through this VAE can reach.", "",
            "### Full method", ""]
    same = [r for r in results if r.get("steps_override") == args.train_steps]
    full = [r for r in same if r["variant"] == "full" and r["train_videos"] == args.train_videos]
    text.append(markdown_table(["motion", *header], [[r["motion"], *cells(r)] for r in full]))
    if full:
        shapes = sorted({unseen_content(r["motion"], i)[1] for r in full for i in range(len(r["scores"]))}, key=SHAPES.index)
        text += ["", "### Preservation by shape (full method)", "",
                 "The full rows above split by the first frame's shape: *preservation* / *VAE ceiling*, each the "
                 "mean over the videos of that shape (their count in brackets).", ""]
        text.append(markdown_table(["motion", *shapes], [[r["motion"], *_by_shape(r, shapes)] for r in full]))
    ablations = [r for r in same if r["motion"] in args.ablation_motions and r["train_videos"] == args.train_videos
                 and r["variant"] in ABLATIONS]
    if args.ablation_motions:
        text += ["", "### Ablations", ""]
        text.append(markdown_table(["motion", "variant", *header, "paper (Fig. 5) says"],
                                   [[r["motion"], r["variant"], *cells(r), PAPER_SAYS.get(r["variant"], "")]
                                    for r in ablations]))
    counts = [r for r in same if r["motion"] == args.count_motion and r["variant"] == "full"]
    if args.counts:
        text += ["", f"### Training videos ({args.count_motion})", ""]
        text.append(markdown_table(["training videos", *header],
                                   [[r["train_videos"], *cells(r)] for r in sorted(counts, key=lambda r: r["train_videos"])]))
    if args.generation_variants:
        rows = [r for r in same if r["motion"] == args.count_motion and r["train_videos"] == args.train_videos
                and r["variant"] in ("full", *GENERATION_VARIANTS)]
        text += ["", f"### Generation settings ({args.count_motion}, same motion file as its full row)", ""]
        text.append(markdown_table(["setting", *header[:-1]], [[("default" if r["variant"] == "full" else r["variant"]),
                                                                 *cells(r)[:-1]] for r in rows]))
    if args.limit_variants:
        rows = [r for r in same if r["motion"] == args.count_motion and r["train_videos"] == args.train_videos
                and r["variant"] in ("full", *LIMIT_VARIANTS)]
        rows.sort(key=lambda r: ["full", *LIMIT_VARIANTS].index(r["variant"]))
        text += ["", f"### Where the limit is ({args.count_motion}, {args.train_videos} videos; beyond the paper)", ""]
        text.append(markdown_table(["row", *header], [[LIMIT_VARIANTS.get(r["variant"], "full method (default)"), *cells(r)]
                                                      for r in rows]))
    longer = [r for r in results if r["motion"] == args.count_motion and r["variant"] == "full"
              and r["train_videos"] == args.train_videos]
    if args.compare_steps:
        text += ["", f"### Training steps ({args.count_motion}, {args.train_videos} videos)", ""]
        text.append(markdown_table(["training steps", *header],
                                   [[r["train_steps"], *cells(r)] for r in sorted(longer, key=lambda r: r["train_steps"])]))
    return "\n".join(text)


def _by_shape(row: dict, shapes: list[str]) -> list[str]:
    """Per shape: mean preservation (vs frame 1) / mean VAE ceiling over ``row``'s videos of it, and their count."""
    cells = []
    for shape in shapes:
        scores = [score for i, score in enumerate(row["scores"]) if unseen_content(row["motion"], i)[1] == shape]
        if not scores:
            cells.append("-")
            continue
        kept, ceiling = (np.mean([score[key] for score in scores]) for key in ("preservation_vs_frame1", "vae_ceiling"))
        cells.append(f"{kept:.2f} / {ceiling:.2f} ({len(scores)})")
    return cells


def _key(row: dict) -> tuple:
    return row["motion"], row["variant"], row["train_videos"], row.get("steps_override")


if __name__ == "__main__":
    main()
