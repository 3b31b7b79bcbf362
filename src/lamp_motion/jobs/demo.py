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

import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..errors import SettingError
from ..toy.demo import HELD_OUT_COLOURS, MODES, TRAIN_COLOURS, mean_scores, toy_config, unseen_content, write_report
from ..toy.motions import get_motion
from ..toy.sets import first_frame, make_set
from .common import GeneratedVideo, Log
from .generate import GenerateSettings, generate
from .train import train


@dataclass
class DemoSettings:
    """The demo's settings; the defaults are the README's ``lamp demo``."""

    out: str | os.PathLike[str] = "lamp-demo"  # output folder
    motion: str = "move_right"  # toy motion (lamp_motion.toy.motions.MOTIONS)
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
    overrides = [f"data={data}", f"output_dir={out / 'motion'}"]
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
