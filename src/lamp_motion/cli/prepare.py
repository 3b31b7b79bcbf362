"""``lamp prepare RAW_DIR OUT_DIR``: raw phone and web videos in, a clean training set out."""

from __future__ import annotations

import argparse

from ._errors import run_with_user_errors
from ._settings import GIVEN, given


def add_parser(subparsers) -> None:
    from ..data.frames import RESIZE_MODES

    parser = subparsers.add_parser(
        "prepare", help="turn a folder of raw videos into a training set",
        description="Turn a folder of raw videos (phone portrait clips, variable frame rates, webm, gif, long clips) "
                    "into a training set: upright, constant-rate clips of the motion's window at the training size in "
                    "OUT_DIR/clips, a contact sheet per clip in OUT_DIR/sheets, and a report (prepare.md, "
                    "prepare.json). A rerun reuses the clips of unchanged sources.")
    parser.add_argument("raw_dir", metavar="RAW_DIR", help="folder of raw videos; <name>.txt beside one is its caption")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if missing)")
    parser.add_argument("--fps", type=float, default=GIVEN, help="frame rate of the clips")
    parser.add_argument("--frames", type=int, default=GIVEN, help="frames per training clip, lamp train num_frames")
    parser.add_argument("--stride", type=int, default=GIVEN, help="the trainer's frame stride; clips span (frames-1)*stride+1 frames")
    parser.add_argument("--max-clips-per-video", type=int, default=GIVEN, help="clips per source at most, 0 = no limit")
    parser.add_argument("--height", type=int, default=GIVEN, help="clip height, a multiple of 8")
    parser.add_argument("--width", type=int, default=GIVEN, help="clip width, a multiple of 8")
    parser.add_argument("--resize", choices=RESIZE_MODES, default=GIVEN,
                        help="fit other aspect ratios by centre crop (the default), stretch (the authors' release) or black padding")
    parser.add_argument("--split-shots", action="store_true", help="never let a clip span a shot cut")
    parser.add_argument("--shot-threshold", type=float, default=GIVEN, help="colour change (0..1) that counts as a cut")
    parser.add_argument("--prompt", default=None, help="the set's prompt (default: RAW_DIR/prompt.txt, else the folder name)")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    """The PrepareSettings of a parsed `lamp prepare` command line."""
    from ..jobs.prepare import PrepareSettings

    return PrepareSettings(**given(args, ("raw_dir", "out_dir", "fps", "frames", "stride", "max_clips_per_video",
                                          "height", "width", "resize", "split_shots", "shot_threshold", "prompt")))


def run(args: argparse.Namespace) -> int:
    from ..jobs.prepare import prepare_videos

    def job() -> int:
        settings = settings_from_args(args)
        result = prepare_videos(settings)
        skipped = [row for row in result.rows if row.status == "skipped"]
        print(f"{result.clip_count} clips in {result.clips_dir} from {len(result.rows) - len(skipped)} source(s)"
              + (f"; skipped {len(skipped)}: " + "; ".join(f"{r.source} ({r.reason})" for r in skipped) if skipped else ""))
        print(f"report: {result.report_md}; contact sheets: {settings.out_dir / 'sheets'}")
        return 0

    return run_with_user_errors(job)
