"""Where the raw model's later-frame backgrounds come from, on bench_frame1.py's sets (prints only).

For each set and one candidate's seed-33 motion file under ``--work`` (as bench_frame1.py
left it), generate bench_frame1's 8 evaluation videos with AdaIN and histogram matching
off and report the share of later frames whose background lies within ``--near`` (RGB)
of one of the built-in base's four training backgrounds (black, grey, white, navy),
beside the same share for the videos' first frames. A share well above the first frames'
says later frames fall back on the base's own backgrounds rather than keeping frame 1's.
First it prints what the toy VAE alone does to every background: a rendered frame
encoded as a first frame is encoded, then decoded, and the background colour measured.

    python benchmarks/probe_frame1_backgrounds.py --work bench-frame1 --candidate baseline
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_frame1 import SETS, unseen_cases  # noqa: E402

from lamp_motion.data.toy.motions import get_motion  # noqa: E402
from lamp_motion.data.toy.scene import ALL_BACKGROUNDS, BACKGROUNDS, Scene, draw  # noqa: E402
from lamp_motion.data.toy.sets import first_frame  # noqa: E402
from lamp_motion.metrics.toy import track_object  # noqa: E402
from lamp_motion.pipelines.images import image_to_tensor  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402

BASE = np.array(list(BACKGROUNDS.values()), dtype=np.float64)  # (4, 3)


def near_base(colours: np.ndarray, near: float) -> np.ndarray:
    """Per colour (n, 3): whether it lies within ``near`` of one of the base's backgrounds."""
    return np.linalg.norm(colours[:, None] - BASE[None], axis=-1).min(axis=1) < near


def vae_round_trip(pipe: LampPipeline) -> None:
    """Print each background's colour before and after the toy VAE (a yellow circle in front)."""
    for name, rgb in ALL_BACKGROUNDS.items():
        image = draw(Scene(shape="circle", colour="yellow", background=name, x=0.3, y=0.5, size=0.25), 32)
        latent = pipe.encode_images(image_to_tensor(Image.fromarray(image)))  # (1, c, h/f, w/f)
        decoded = pipe.decode_latents(latent[:, :, None])[0, 0]  # (h, w, 3)
        after = np.median(decoded[:6, -8:].reshape(-1, 3), axis=0)  # a corner far from the circle
        print(f"VAE round trip: {name} {rgb} -> {tuple(int(v) for v in after)}"
              f"{' (a base background)' if name in BACKGROUNDS else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-frame1"))
    parser.add_argument("--candidate", default="baseline")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--near", type=float, default=30.0, help="RGB distance that counts as the same background")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for index, name in enumerate(args.sets):
        spec = SETS[name]
        pipe = LampPipeline.from_motion(str(args.work / "motions" / f"{name}-{args.candidate}-seed33" / "motion.safetensors"))
        if index == 0:
            vae_round_trip(pipe)
        first, later = [], []
        for index, case in enumerate(unseen_cases(name, 8)):
            image, _ = first_frame(spec["motion"], seed=5000 + index, shape=case["shape"], colour=case["colour"],
                                   background=case["background"], texture=case["texture"],
                                   speed_scale=spec.get("speed_scale", 1.0))
            prompt = f"a {case['colour']} {case['shape']} {get_motion(spec['motion']).prompt}"
            frames = pipe(prompt, Image.fromarray(image), num_frames=16, height=32, width=32, generator=index,
                          progress=False, adain=False, histogram_matching=False).frames[0]
            backgrounds = track_object(frames).background  # (f, 3)
            first.append(near_base(backgrounds[:1], args.near).mean())
            later.append(near_base(backgrounds[1:], args.near).mean())
        print(f"{name} ({args.candidate}, raw): backgrounds within {args.near:g} RGB of the base's four: "
              f"first frames {np.mean(first):.2f}, later frames {np.mean(later):.2f}")


if __name__ == "__main__":
    main()
