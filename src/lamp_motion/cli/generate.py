"""``lamp generate``: videos with a learnt motion, first frames from an image, a T2I model or the base."""

from __future__ import annotations

import argparse

from ..settings import frame_rate_problem
from ._errors import flag_names, run_with_user_errors
from ._settings import GIVEN, add_sampling_arguments, given, sampling_from_args

DTYPES = ("auto", "fp32", "fp16", "bf16")
NEGATED = {"tf32": "--no-tf32"}


def frame_rate(text: str) -> float:
    """argparse type of --fps: :func:`lamp_motion.settings.frame_rate_problem`'s rule, at parse time."""
    problem = frame_rate_problem(float(text))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return float(text)


def add_shared_arguments(parser: argparse.ArgumentParser, required: bool = True, mix: bool = False) -> None:
    """Options that `generate` and `edit` share; the sampling settings' flags are :func:`add_sampling_arguments`'s.

    ``required``: --motion and --prompt must be given (`generate` checks them itself: a jobs file may give them).
    ``mix``: --motion may be given several times (a mix of motions, weighted by --motion-weights)."""
    if mix:
        parser.add_argument("--motion", action="append", required=required,
                            help="motion file written by `lamp train` (.safetensors); give it again to mix motions")
        parser.add_argument("--motion-weights", type=float, nargs="+", default=None, metavar="W",
                            help="one weight per --motion, in their order (default: 1 each)")
    else:
        parser.add_argument("--motion", required=required, help="motion file written by `lamp train` (.safetensors)")
    parser.add_argument("--prompt", required=required, help='video prompt, e.g. "a horse runs in the snow"')
    parser.add_argument("--base", default=None, help="base model (default: the one the motion was trained on)")
    parser.add_argument("--out", default=GIVEN, help="output folder")
    parser.add_argument("--seed", type=int, default=GIVEN, help="seed of the first video; the others take seed + 1, ...")
    parser.add_argument("--fps", type=frame_rate, default=GIVEN, help="frame rate of the written mp4 and gif (lamp edit: the source's, over the stride)")
    parser.add_argument("--device", default=GIVEN, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--dtype", default=GIVEN, choices=DTYPES, help="weights dtype (default: fp16 on GPU, fp32 on CPU)")
    parser.add_argument("--allow-other-base", action="store_true", help="apply a motion file holding to_q in full (older versions) to a base it was not trained on, replacing that base's to_q (a current file on a fine-tune of its base needs no flag: its change is added)")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="make videos with a learnt motion",
                                   description="Make videos: the first frame from --image, --t2i MODEL or the base model, "
                                               "then the following frames with the motion.")
    add_shared_arguments(parser, required=False, mix=True)
    parser.add_argument("--jobs", default=None, metavar="FILE",
                        help="YAML list of videos to make in one load (prompt, seed, image, motion, frames, steps, ...; "
                             "keys left out take these flags' values)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", default=None, help="first frame from this image (real-image animation)")
    source.add_argument("--t2i", default=None, metavar="MODEL",
                        help="first frame from a diffusers text-to-image model (hub id or folder), e.g. stabilityai/stable-diffusion-xl-base-1.0")
    parser.add_argument("--image-prompt", default=None, help="prompt of the first-frame model (default: --prompt)")
    parser.add_argument("--t2i-steps", type=int, default=GIVEN, help="steps of the first-frame model")
    parser.add_argument("--t2i-guidance", type=float, default=GIVEN, help="guidance of the first-frame model")
    parser.add_argument("--overlap", type=int, default=GIVEN, help="frames shared by consecutive windows of a long video")
    parser.add_argument("--num-videos", type=int, default=GIVEN, help="videos to make, with seeds seed, seed+1, ...")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the video UNet (the first video compiles, later ones at that size are faster)")
    parser.add_argument("--no-tf32", action="store_true", help="keep fp32 matmuls in full fp32 on Ampere+ GPUs")
    add_sampling_arguments(parser.add_argument_group("sampling", "the video model's settings"))
    parser.set_defaults(func=run, flags=flag_names(parser, **NEGATED))


def settings_from_args(args: argparse.Namespace):
    """The GenerateSettings of a parsed `lamp generate` command line."""
    from ..jobs.generate import GenerateSettings

    names = ("prompt", "out", "base", "image", "t2i", "image_prompt", "t2i_steps", "t2i_guidance", "overlap",
             "seed", "num_videos", "fps", "device", "dtype", "allow_other_base", "compile")
    motion = args.motion[0] if args.motion and len(args.motion) == 1 else args.motion  # several: a mix
    weights = None if args.motion_weights is None else tuple(args.motion_weights)
    return GenerateSettings(**given(args, names), motion=motion, motion_weights=weights,
                            sampling=sampling_from_args(args), tf32=not args.no_tf32)


def run(args: argparse.Namespace) -> int:
    return run_with_user_errors(lambda: _run(args), args.flags)


def _run(args: argparse.Namespace) -> int:
    from ..errors import SettingError
    from ..jobs.generate import generate
    from ..jobs.jobs_file import generate_jobs_file

    if args.jobs is not None:
        generate_jobs_file(args.jobs, settings_from_args(args), given_by="command line")
        return 0
    for name in ("motion", "prompt"):
        if getattr(args, name) is None:
            raise SettingError(f"give {{{name}}} (or {{jobs}} FILE, a YAML list of videos)", name, "jobs")
    generate(settings_from_args(args), given_by="command line")
    return 0
