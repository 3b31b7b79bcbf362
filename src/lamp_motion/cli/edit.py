"""``lamp edit``: one video, edited through its first frame, with the motion tuned on that video."""

from __future__ import annotations

import argparse

from ..settings import LABELS
from ._errors import flag_names, run_with_user_errors
from ._settings import GIVEN, add_sampling_arguments, given, sampling_from_args
from .generate import NEGATED, add_shared_arguments


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("edit", help="edit one video through an edited first frame",
                                   description="Edit one video: DDIM-invert the source video (--video) with the motion "
                                               "tuned on it, then generate from that noise with an edited first frame, "
                                               "given (--image) or made from the source's canny edges with a ControlNet. "
                                               "The output plays at the source's frame rate divided by --stride unless "
                                               "--fps is given.")
    add_shared_arguments(parser)
    parser.add_argument("--video", required=True, help="the source video (the one the motion was tuned on)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", default=None, help="the edited first frame (an image file)")
    source.add_argument("--canny-controlnet", default=None, metavar="MODEL",
                        help="make the edited first frame with this canny ControlNet (hub id or folder), "
                             "e.g. diffusers/controlnet-canny-sdxl-1.0, from the source's first frame")
    parser.add_argument("--canny-image-model", default=None, metavar="MODEL",
                        help="the image model the ControlNet belongs to, e.g. stabilityai/stable-diffusion-xl-base-1.0")
    parser.add_argument("--image-prompt", default=None, help="prompt of the edited first frame (default: --prompt)")
    parser.add_argument("--canny-steps", type=int, default=GIVEN, help="steps of the ControlNet image model")
    parser.add_argument("--canny-guidance", type=float, default=GIVEN, help="guidance of the ControlNet image model")
    parser.add_argument("--canny-scale", type=float, default=GIVEN, help="ControlNet conditioning scale")
    parser.add_argument("--canny-thresholds", type=float, nargs=2, default=GIVEN, metavar=("LOW", "HIGH"),
                        help="canny hysteresis thresholds (ControlNet's annotator uses 100 200)")
    parser.add_argument("--stride", type=int, default=None,
                        help="take every stride-th source frame (default: the motion's training stride, else 2)")
    parser.add_argument("--start", type=int, default=GIVEN, help="first source frame used")
    add_sampling_arguments(parser.add_argument_group("sampling", "the video model's settings (inversion and sampling)"),
                           tuple(name for name in LABELS if name not in ("shared_noise", "frame_init")))  # the inversion starts it
    # --seed seeds only the ControlNet first frame: inversion and sampling are deterministic (DDIM).
    parser.set_defaults(func=run)
    parser.set_defaults(flags=flag_names(parser, **NEGATED, num_frames="--frames"))


def settings_from_args(args: argparse.Namespace):
    """The EditSettings of a parsed `lamp edit` command line."""
    from ..jobs.edit import EditSettings

    names = ("motion", "video", "prompt", "image", "canny_controlnet", "canny_image_model", "image_prompt", "canny_steps",
             "canny_guidance", "canny_scale", "stride", "start", "out", "base", "seed", "fps", "device", "dtype",
             "allow_other_base")
    values = given(args, names)
    if hasattr(args, "canny_thresholds"):
        values["canny_thresholds"] = tuple(args.canny_thresholds)
    return EditSettings(**values, sampling=sampling_from_args(args))


def run(args: argparse.Namespace) -> int:
    from ..jobs.edit import edit

    def job() -> int:
        edit(settings_from_args(args), given_by="command line", setting_names=args.flags)
        return 0

    return run_with_user_errors(job, args.flags)
