"""``lamp eval INPUT... [--clip MODEL | --no-clip] [--out DIR]``: scores of generated videos; ``--suite``: the paper's protocol.

The work is :func:`lamp_motion.jobs.evaluate.evaluate` and :func:`~lamp_motion.jobs.evaluate.run_suite`
(their module says what is scored and how); this module maps the flags onto their settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._errors import flag_names, run_with_user_errors
from ._settings import GIVEN, add_sampling_arguments, given, sampling_from_args
from .generate import DTYPES

# The sampling settings the suite takes (left out: `lamp generate`'s defaults).
SUITE_SAMPLING = ("sampling_steps", "guidance", "shared_noise", "height", "width", "frames")

def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="CLIP alignment, consistency and diversity of generated videos; the paper's protocol with --suite",
        description="Score videos with CLIP as in the LAMP paper (Table 1): text alignment and frame consistency "
                    "(higher is better), diversity across videos (lower is more diverse); per video, per motion "
                    "and overall; the motion score against the training videos where they are known (--training-set); "
                    "videos of a toy motion also get the toy world's motion metrics. With --suite, "
                    "generate the paper's evaluation videos for your motion files first.")
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                        help="a JSON file written by `lamp generate`, a video file (.mp4, .gif) with such a JSON "
                             "beside it, or a folder of them (none with --suite)")
    parser.add_argument("--clip", default=None, metavar="MODEL",
                        help="CLIP model: a hub id or a local folder (default: openai/clip-vit-large-patch14)")
    parser.add_argument("--no-clip", action="store_true",
                        help="no CLIP scores: only the motion score and the toy world's motion metrics")
    parser.add_argument("--out", type=Path, default=GIVEN, metavar="DIR",
                        help="folder for eval.json and eval.md, and the suite's videos")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--training-set", type=Path, default=None, metavar="DIR",
                        help="folder of the training videos, for the motion score and the toy metrics' leakage "
                             "(default: the folder the motion file's config records, if it still exists)")
    suite = parser.add_argument_group(
        "suite", "--suite: make the paper's evaluation videos (its prompts per motion, fixed seeds) with `lamp "
                 "generate`'s code, score them, and compare with the paper's Table 1. Generation options left out "
                 "take `lamp generate`'s defaults.")
    suite.add_argument("--suite", action="store_true", help="run the paper's evaluation protocol")
    suite.add_argument("--motion", action="append", default=None, metavar="FILE",
                       help="a motion file to evaluate (repeat for several)")
    suite.add_argument("--prompts", default=None, metavar="FILE",
                       help="YAML of evaluation prompts for motions that are not the paper's: "
                            "motion: [prompt, ...] (matched to a motion file's prompt, file or folder name)")
    suite.add_argument("--seed", type=int, default=None, help="first seed of every prompt (default: 0)")
    suite.add_argument("--num-videos", type=int, default=None,
                       help="videos per prompt, with seeds seed, seed+1, ... (default: 1, as in the paper)")
    suite.add_argument("--t2i", default=None, metavar="MODEL",
                       help="first frames from this diffusers text-to-image model (the paper: SD-XL); default: the base")
    suite.add_argument("--t2i-steps", type=int, default=None, help="steps of the first-frame model")
    suite.add_argument("--t2i-guidance", type=float, default=None, help="guidance of the first-frame model")
    add_sampling_arguments(suite, SUITE_SAMPLING, given_only=True)
    suite.add_argument("--base", default=None, help="base model (default: the one each motion was trained on)")
    suite.add_argument("--dtype", default=None, choices=DTYPES, help="weights dtype of generation (default: auto)")
    parser.set_defaults(func=run)
    parser.set_defaults(flags=flag_names(parser, inputs="INPUT", motions="--motion"))


SUITE_ONLY = ("motion", "prompts", "seed", "num_videos", "t2i", "t2i_steps", "t2i_guidance", "base", "dtype")


def run(args: argparse.Namespace) -> int:
    return run_with_user_errors(lambda: _run(args), args.flags)


def _run(args: argparse.Namespace) -> int:
    from ..jobs.evaluate import EvaluateSettings, SuiteSettings, evaluate, run_suite
    from ..metrics.clip_metrics import ClipModelError

    shared = given(args, ("inputs", "clip", "no_clip", "out", "device", "training_set"))
    suite_flags = [args.flags[name] for name in SUITE_ONLY if getattr(args, name) is not None]
    suite_flags += [args.flags[name] for name in SUITE_SAMPLING if hasattr(args, name)]
    try:
        if args.suite:
            options = {name: getattr(args, name) for name in SUITE_ONLY[2:] if getattr(args, name) is not None}
            run_suite(SuiteSettings(**shared, motions=args.motion or [], prompts=args.prompts, **options,
                                    sampling=sampling_from_args(args)), setting_names=args.flags)
        elif suite_flags:
            raise ValueError(f"{', '.join(suite_flags)}: suite option(s), used only with --suite")
        else:
            evaluate(EvaluateSettings(**shared), setting_names=args.flags)
    except ClipModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
