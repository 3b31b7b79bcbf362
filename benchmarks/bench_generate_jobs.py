"""Many videos in one load: `lamp generate --jobs FILE.yaml` against one `lamp generate` per video, on the toy world.

Two toy motions on the built-in toy base (32x32, 16 frames; motion layers with small random
weights: the time does not depend on what they learnt), ``--videos`` videos each, first
frames rendered by the toy renderer (so no first-frame model runs), ``--steps`` DDIM steps
at the toy configs' guidance 4, on the CPU with ``--threads`` torch threads.

* one call per video: ``python -m lamp_motion.cli.main generate ...`` once per video, each a
  fresh process (Python and torch start, the base and the motion load, one video);
* jobs file: one ``lamp generate --jobs`` process for all of them (the base loads once, each
  motion once).

The time of each is the wall time of its processes, back to back; the videos are the same
(the test suite checks that an entry makes the video a single call makes). Figures go to
docs/performance.md, section ``generate-jobs``.

    python benchmarks/bench_generate_jobs.py                   # ~3 minutes on one thread
    python benchmarks/bench_generate_jobs.py --videos 2 --no-docs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, update_section  # noqa: E402
from _models import contention_note  # noqa: E402

from lamp_motion.builtin import resolve_base  # noqa: E402
from lamp_motion.data.toy.sets import first_frame  # noqa: E402
from lamp_motion.models import MotionOptions, VideoUNet, save_motion  # noqa: E402
from lamp_motion.models.loading import load_base  # noqa: E402

PAGE, SECTION = "performance.md", "generate-jobs"
MOTIONS = {"move_right": "moves right", "move_left": "moves left"}
CONTENT = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "circle")]


def toy_motion_file(motion: str, prompt: str, folder: Path, seed: int) -> Path:
    """A motion file on the built-in toy base with small random motion layers."""
    video = VideoUNet.inflate(load_base(resolve_base(None)).unet, MotionOptions(groupnorm="per_frame"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in video.trainable_parameters().values():
            param.add_(0.02 * torch.randn(param.shape, generator=generator))
    meta = {"prompt": prompt, "num_frames": "16", "height": "32", "width": "32"}
    return save_motion(video, folder / motion / "motion.safetensors", dtype="fp32", extra_metadata=meta)


def run(command: list[str], threads: int) -> float:
    """Seconds ``command`` takes (it must succeed)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3, help="videos per motion")
    parser.add_argument("--steps", type=int, default=10, help="DDIM steps per video")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/performance.md as it is")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        jobs, entries = [], []
        for number, (motion, prompt) in enumerate(MOTIONS.items()):
            path = toy_motion_file(motion, prompt, work / "motions", number)
            for index in range(args.videos):
                colour, shape = CONTENT[index % len(CONTENT)]
                image = work / f"{motion}-{index}.png"
                Image.fromarray(first_frame(motion, seed=index, colour=colour, shape=shape)[0]).save(image)
                jobs.append((path, f"a {colour} {shape} {prompt}", image, index))
                entries.append(f"- {{motion: {path}, prompt: a {colour} {shape} {prompt}, image: {image}, seed: {index}}}")
        (work / "jobs.yaml").write_text("\n".join(entries) + "\n")
        lamp = [sys.executable, "-m", "lamp_motion.cli.main", "generate", "--steps", str(args.steps), "--guidance", "4",
                "--device", "cpu"]

        alone = sum(run([*lamp, "--motion", str(path), "--prompt", prompt, "--image", str(image), "--seed", str(seed),
                         "--out", str(work / "alone")], args.threads) for path, prompt, image, seed in jobs)
        print(f"one call per video: {alone:.1f} s", flush=True)
        together = run([*lamp, "--jobs", str(work / "jobs.yaml"), "--out", str(work / "together")], args.threads)
        print(f"jobs file: {together:.1f} s", flush=True)

    n = len(jobs)
    table = markdown_table(["how", "processes", "s in all", "s/video"],
                           [["one `lamp generate` per video", n, alone, alone / n],
                            ["one `lamp generate --jobs`", 1, together, together / n]])
    text = (f"{n} toy videos ({len(MOTIONS)} motions x {args.videos}, 16x32x32 on the built-in toy base, "
            f"{args.steps} DDIM steps, guidance 4, first frames rendered), CPU, {args.threads} torch thread(s). "
            f"The jobs file saves {alone - together:.1f} s ({1 - together / alone:.0%}): each separate call starts "
            f"Python and torch and loads the base and its motion again. " + contention_note(load_before) + "\n\n" + table)
    print(text)
    if not args.no_docs:
        update_section(PAGE, SECTION, text)


if __name__ == "__main__":
    main()
