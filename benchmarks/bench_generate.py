"""LAMP generation speed and memory: tiny models on the CPU, Stable Diffusion 1.4 size on a CUDA GPU.

One video is what ``LampPipeline.__call__`` does for one prompt and one first frame:
encode the prompt (and the empty prompt, for guidance), encode the first frame with
the VAE, run the DDIM loop over the video UNet with classifier-free guidance (one
UNet call on the conditional and unconditional batch per step), AdaIN, decode every
frame with the VAE and histogram-match the frames to frame 1. Making the first frame
(a text-to-image run, or reading an image) is not included.

CPU (section ``generate-cpu`` of docs/performance.md): tiny SD 1.x-architecture models
(random weights), 16 frames, a few sizes, fp32. Every size runs in a fresh process, so
its peak resident memory is its own; a short warm-up video comes first.

GPU (section ``generate-gpu``, only where CUDA is available): SD 1.4's UNet, VAE and
CLIP text encoder configs with random weights (the cost of real weights), inflated into
LAMP's video UNet, 16x320x512, 50 DDIM steps, guidance 12.5, everything in bf16. One
warm-up video, then timed videos; peak memory is ``torch.cuda.max_memory_allocated``
over the timed videos. The UNet's FLOPs are counted with FlopCounterMode on one UNet
call and its calls are timed with CUDA events, giving the fraction of the GPU's dense
bf16 peak that the UNet reaches. The issue's goal is at most 3 s and 4 GB on an H100.

    python benchmarks/bench_generate.py                    # CPU (~2 min on 2 cores), then GPU if there is one
    python benchmarks/bench_generate.py --only gpu         # the GPU part alone
    python benchmarks/bench_generate.py --sizes 64x64 --steps 10 --no-docs
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, run_parts  # noqa: E402
from _models import (  # noqa: E402
    PROMPT,
    SD14,
    TINY,
    ModelSpec,
    bf16_peak_tflops,
    build,
    contention_note,
    count,
    first_frame,
    flops_of,
    in_fresh_process,
    median,
    peak_memory,
    reset_peak_memory,
    seconds_per_call,
)

from lamp_motion.models import (
    MotionOptions,
    VideoUNet,  # noqa: E402
)
from lamp_motion.models.speed import compile_video_unet  # noqa: E402
from lamp_motion.pipelines.lamp_pipeline import LampPipeline  # noqa: E402

PAGE = "performance.md"
SPECS = {"tiny": TINY, "sd14": SD14}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
GOAL_SECONDS, GOAL_GB = 3.0, 4.0  # the target for one 16x320x512 video on an H100


def lamp_pipeline(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> LampPipeline:
    """LAMP's pipeline over random-weight models of ``spec`` (all of LAMP's layers on)."""
    parts = build(spec, device, dtype)
    video = VideoUNet.inflate(parts.unet, MotionOptions(groupnorm="per_frame")).eval()
    return LampPipeline(parts.vae, parts.text_encoder, parts.tokenizer, video, parts.scheduler)


def measure_lamp(spec_name: str, device_name: str, dtype_name: str, frames: int, height: int, width: int, steps: int,
                 guidance: float, videos: int, warmup_steps: int, unet_calls: int, threads: int,
                 compile_backend: str | None = None) -> dict:
    """Seconds per video, peak memory and the UNet's FLOPs and speed for one setting.

    With ``compile_backend``, the video UNet is compiled with that torch.compile backend
    and the warm-up video (timed as ``warmup_s``) includes the compilation."""
    torch.set_num_threads(threads)
    spec, device, dtype = SPECS[spec_name], torch.device(device_name), DTYPES[dtype_name]
    pipe = lamp_pipeline(spec, device, dtype)
    if compile_backend is not None:
        compile_video_unet(pipe.unet, backend=compile_backend)
    image = first_frame(height, width)

    def video(num_steps: int) -> None:
        pipe(PROMPT, image, num_frames=frames, height=height, width=width, num_inference_steps=num_steps,
             guidance_scale=guidance, generator=0, output_type="np", progress=False)

    # 1. Warm-up, then timed videos inside one peak-memory window.
    in_use = reset_peak_memory(device)
    with torch.inference_mode():
        warmup_s = seconds_per_call(lambda: video(warmup_steps), device, 1)[0]
        reset_peak_memory(device)
        video_s = seconds_per_call(lambda: video(steps), device, videos)
    peak = peak_memory(device)

    # 2. One UNet call as the loop makes it: both guidance branches in one batch.
    batch = 2 if guidance > 1 else 1
    down = pipe.vae_scale_factor
    latents = torch.randn(batch, pipe.unet.config.in_channels, frames, height // down, width // down,
                          device=device, dtype=dtype)  # (b, c, f, h, w)
    text = torch.randn(batch, spec.max_length, pipe.unet.config.cross_attention_dim, device=device, dtype=dtype)
    timestep = torch.tensor(500, device=device)

    def unet_call() -> None:
        pipe.unet(latents, timestep, text)

    with torch.inference_mode():
        flops = flops_of(unet_call, device) if compile_backend is None else 0  # counting modes and dynamo do not mix
        seconds_per_call(unet_call, device, 2)  # warm-up
        unet_s = median(seconds_per_call(unet_call, device, unet_calls))
    return {"video_s": median(video_s), "all_video_s": video_s, "warmup_s": warmup_s, "peak_bytes": peak,
            "bytes_before": in_use,
            "unet_flops": flops, "unet_s": unet_s, "unet_params": count(pipe.unet), "batch": batch,
            "threads": torch.get_num_threads()}


def cpu_section(sizes: list[tuple[int, int]], frames: int, steps: int, guidance: float, videos: int,
                warmup_steps: int, unet_calls: int, threads: int) -> str:
    load_before = os.getloadavg()[0]
    rows = []
    for height, width in sizes:
        r = in_fresh_process(measure_lamp, "tiny", "cpu", "fp32", frames, height, width, steps, guidance, videos,
                             warmup_steps, unet_calls, threads)
        print(f"cpu {frames}x{height}x{width}: {r}", flush=True)
        unet_share = steps * r["unet_s"] / r["video_s"]
        rows.append([f"{frames}x{height}x{width}", r["video_s"], r["video_s"] / steps, r["peak_bytes"] / 2**20,
                     (r["peak_bytes"] - r["bytes_before"]) / 2**20, r["unet_flops"] / 1e9, r["unet_s"],
                     r["unet_flops"] / r["unet_s"] / 1e9, f"{unet_share:.0%}"])
    table = markdown_table(["frames x H x W", "s/video", "s/step", "peak RSS MB", "peak RSS - RSS after build MB",
                            "UNet GFLOP/call", "UNet s/call", "UNet GFLOP/s", "UNet share of video"], rows)
    plural = "s" if threads != 1 else ""
    return (f"LAMP generation on the CPU, {TINY.name} models with random weights (video UNet "
            f"{r['unet_params'] / 1e6:.2f}M parameters: UNet block_out_channels {TINY.unet['block_out_channels']}, "
            f"VAE {TINY.vae['block_out_channels']}, 2-layer text encoder of width {TINY.text['hidden_size']}), fp32, "
            f"{threads} torch thread{plural}. One video: {steps} DDIM steps, guidance {guidance} (a UNet batch of "
            f"{r['batch']} videos per step), AdaIN, VAE decoding and histogram matching, output as numpy frames. "
            f"s/video is the median of {videos} timed videos after a {warmup_steps}-step warm-up video, each size in "
            "a fresh process. Peak memory is the process's peak resident set (libraries included). UNet FLOPs are "
            "counted by `torch.utils.flop_counter.FlopCounterMode` on one UNet call; UNet s/call is the median of "
            f"{unet_calls} calls; its share of the video is steps x s/call / s/video. " + contention_note(load_before)
            + "\n\n" + table)


def gpu_section(height: int, width: int, frames: int, steps: int, guidance: float, videos: int, unet_calls: int,
                peak_override: float | None, device_name: str = "cuda", spec_name: str = "sd14") -> str:
    """The GPU section; ``device_name="cpu"`` and a small ``spec_name`` run its code paths on the CPU (a dry run)."""
    device = torch.device(device_name)
    r = measure_lamp(spec_name, device_name, "bf16", frames, height, width, steps, guidance, videos, steps, unet_calls,
                     torch.get_num_threads())
    print(f"gpu: {r}", flush=True)
    peak_tflops, peak_note = bf16_peak_tflops(device, peak_override) if device.type == "cuda" else (None, "-")
    achieved = r["unet_flops"] / r["unet_s"] / 1e12
    fraction = f"{achieved / peak_tflops:.1%}" if peak_tflops else "-"
    gb = r["peak_bytes"] / 1e9
    rows = [[f"{frames}x{height}x{width}", r["video_s"], gb, r["bytes_before"] / 1e9, r["unet_flops"] / 1e12,
             r["unet_s"] * 1e3, achieved, fraction, f"{steps * r['unet_s'] / r['video_s']:.0%}"]]
    table = markdown_table(["frames x H x W", "s/video", "peak GB allocated", "GB allocated before (weights)",
                            "UNet TFLOP/call", "UNet ms/call", "UNet TFLOP/s", "fraction of bf16 peak",
                            "UNet share of video"], rows)
    verdict = (f"Goal (issue): at most {GOAL_SECONDS:g} s and {GOAL_GB:g} GB per video on an H100: "
               f"{'met' if r['video_s'] <= GOAL_SECONDS else 'not met'} for time "
               f"({r['video_s']:.2f} s), {'met' if gb <= GOAL_GB else 'not met'} for memory ({gb:.2f} GB).")
    return (f"LAMP generation at Stable Diffusion 1.4 size on one GPU: SD 1.4's UNet, VAE and CLIP text encoder "
            f"configs with random weights, inflated into LAMP's video UNet ({r['unet_params'] / 1e6:.0f}M "
            f"parameters), everything bf16. One video: {steps} DDIM steps, guidance {guidance} (a UNet batch of "
            f"{r['batch']} per step), AdaIN, VAE decoding and histogram matching. s/video is the median of "
            f"{videos} videos after one warm-up video, timed with CUDA events; peak memory is "
            "`torch.cuda.max_memory_allocated` over the timed videos (1 GB = 10^9 bytes). UNet FLOPs: "
            "`torch.utils.flop_counter.FlopCounterMode` on one UNet call; UNet ms/call: median of "
            f"{unet_calls} calls timed with CUDA events; the GPU's dense bf16 peak is taken as {peak_note}.\n\n"
            + table + "\n\n" + verdict)


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} should be HEIGHTxWIDTH, e.g. 320x512") from None
    if height <= 0 or width <= 0 or height % 8 or width % 8:
        raise argparse.ArgumentTypeError(f"size {text!r}: height and width must be positive multiples of 8")
    return height, width


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("cpu", "gpu"), help="run one part only")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (CPU and GPU)")
    parser.add_argument("--guidance", type=float, default=12.5, help="classifier-free guidance scale (CPU and GPU)")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(64, 64), (80, 128), (160, 256)],
                        help="CPU video sizes, HEIGHTxWIDTH")
    parser.add_argument("--steps", type=int, default=25, help="CPU DDIM steps")
    parser.add_argument("--videos", type=int, default=3, help="timed CPU videos per size")
    parser.add_argument("--warmup-steps", type=int, default=2, help="DDIM steps of the CPU warm-up video")
    parser.add_argument("--unet-calls", type=int, default=3, help="timed CPU UNet calls")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the CPU part (1: on a loaded shared machine 2 threads stall)")
    parser.add_argument("--gpu-size", type=parse_size, default=(320, 512), help="GPU video size, HEIGHTxWIDTH")
    parser.add_argument("--gpu-steps", type=int, default=50, help="GPU DDIM steps")
    parser.add_argument("--gpu-videos", type=int, default=3, help="timed GPU videos after the warm-up video")
    parser.add_argument("--gpu-unet-calls", type=int, default=20, help="timed GPU UNet calls")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, if its name is not known")
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave docs/{PAGE} alone")
    args = parser.parse_args(argv)

    run_parts(args, PAGE, "generate",
              lambda: cpu_section(args.sizes, args.frames, args.steps, args.guidance, args.videos, args.warmup_steps,
                                  args.unet_calls, args.threads),
              lambda: gpu_section(*args.gpu_size, args.frames, args.gpu_steps, args.guidance, args.gpu_videos,
                                  args.gpu_unet_calls, args.peak_tflops))

if __name__ == "__main__":
    main()
