"""Probe: which sampling choices change how much of frame 1 the raw model keeps? (issue 22)

On one motion file tuned by bench_frame1_ceilings.py (its ``--work`` folder), raw videos
(AdaIN and histogram matching off) of the benchmark's unseen first frames, scored with the
toy tracker's ``frame1_kept`` and ``motion_fidelity``: guidance and shared noise, then the
initial latents of frames 2.. (pure noise; frame 1's latent, its per-channel mean, or a
Gaussian low-pass of it, each noised to the first sampling step's level).

    python benchmarks/probe_frame1_sampling.py --work bench-frame1-ceilings --set diag_up --row few_shot
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_frame1_ceilings import SETS, unseen_cases  # noqa: E402

from lamp_motion.metrics.toy import score_video  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402
from lamp_motion.pipelines.noise import shared_noise  # noqa: E402


def low_frequencies(z: torch.Tensor, keep: str | float) -> torch.Tensor:
    """``z`` (b, c, f, h, w) itself ("full"), its spatial mean ("mean") or a Gaussian low-pass of width ``keep``."""
    if keep == "full":
        return z
    if keep == "mean":
        return z.mean(dim=(-2, -1), keepdim=True).expand_as(z)
    h, w = z.shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    mask = torch.exp(-(xx**2 + yy**2) / (2 * float(keep) ** 2))
    spectrum = torch.fft.fftshift(torch.fft.fft2(z), dim=(-2, -1)) * mask
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-frame1-ceilings"))
    parser.add_argument("--set", default="diag_up", choices=list(SETS))
    parser.add_argument("--row", default="few_shot")
    parser.add_argument("--seed", type=int, default=33)
    parser.add_argument("--videos", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = LampPipeline.from_motion(str(args.work / "motions" / f"{args.set}-{args.row}-seed{args.seed}" / "motion.safetensors"))
    cases = unseen_cases(args.set, args.videos)

    def line(label: str, **options) -> None:
        kept, fidelity = [], []
        for index, case in enumerate(cases):
            image = Image.fromarray(case["image"])
            keep = options.get("init")
            latents = None
            if keep is not None:
                z1 = pipe.prepare_first_frame(image, 32, 32, [])[:, :, None]  # (1, c, 1, h, w)
                noise = shared_noise(torch.randn((1, z1.shape[1], 16, *z1.shape[3:]),
                                                 generator=torch.Generator().manual_seed(index)), 0.2)
                pipe.scheduler.set_timesteps(25)
                start = low_frequencies(z1.expand(-1, -1, 16, -1, -1).contiguous(), keep)
                latents = pipe.scheduler.add_noise(start, noise, pipe.scheduler.timesteps[:1])
            settings = {k: v for k, v in options.items() if k != "init"}
            frames = pipe(case["prompt"], image, num_frames=16, height=32, width=32, generator=index, progress=False,
                          adain=False, histogram_matching=False, latents=latents, **settings).frames[0]
            scores = score_video(frames, SETS[args.set]["motion"])
            kept.append(scores["frame1_kept"])
            fidelity.append(scores["motion_fidelity"])
        print(f"{args.set} {args.row} seed {args.seed}, {label}: kept {np.mean(kept):.2f}, fidelity {np.mean(fidelity):.2f}",
              flush=True)

    for guidance, shared in ((4.0, 0.2), (1.0, 0.2), (4.0, 0.0), (1.0, 0.0), (2.0, 0.2)):
        line(f"guidance {guidance}, shared noise {shared}", guidance_scale=guidance, shared_noise_alpha=shared)
    for keep in ("full", "mean", 0.25):
        line(f"initial latents from frame 1 ({keep})", init=keep)


if __name__ == "__main__":
    main()
