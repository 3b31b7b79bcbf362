"""``lamp ui``: the web app (tune, generate, edit, evaluate) in a browser; needs the ``ui`` extra (gradio)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("ui", help="the web app: tune a motion and make videos in a browser",
                                   description="Start the LAMP web app (Gradio). It listens on 127.0.0.1 only unless "
                                               "--host says otherwise, and makes no public share link unless --share.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; 0.0.0.0 = every network interface)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--motions", type=Path, default=Path("motions"), help="the motion library folder (default: %(default)s)")
    parser.add_argument("--work", type=Path, default=Path("lamp-ui"),
                        help="uploads, videos, edits and evaluations go here (default: %(default)s)")
    parser.add_argument("--base", default=None, help="base model of new motions (default: the built-in toy base)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="let the page train on server folders under this folder (default: off)")
    parser.add_argument("--device", default="auto", help="device of generation and editing (default: cuda if available)")
    parser.add_argument("--max-file-mb", type=float, default=200.0, help="largest uploaded file in MB (default: %(default)s)")
    parser.add_argument("--max-videos", type=int, default=16, help="most videos in a training set (default: %(default)s)")
    parser.add_argument("--max-video-seconds", type=float, default=120.0,
                        help="longest accepted video in seconds (default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also make a public Gradio share link (off by default)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: `lamp ui` needs gradio: pip install \"lamp-motion[ui]\"", file=sys.stderr)
        return 2
    from ..ui.app import launch, listen_address
    from ..ui.handlers import UISettings
    from ..ui.uploads import UploadLimits

    for name in ("max_file_mb", "max_videos", "max_video_seconds"):
        if not getattr(args, name) > 0:
            print(f"error: --{name.replace('_', '-')} must be above 0", file=sys.stderr)
            return 2
    if args.data_root is not None and not args.data_root.is_dir():
        print(f"error: --data-root {args.data_root} is not a folder", file=sys.stderr)
        return 2
    try:
        host, everywhere = listen_address(args.host)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if everywhere:
        print(f"warning: --host {args.host} listens on every network interface: anyone who can reach this machine "
              f"can use the page, upload files and run jobs", file=sys.stderr)
    if args.share:
        print("warning: --share makes a public link through Gradio's servers", file=sys.stderr)
    limits = UploadLimits(max_file_mb=args.max_file_mb, max_files=args.max_videos,
                          max_video_seconds=args.max_video_seconds)
    settings = UISettings(motions=args.motions, work=args.work, base=args.base, data_root=args.data_root,
                          limits=limits, device=args.device)
    launch(settings, host=host, port=args.port, share=args.share)
    return 0
