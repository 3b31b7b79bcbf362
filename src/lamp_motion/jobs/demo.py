"""The toy demo: the whole method on the toy world, through the library's jobs.

1. render a motion set (content restricted to the training colours) as mp4 files;
2. tune the motion with its packaged toy config, the data folder overridden;
3. generate videos of content never seen in training (held-out colours), first frames
   both from the base text-to-image model and from rendered images, each video as shipped
   and raw (AdaIN and histogram matching off), so that the report shows what the model keeps;
4. score every generated video with the toy metrics (on the exact frames of its PNG
   contact sheet), leakage towards the training set's look included, and write a report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.toy.motions import get_motion
from ..data.toy.scene import COLOURS
from ..data.toy.sets import first_frame, make_set
from ..errors import SettingError
from ..metrics.motion import motion_score, reference_tracks
from ..metrics.toy import palette_from_videos, score_video, summarise
from ..video_io import frames_from_contact_sheet, read_video
from .common import GeneratedVideo, Log
from .generate import GenerateSettings, generate
from .train import train

HELD_OUT_COLOURS = ("purple", "orange")  # never in a demo training set: generation is on unseen content
TRAIN_COLOURS = tuple(c for c in sorted(COLOURS) if c not in HELD_OUT_COLOURS)
SCORES = ("motion_fidelity", "content_preservation", "frame1_kept", "background_stability", "temporal_smoothness",
          "object_found", "leakage")  # leakage: 0 = none, lower is better
# Beside the toy metrics: the motion score against the training clips (-1..1; metrics/motion.py, needs no toy knowledge).
COLUMNS = (*SCORES, "motion_score")
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


@dataclass
class DemoSettings:
    """The demo's settings; the defaults are the README's ``lamp demo``."""

    out: str | os.PathLike[str] = "lamp-demo"  # output folder
    motion: str = "move_right"  # toy motion (lamp_motion.data.toy.motions.MOTIONS)
    train_steps: int | None = None  # default: the toy config's steps
    videos: int = 4  # first frames of unseen content (each gives two videos)
    steps: int = 25  # DDIM steps of generation (and of the base's first frames)
    guidance: float = 4.0  # guidance of generation (and of the base's first frames)
    num_train_videos: int = 12
    seed: int = 0  # seed of the rendered training set


@dataclass
class DemoResult:
    """The report (report.md, beside report.json), the motion file, the videos and their mean scores (as shipped)."""

    report: Path
    motion_file: Path
    videos: list[GeneratedVideo] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


def run_demo(settings: DemoSettings | None = None, log: Log | None = print) -> DemoResult:
    """Run the demo into ``settings.out``."""
    settings = settings or DemoSettings()
    say = log or (lambda _: None)
    if settings.videos < 1 or (settings.train_steps is not None and settings.train_steps < 1):
        raise SettingError(f"{{videos}} {settings.videos}, {{train_steps}} {settings.train_steps}: both must be at least "
                           f"1 (leave {{train_steps}} out for the toy config's steps)", "videos", "train_steps")
    out = Path(settings.out)
    prompt = get_motion(settings.motion).prompt
    config = toy_config(settings.motion)
    data = out / "data" / prompt.replace(" ", "_")
    say(f"[1/4] rendering {settings.num_train_videos} training videos of {settings.motion!r} ({prompt!r}) into {data}")
    if not data.exists():
        make_set(settings.motion, data, num_videos=settings.num_train_videos, num_frames=24, seed=settings.seed,
                 colours=TRAIN_COLOURS)

    say(f"[2/4] tuning the motion on the built-in toy base ({config})")
    overrides = [f"data={data}", f"output_dir={out / 'motion'}", "overwrite=true"]  # a rerun tunes afresh
    overrides += [f"steps={settings.train_steps}"] if settings.train_steps is not None else []
    motion_file = train(config, overrides).motion_file

    say(f"[3/4] generating videos of unseen content ({', '.join(HELD_OUT_COLOURS)} objects)")
    folders = {"shipped": out / "videos", "raw": out / "videos_raw"}
    videos = []
    for index in range(settings.videos):
        colour, shape = unseen_content(settings.motion, index)
        image, _ = first_frame(settings.motion, seed=1000 + index, colour=colour, shape=shape)
        image_path = out / "first_frames" / f"{colour}-{shape}-{index}.png"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(image_path)
        video_prompt = f"a {colour} {shape} {prompt}"
        for mode, post in MODES.items():
            common = dict(motion=motion_file, out=folders[mode], steps=settings.steps, guidance=settings.guidance, **post)
            made = generate(GenerateSettings(**common, prompt=video_prompt, image=image_path, seed=index), log).videos
            made += generate(GenerateSettings(**common, prompt=video_prompt, image_prompt=f"a {colour} {shape}",
                                              seed=100 + index, t2i_steps=settings.steps,
                                              t2i_guidance=settings.guidance), log).videos
            videos += made if mode == "shipped" else []

    say("[4/4] scoring the videos with the toy metrics, as shipped and raw")
    report = write_report(out, settings.motion, folders, data, log)
    return DemoResult(report=report, motion_file=motion_file, videos=videos, scores=mean_scores(report))


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
    references = reference_tracks(training)
    rows = []
    for mode, folder in folders.items():
        for record_path in sorted(Path(folder).glob("*.json")):
            record = json.loads(record_path.read_text())
            if not isinstance(record.get("videos"), dict):
                continue  # the run's manifest.json
            frames = frames_from_contact_sheet(record_path.parent / record["videos"]["sheet"],
                                               record["num_frames_written"], record["height"], record["width"])
            source = "rendered image" if record["first_frame"].startswith("image:") else "base model"
            rows.append({"video": record_path.stem, "first_frame": source, "mode": mode, "prompt": record["prompt"],
                         **score_video(frames, motion, palette=palette),
                         "motion_score": motion_score(frames, references).score})
    # The training videos against the others (each one's own tracks left out, else it matches itself).
    truth = [{**score_video(frames, motion, palette=palette),
              "motion_score": motion_score(frames, references[:i] + references[i + 1:]).score if len(references) > 1
              else 1.0} for i, frames in enumerate(training)]
    groups = dict.fromkeys((r["first_frame"], r["mode"]) for r in sorted(rows, key=lambda r: r["first_frame"]))
    summary = {f"{source}, {mode}": summarise([{k: r[k] for k in COLUMNS} for r in rows
                                               if (r["first_frame"], r["mode"]) == (source, mode)])
               for source, mode in groups}
    summary["training videos (ground truth)"] = summarise([{k: s[k] for k in COLUMNS} for s in truth])
    (out / "report.json").write_text(json.dumps({"motion": motion, "videos": rows, "summary": summary}, indent=2))
    lines = [f"# LAMP toy demo: {motion!r}", "", "Scores in [0, 1] (see lamp_motion/metrics/toy.py), mean ± std; "
             "1 is best, except leakage (0 = no colour or background taken from the training set); motion_score: "
             "-1..1 against the training clips (docs/motion-score.md; each training video against the others). "
             "*shipped*: "
             "as `lamp generate` makes them; *raw*: the same videos with AdaIN and histogram matching off, "
             "what the tuned model itself keeps of frame 1.", "",
             "| videos | n | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for name, stats in summary.items():
        cells = [f"{stats[k]['mean']:.2f} ± {stats[k]['std']:.2f}" for k in COLUMNS]
        lines.append(f"| {name} | {int(stats[SCORES[0]]['count'])} | " + " | ".join(cells) + " |")
    lines += ["", "| video | first frame | mode | " + " | ".join(COLUMNS) + " |", "|---|---|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {r['video']} | {r['first_frame']} | {r['mode']} | " + " | ".join(f"{r[k]:.2f}" for k in COLUMNS) + " |"
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
    return {k: float(np.mean([r[k] for r in rows])) for k in COLUMNS if all(k in r for r in rows)}
