"""``lamp toy``: the synthetic toy world.

* ``lamp toy list-motions``: the motion names and their prompts.
* ``lamp toy make-set MOTION DIR [--videos N --frames F --size S --seed K]``: write a
  motion set (mp4 videos and ``set.json``) into a new folder DIR. MOTION may also be
  ``move_deg_<DEG>``, a translation at any angle. ``--shapes``, ``--colours``,
  ``--num-colours``, ``--backgrounds``, ``--texture``, ``--size-range`` and
  ``--speed-scale`` make a set of one look, like a user's few clips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("toy", help="the synthetic toy world: motion sets for tests and benchmarks",
                                   description="Synthetic videos of coloured shapes with known motions.")
    commands = parser.add_subparsers(dest="toy_command", metavar="TOY_COMMAND", required=True)

    listing = commands.add_parser("list-motions", help="list the motions and their prompts")
    listing.set_defaults(func=list_motions)

    making = commands.add_parser("make-set", help="write a set of videos that share one motion",
                                 description="Write N videos of MOTION with varied content, and set.json, into DIR.")
    making.add_argument("motion", metavar="MOTION",
                        help="a motion name (see `lamp toy list-motions`), or move_deg_DEG: a translation at DEG "
                             "degrees (0 = right, 90 = up)")
    making.add_argument("out_dir", type=Path, metavar="DIR", help="a new or empty folder for the set")
    making.add_argument("--videos", type=int, default=12, metavar="N", help="number of videos (default: %(default)s)")
    making.add_argument("--frames", type=int, default=24, metavar="F", help="frames per video (default: %(default)s)")
    making.add_argument("--size", type=int, default=32, metavar="S",
                        help="frame height and width in pixels (default: %(default)s)")
    making.add_argument("--seed", type=int, default=0, metavar="K", help="random seed (default: %(default)s)")
    making.add_argument("--shapes", type=_names, default=None, metavar="A,B",
                        help="comma-separated shapes to use (default: all the motion can show)")
    making.add_argument("--colours", type=_names, default=None, metavar="A,B",
                        help="comma-separated colours to use (default: all)")
    making.add_argument("--num-colours", type=int, default=None, metavar="N",
                        help="use only N of the colours, the first N of a seeded shuffle (default: all)")
    making.add_argument("--backgrounds", type=_names, default=None, metavar="A,B",
                        help="comma-separated background families (pale, dark) and/or names (see "
                             "lamp_motion.data.toy.scene.ALL_BACKGROUNDS; default: black, grey, navy, white)")
    making.add_argument("--texture", default="mixed", metavar="KIND",
                        help="background texture: mixed (half striped), none, striped or strong (all striped at amplitude 0.9-1) (default: %(default)s)")
    making.add_argument("--size-range", type=_size_range, default=None, metavar="LO,HI",
                        help="object size at the start, fractions of the image side (default: the motion's own)")
    making.add_argument("--speed-scale", type=float, default=1.0, metavar="K",
                        help="multiply the motion's speed by K; refused where objects would leave the frame "
                             "(default: %(default)s)")
    making.set_defaults(func=make_set)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _size_range(text: str) -> tuple[float, float]:
    """``LO,HI`` as two numbers, e.g. ``0.15,0.25``."""
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (two numbers, e.g. 0.15,0.25), got {text!r}") from None
    return low, high


def list_motions(args: argparse.Namespace) -> int:
    from ..data.toy.motions import DIRECTION_PREFIX, MOTIONS

    pattern = f"{DIRECTION_PREFIX}DEG"
    width = max(len(name) for name in [*MOTIONS, pattern])
    for name, motion in MOTIONS.items():
        print(f"{name:<{width}}  {motion.prompt}")
    print(f"{pattern:<{width}}  moves at DEG degrees (any angle: 0 = right, 90 = up)")
    return 0


def make_set(args: argparse.Namespace) -> int:
    from ..data.toy.sets import SET_FILE
    from ..data.toy.sets import make_set as write_set

    try:
        paths = write_set(args.motion, args.out_dir, num_videos=args.videos, num_frames=args.frames,
                          height=args.size, width=args.size, seed=args.seed, shapes=args.shapes, colours=args.colours,
                          num_colours=args.num_colours, backgrounds=args.backgrounds, texture=args.texture,
                          size_range=args.size_range, speed_scale=args.speed_scale)
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} videos and {SET_FILE} to {args.out_dir}")
    return 0
