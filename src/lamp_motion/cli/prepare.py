"""``lamp prepare RAW_DIR OUT_DIR``: raw phone and web videos in, a clean training set out."""

from __future__ import annotations

import argparse

from ._errors import run_with_user_errors


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
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the clips (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=16, help="frames per training clip, lamp train num_frames (default: %(default)s)")
    parser.add_argument("--stride", type=int, default=1, help="the trainer's frame stride; clips span (frames-1)*stride+1 frames (default: %(default)s)")
    parser.add_argument("--max-clips-per-video", type=int, default=4, help="clips per source at most, 0 = no limit (default: %(default)s)")
    parser.add_argument("--height", type=int, default=320, help="clip height, a multiple of 8 (default: %(default)s)")
    parser.add_argument("--width", type=int, default=512, help="clip width, a multiple of 8 (default: %(default)s)")
    parser.add_argument("--resize", choices=RESIZE_MODES, default="crop",
                        help="fit other aspect ratios by centre crop, stretch (the authors' release) or black padding (default: %(default)s)")
    parser.add_argument("--split-shots", action="store_true", help="never let a clip span a shot cut")
    parser.add_argument("--shot-threshold", type=float, default=0.4, help="colour change (0..1) that counts as a cut (default: %(default)s)")
    parser.add_argument("--prompt", default=None, help="the set's prompt (default: RAW_DIR/prompt.txt, else the folder name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..jobs.prepare import PrepareSettings, prepare_videos

    def job() -> int:
        settings = PrepareSettings(raw_dir=args.raw_dir, out_dir=args.out_dir, fps=args.fps, frames=args.frames,
                                   stride=args.stride, max_clips_per_video=args.max_clips_per_video,
                                   height=args.height, width=args.width, resize=args.resize,
                                   split_shots=args.split_shots, shot_threshold=args.shot_threshold, prompt=args.prompt)
        result = prepare_videos(settings)
        skipped = [row for row in result.rows if row.status == "skipped"]
        print(f"{result.clip_count} clips in {result.clips_dir} from {len(result.rows) - len(skipped)} source(s)"
              + (f"; skipped {len(skipped)}: " + "; ".join(f"{r.source} ({r.reason})" for r in skipped) if skipped else ""))
        print(f"report: {result.report_md}; contact sheets: {settings.out_dir / 'sheets'}")
        return 0

    return run_with_user_errors(job)
