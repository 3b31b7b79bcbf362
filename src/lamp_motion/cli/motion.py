"""``lamp motion merge A B [...] --out C [--weights W ...]``: tools for motion files."""

from __future__ import annotations

import argparse

from ._errors import flag_names, run_with_user_errors


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("motion", help="tools for motion files (merge)",
                                   description="Tools for the motion files `lamp train` writes.")
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    merge = tools.add_parser("merge", help="one motion file that applies several at their weights",
                             description="Write one motion file that applies the given motions at their weights, "
                                         "exactly as `lamp generate --motion A --motion B --motion-weights ...` "
                                         "mixes them (it holds each motion's tensors: its size is theirs together). "
                                         "The motions must share their base and options.")
    merge.add_argument("motions", nargs="+", metavar="MOTION", help="motion files (.safetensors), two or more")
    merge.add_argument("--out", required=True, help="the merged motion file to write (.safetensors)")
    merge.add_argument("--weights", type=float, nargs="+", default=None, metavar="W",
                       help="one weight per motion, in their order (default: 1 each)")
    merge.add_argument("--dtype", default="fp16", choices=("fp16", "bf16", "fp32"),
                       help="dtype of the stored tensors (default: %(default)s)")
    merge.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    merge.set_defaults(func=run_merge, flags=flag_names(merge))


def run_merge(args: argparse.Namespace) -> int:
    def job() -> int:
        from ..jobs.merge import MergeSettings, merge

        if len(args.motions) < 2:
            raise ValueError("give two or more motion files to merge")
        merge(MergeSettings(motions=args.motions, out=args.out, dtype=args.dtype, overwrite=args.overwrite,
                            weights=None if args.weights is None else tuple(args.weights)))
        return 0

    return run_with_user_errors(job, args.flags)
