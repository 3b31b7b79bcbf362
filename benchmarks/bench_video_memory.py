"""Peak memory and time of reading hostile or large videos, each in a fresh process.

Writes three files with PyAV: a 10 s 1080p clip (30 fps, flat colour with a moving
bar, so it is small), a variable-rate file of two 20-frame bursts at 30 fps 1200 s
apart at 320x240, and a 2-hour 2x2 video (8 fps; yuv420p needs even sizes). Each case
runs in its own Python process and reports its peak resident memory (``ru_maxrss``),
the resident memory after the imports (what the process costs before reading), the
frames it kept and its wall time. Prints the table and writes it to
``docs/reliability.md`` (section ``video-memory``) unless ``--no-docs``.

    python benchmarks/bench_video_memory.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import update_section  # noqa: E402

CHILD = r"""
import json, resource, sys, time, warnings
from pathlib import Path
from lamp_motion.data import DataError, scan_videos
from lamp_motion.ui.uploads import UploadError, UploadLimits, check_header_lengths
from lamp_motion.video_io import read_video
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
case, path = sys.argv[1], Path(sys.argv[2])
before = rss_mb()
start = time.perf_counter()
kept, outcome = 0, "read"
try:
    if case == "train":  # as `lamp train` reads a folder, at 256x256
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            video_set = scan_videos(path.parent, 16, 1, 256, 256)
        kept = sum(video_set.lengths)
    elif case == "full":  # read_video without fit: every frame at the file's own size
        kept = len(read_video(path)[0])
    elif case == "ui":  # the page's duration check, before any decoding
        check_header_lengths([path], UploadLimits())
except (DataError, UploadError) as error:
    lines = str(error).splitlines()  # a DataError: the folder, its problems, the layout hint
    outcome = "refused: " + (lines[1] if isinstance(error, DataError) else lines[-1]).strip()[:110]
print(json.dumps({"before_mb": before, "peak_mb": rss_mb(), "seconds": time.perf_counter() - start,
                  "frames": kept, "outcome": outcome}))
"""


def encode(path: Path, times_ms, height: int, width: int, draw) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for index, time in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(draw(index), format="rgb24")
            frame.pts, frame.time_base = time, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def bar(height: int, width: int):
    def draw(index: int) -> np.ndarray:
        pixels = np.full((height, width, 3), 40, np.uint8)
        x = (index * 16) % width
        pixels[:, x:x + 32] = 220
        return pixels
    return draw


def make_files(folder: Path) -> dict[str, Path]:
    files = {}
    for name in ("hd", "vfr", "long"):
        (folder / name).mkdir()
    files["hd"] = encode(folder / "hd" / "clip.mp4", [round(i * 1000 / 30) for i in range(300)], 1080, 1920,
                         bar(1080, 1920))
    bursts = [round(i * 1000 / 30) for i in range(20)] + [1_200_000 + round(i * 1000 / 30) for i in range(20)]
    files["vfr"] = encode(folder / "vfr" / "bursts.mp4", bursts, 240, 320, bar(240, 320))
    tiny = np.zeros((2, 2, 3), np.uint8)
    files["long"] = encode(folder / "long" / "two_hours.mp4", [i * 125 for i in range(2 * 3600 * 8)], 2, 2,
                           lambda index: tiny)
    return files


CASES = [  # (file, case, what it is)
    ("hd", "train", "10 s 1080p clip (300 frames), `lamp train` at 256x256"),
    ("hd", "full", "10 s 1080p clip, `read_video` at full size (what training held before)"),
    ("vfr", "train", "two 20-frame bursts 1200 s apart, 320x240, `lamp train` at 256x256"),
    ("long", "train", "2-hour 2x2 video (57,600 frames), `lamp train`"),
    ("long", "ui", "2-hour 2x2 video, the web page's 120 s check"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true", help="only print")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        files = make_files(Path(temporary))
        for file, case, what in CASES:
            done = subprocess.run([sys.executable, "-c", CHILD, case, str(files[file])], capture_output=True,
                                  text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            size_kb = files[file].stat().st_size / 1024
            row = (f"| {what} | {size_kb:.0f} KB | {result['peak_mb']:.0f} MB | {result['peak_mb'] - result['before_mb']:.0f} MB "
                   f"| {result['frames']} | {result['seconds']:.2f} s | {result['outcome']} |")
            print(row, flush=True)
            rows.append(row)
    table = "\n".join(["| case | file | peak RSS | rise over imports | frames kept | time | outcome |",
                       "|---|---|---|---|---|---|---|", *rows])
    if not args.no_docs:
        update_section("reliability.md", "video-memory", table)


if __name__ == "__main__":
    main()
