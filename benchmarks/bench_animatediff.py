"""LAMP against diffusers' AnimateDiff: seconds per video and peak memory on the same machine and sizes.

Both systems start from the same SD 1.x-architecture models with random weights (same
seed): LAMP inflates the UNet into its video UNet (``LampPipeline``); AnimateDiff gets
the 2D UNet and a ``MotionAdapter`` sized to it and builds its ``UNetMotionModel``
inside ``AnimateDiffPipeline``. Both sample with the same DDIM scheduler config,
16 frames, classifier-free guidance (one UNet call on a batch of 2 per step) and the
same output: decoded numpy frames by default, or latents with ``--output latent``.
LAMP's video also includes encoding its first frame, AdaIN and histogram matching;
AnimateDiff's is text-to-video, so it has none of these.

Full size on the CPU (section ``animatediff-fullsize-cpu``, the headline): one guided denoising
step of each video UNet alone, LAMP's ``VideoUNet`` against diffusers' ``UNetMotionModel`` built
from the same random-weight SD 1.4 UNet and a ``MotionAdapter()`` (SD 1.5 size), 16x320x512
latents of a batch of 2 videos (guidance's two branches), bf16, in one process, the systems
taking turns for several repeats: seconds, peak memory (weights + the step's peak resident rise)
and FLOPs (``FlopCounterMode`` on one more, untimed step of each, its warm-up). LAMP is also
timed with ``sequential_guidance`` (its two branches one after the other).

Reduced, on the CPU (section ``animatediff-cpu``): a reduced config (SD 1.x's
block structure at widths 32-64, see ``_models.REDUCED``), fewer steps, a small size,
fp32; each system in a fresh process. GPU (section ``animatediff-gpu``, only where CUDA
is available): SD 1.5 size (its UNet config is SD 1.4's) with the default
``MotionAdapter()``, 16x320x512, 50 DDIM steps, bf16, one warm-up video per system.

    python benchmarks/bench_animatediff.py                  # CPU (~2 min on 2 cores), then GPU if there is one
    python benchmarks/bench_animatediff.py --only fullsize  # full size on the CPU: ~6 GB free RAM, ~40 min, 1 thread
    python benchmarks/bench_animatediff.py --only gpu
    python benchmarks/bench_animatediff.py --size 64x64 --steps 5 --no-docs
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import inspect
import os
import sys
from pathlib import Path

import torch
from diffusers import AnimateDiffPipeline, MotionAdapter, UNet2DConditionModel, UNetMotionModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import markdown_table, run_parts, update_section  # noqa: E402
from _models import (  # noqa: E402
    PROMPT,
    REDUCED,
    SD14,
    ModelSpec,
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
from bench_fullsize_memory import module_bytes, peak_rss_rise  # noqa: E402
from bench_generate import DTYPES, lamp_pipeline, parse_size  # noqa: E402

from lamp_motion.models import MotionOptions, VideoUNet  # noqa: E402

PAGE = "performance.md"
SPECS = {"reduced": REDUCED, "sd15": SD14}  # SD 1.5's UNet, VAE and text encoder configs are SD 1.4's
SYSTEMS = ("LAMP", "AnimateDiff")


def adapter_config(spec: ModelSpec) -> dict:
    """MotionAdapter kwargs matching ``spec``'s UNet; at SD 1.x size they equal MotionAdapter()'s defaults."""
    return dict(block_out_channels=tuple(spec.unet["block_out_channels"]),
                motion_layers_per_block=spec.unet["layers_per_block"],
                motion_norm_num_groups=spec.unet["norm_num_groups"])


def adapter_changes(spec: ModelSpec) -> dict:
    """The adapter kwargs that differ from MotionAdapter()'s defaults."""
    defaults = {name: p.default for name, p in inspect.signature(MotionAdapter.__init__).parameters.items()}
    return {k: v for k, v in adapter_config(spec).items() if defaults.get(k) != v}


def animatediff_pipeline(spec: ModelSpec, device: torch.device, dtype: torch.dtype) -> AnimateDiffPipeline:
    """AnimateDiff over random-weight models of ``spec``; the pipeline builds the UNetMotionModel."""
    parts = build(spec, device, dtype)
    torch.manual_seed(1)
    with torch.device(device):  # the UNetMotionModel is created on the device, not in host memory
        adapter = MotionAdapter(**adapter_config(spec))
        pipe = AnimateDiffPipeline(vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer,
                                   unet=parts.unet, motion_adapter=adapter, scheduler=parts.scheduler)
    del parts
    pipe.to(device, dtype)
    pipe.unet.eval().requires_grad_(False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def capture_first_call(module: torch.nn.Module) -> dict:
    """Record (copies of) the arguments of ``module``'s next call, to replay it for counting FLOPs."""
    seen: dict = {}

    def hook(_module, args, kwargs):
        if not seen:
            clone = lambda v: v.clone() if torch.is_tensor(v) else v  # noqa: E731
            seen.update(args=tuple(clone(a) for a in args), kwargs={k: clone(v) for k, v in kwargs.items()})
            handle.remove()

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def measure(system: str, spec_name: str, device_name: str, dtype_name: str, frames: int, height: int, width: int,
            steps: int, guidance: float, videos: int, warmup_steps: int, output_type: str, threads: int) -> dict:
    """Seconds per video, peak memory and UNet FLOPs of one system."""
    torch.set_num_threads(threads)
    spec, device, dtype = SPECS[spec_name], torch.device(device_name), DTYPES[dtype_name]
    common = dict(num_frames=frames, height=height, width=width, guidance_scale=guidance, output_type=output_type)
    if system == "LAMP":
        pipe = lamp_pipeline(spec, device, dtype)
        image = first_frame(height, width)

        def video(num_steps: int) -> None:
            pipe(PROMPT, image, num_inference_steps=num_steps, generator=0, progress=False, **common)
        extra_params = pipe.unet.report["added_parameters"]
    else:
        pipe = animatediff_pipeline(spec, device, dtype)
        generator = torch.Generator().manual_seed(0)

        def video(num_steps: int) -> None:
            pipe(PROMPT, num_inference_steps=num_steps, generator=generator, **common)
        extra_params = count(pipe.motion_adapter)

    in_use = reset_peak_memory(device)
    call = capture_first_call(pipe.unet)
    with torch.inference_mode():
        video(warmup_steps)
        reset_peak_memory(device)
        video_s = seconds_per_call(lambda: video(steps), device, videos)
        peak = peak_memory(device)
        flops = flops_of(lambda: pipe.unet(*call["args"], **call["kwargs"]), device)
    return {"video_s": median(video_s), "all_video_s": video_s, "peak_bytes": peak, "bytes_before": in_use,
            "unet_flops": flops, "unet_params": count(pipe.unet), "motion_params": extra_params,
            "threads": torch.get_num_threads()}


def run_both(spec_name: str, device_name: str, dtype_name: str, fresh_processes: bool, **setting) -> dict[str, dict]:
    results = {}
    for system in SYSTEMS:
        args = (system, spec_name, device_name, dtype_name)
        results[system] = in_fresh_process(measure, *args, **setting) if fresh_processes else measure(*args, **setting)
        print(f"{device_name} {system}: {results[system]}", flush=True)
        gc.collect()
        if device_name == "cuda":
            torch.cuda.empty_cache()
    return results


def table(results: dict[str, dict], memory: str, scale: float) -> str:
    def rise(r: dict) -> int:
        return r["peak_bytes"] - r["bytes_before"]

    rows = [[name, r["video_s"], r["peak_bytes"] / scale, rise(r) / scale, f"{r['unet_params'] / 1e6:.1f}M",
             f"{r['motion_params'] / 1e6:.2f}M", r["unet_flops"] / 1e9] for name, r in results.items()]
    lamp, animatediff = results["LAMP"], results["AnimateDiff"]
    rows.append(["LAMP / AnimateDiff", lamp["video_s"] / animatediff["video_s"],
                 lamp["peak_bytes"] / animatediff["peak_bytes"], rise(lamp) / max(1, rise(animatediff)),
                 f"{lamp['unet_params'] / animatediff['unet_params']:.2f}", "-",
                 lamp["unet_flops"] / animatediff["unet_flops"]])
    return markdown_table(["system", "s/video", f"peak {memory}", f"{memory} rise during generation",
                           "video UNet parameters", "motion parameters (LAMP's added layers / MotionAdapter)",
                           "UNet GFLOP/call"], rows)


def describe(spec: ModelSpec, frames: int, height: int, width: int, steps: int, guidance: float,
             output_type: str) -> str:
    changes = adapter_changes(spec)
    adapter = (f"`MotionAdapter({', '.join(f'{k}={v}' for k, v in changes.items())})`" if changes
               else "the default `MotionAdapter()`")
    output = "decoded to numpy frames" if output_type == "np" else "latents only (no VAE decoding)"
    return (f"{frames} frames of {height}x{width}, {steps} DDIM steps, guidance {guidance} (UNet batch 2 per step), "
            f"output {output}. Models: {spec.name} configs with random weights (UNet block_out_channels "
            f"{tuple(spec.unet['block_out_channels'])}, layers_per_block {spec.unet['layers_per_block']}; VAE "
            f"{tuple(spec.vae['block_out_channels'])}; text encoder width {spec.text['hidden_size']}, "
            f"{spec.text['num_hidden_layers']} layers, {spec.max_length} tokens); AnimateDiff's adapter is {adapter}, "
            "built into a `UNetMotionModel` by `AnimateDiffPipeline`. LAMP: all of its layers (motion convs, "
            "first-frame attention, temporal attention), first frame encoded from an image, AdaIN and (when "
            "decoding) histogram matching included. UNet FLOPs: `FlopCounterMode` on a replay of each pipeline's "
            "first UNet call.")


def cpu_section(size: tuple[int, int], frames: int, steps: int, guidance: float, videos: int, warmup_steps: int,
                output_type: str, threads: int) -> str:
    height, width = size
    load_before = os.getloadavg()[0]
    results = run_both("reduced", "cpu", "fp32", True, frames=frames, height=height, width=width, steps=steps,
                       guidance=guidance, videos=videos, warmup_steps=warmup_steps, output_type=output_type,
                       threads=threads)
    plural = "s" if threads != 1 else ""
    return (f"LAMP vs AnimateDiff on the CPU, fp32, {threads} torch thread{plural}, at a reduced setting so that it "
            f"finishes: {describe(REDUCED, frames, height, width, steps, guidance, output_type)} Reduced from the GPU "
            "setting (SD 1.5-size models, 16x320x512, 50 steps, bf16): the models (UNet widths "
            f"{tuple(SD14.unet['block_out_channels'])} -> {tuple(REDUCED.unet['block_out_channels'])} with the same "
            f"blocks and layers per block; VAE widths {tuple(SD14.vae['block_out_channels'])} -> "
            f"{tuple(REDUCED.vae['block_out_channels'])} and layers per block {SD14.vae['layers_per_block']} -> "
            f"{REDUCED.vae['layers_per_block']}; text encoder {SD14.text['hidden_size']} wide x "
            f"{SD14.text['num_hidden_layers']} layers -> {REDUCED.text['hidden_size']} x "
            f"{REDUCED.text['num_hidden_layers']}; the MotionAdapter follows the UNet's widths), the resolution, "
            "the step count and the precision; frames, tokens and guidance are kept. s/video is the median of "
            f"{videos} timed videos per system after a {warmup_steps}-step warm-up video, each system in a fresh "
            "process; peak memory is the process's peak resident set (libraries included), "
            "the rise is that peak less the resident set after building the models. At this width the ratio "
            "reflects the per-layer overheads of each design more than the matmul work, so it need not carry over "
            "to full size. " + contention_note(load_before) + "\n\n" + table(results, "RSS MB", 2**20))


def gpu_section(size: tuple[int, int], frames: int, steps: int, guidance: float, videos: int, output_type: str,
                device_name: str = "cuda", spec_name: str = "sd15") -> str:
    """The GPU section; ``device_name="cpu"`` and ``spec_name="reduced"`` run its code paths on the CPU (a dry run)."""
    height, width = size
    results = run_both(spec_name, device_name, "bf16", False, frames=frames, height=height, width=width, steps=steps,
                       guidance=guidance, videos=videos, warmup_steps=steps, output_type=output_type,
                       threads=torch.get_num_threads())
    adapter_gb = results["AnimateDiff"]["motion_params"] * 2 / 1e9
    setting = describe(SPECS[spec_name], frames, height, width, steps, guidance, output_type)
    return (f"LAMP vs AnimateDiff on one GPU, bf16: {setting} "
            f"s/video is the median of {videos} videos after one warm-up video per system, timed with CUDA events; "
            "peak memory is `torch.cuda.max_memory_allocated` over the timed videos (1 GB = 10^9 bytes); the systems "
            "run one after the other in one process, the first freed before the second is built. AnimateDiff's "
            "pipeline keeps the `MotionAdapter` on the device besides the `UNetMotionModel` it was copied into "
            f"({adapter_gb:.2f} GB in bf16, part of its peak).\n\n" + table(results, "GB", 1e9))


# ---- full size on the CPU: one guided step of each video UNet ------------------------------------
FULLSIZE_SYSTEMS = ("LAMP", "LAMP, sequential_guidance", "AnimateDiff")


def video_unets() -> tuple[VideoUNet, UNetMotionModel]:
    """LAMP's video UNet and AnimateDiff's UNetMotionModel on one random-weight SD 1.4 UNet, bf16."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD14.unet).to(torch.bfloat16)
    torch.manual_seed(1)
    adapter = MotionAdapter(**adapter_config(SD14)).to(torch.bfloat16)
    animatediff = UNetMotionModel.from_unet2d(unet, adapter)  # copies the 2D weights and the motion modules
    del adapter
    lamp = VideoUNet.inflate(unet, MotionOptions())  # in place: the UNet's own weights, LAMP's default layers
    for model in (lamp, animatediff):
        model.eval().requires_grad_(False)
    return lamp, animatediff


def step_inputs(frames: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latents (2, c, f, h/8, w/8), a timestep and text (2, tokens, dim): guidance's two branches of one video."""
    generator = torch.Generator().manual_seed(2)
    latents = torch.randn(2, SD14.unet["in_channels"], frames, height // 8, width // 8, generator=generator)
    text = torch.randn(2, SD14.max_length, SD14.unet["cross_attention_dim"], generator=generator)
    return latents.to(torch.bfloat16), torch.tensor(500), text.to(torch.bfloat16)


def step_calls(lamp: VideoUNet, animatediff: UNetMotionModel, latents, t, text) -> dict:
    """One guided denoising step of each system, as a function of no arguments."""
    return {"LAMP": lambda: lamp(latents, t, text),
            "LAMP, sequential_guidance": lambda: torch.cat([lamp(x, t, e) for x, e in zip(latents.chunk(2),
                                                                                         text.chunk(2))]),
            # AnimateDiffPipeline gives the UNetMotionModel one text embedding per frame
            "AnimateDiff": lambda: animatediff(latents, t, text.repeat_interleave(latents.shape[2], dim=0)).sample}


def free_unused_memory() -> None:
    """Give freed heap memory back to the system, so the next call's resident rise is its own."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def fullsize_measure(frames: int, height: int, width: int, repeats: int, threads: int) -> dict:
    """Seconds and peak resident rise per step of each system (taking turns), their weights and FLOPs."""
    torch.set_num_threads(threads)
    with torch.inference_mode():
        lamp, animatediff = video_unets()
        weights = {"LAMP": module_bytes(lamp), "LAMP, sequential_guidance": module_bytes(lamp),
                   "AnimateDiff": module_bytes(animatediff)}
        added = {"LAMP": lamp.report["added_parameters"],
                 "AnimateDiff": count(animatediff) - (count(lamp) - lamp.report["added_parameters"])}
        calls = step_calls(lamp, animatediff, *step_inputs(frames, height, width))
        # The counted call of each system is its warm-up; the timed repeats take turns after.
        flops = {name: flops_of(call, torch.device("cpu")) for name, call in calls.items() if name != FULLSIZE_SYSTEMS[1]}
        flops[FULLSIZE_SYSTEMS[1]] = flops["LAMP"]  # the same UNet work on two batches of 1 (not counted again)
        print(f"FLOPs: {flops}", flush=True)
        seconds: dict[str, list[float]] = {name: [] for name in calls}
        rises: dict[str, list[int]] = {name: [] for name in calls}
        for repeat in range(repeats):
            for name, call in calls.items():
                free_unused_memory()
                rise, elapsed = peak_rss_rise(call)
                seconds[name].append(elapsed)
                rises[name].append(rise)
                print(f"repeat {repeat + 1}, {name}: {elapsed:.1f} s, peak rise {rise / 1e9:.2f} GB", flush=True)
    return {"seconds": seconds, "rises": rises, "weights": weights, "flops": flops,
            "parameters": {"LAMP": count(lamp), "AnimateDiff": count(animatediff)}, "added": added,
            "threads": torch.get_num_threads()}


def fullsize_section(frames: int, height: int, width: int, repeats: int, threads: int) -> str:
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"  # the child's big tensors are mapped and unmapped, not kept
    load_before = os.getloadavg()[0]
    r = in_fresh_process(fullsize_measure, frames, height, width, repeats, threads)
    print(r, flush=True)

    def peak(name: str) -> float:
        return r["weights"][name] + median(r["rises"][name])

    rows = []
    for name in FULLSIZE_SYSTEMS:
        times, rises = r["seconds"][name], r["rises"][name]
        rows.append([name, median(times), f"{min(times):.0f}-{max(times):.0f}", peak(name) / 1e9,
                     r["weights"][name] / 1e9, median(rises) / 1e9, f"{min(rises) / 1e9:.2f}-{max(rises) / 1e9:.2f}",
                     r["flops"][name] / 1e12])
    for name in ("LAMP", "LAMP, sequential_guidance"):
        other = "AnimateDiff"
        rows.append([f"{name} / {other}", median(r["seconds"][name]) / median(r["seconds"][other]), "-",
                     peak(name) / peak(other), r["weights"][name] / r["weights"][other],
                     median(r["rises"][name]) / median(r["rises"][other]), "-", r["flops"][name] / r["flops"][other]])
    table = markdown_table(["system", "s/step (median)", "s/step (range)", "peak GB (weights + median rise)",
                            "weights GB", "peak rise GB (median)", "rise range GB", "TFLOP/step"], rows)
    return (f"LAMP against AnimateDiff at full size on the CPU: one guided denoising step of each video UNet, "
            f"{frames} frames of {height}x{width} (latents {height // 8}x{width // 8}), guidance's two branches as a "
            f"batch of 2 videos, 77 text tokens, bf16, {threads} torch thread{'s' if threads != 1 else ''}. Both are "
            "built on one random-weight SD 1.4 UNet (SD 1.5's architecture): LAMP inflates it in place with its "
            "default layers (`MotionOptions()`: motion convs, first-frame attention, temporal attention, joint "
            f"GroupNorm; {r['added']['LAMP'] / 1e6:.0f}M added parameters), AnimateDiff's "
            f"`UNetMotionModel.from_unet2d` copies it and loads a `MotionAdapter()` ("
            f"{r['added']['AnimateDiff'] / 1e6:.0f}M motion parameters). One process, the three calls taking turns "
            f"for {repeats} repeats; the UNet calls only (no text encoder, VAE or scheduler, which the two share). "
            "Peak = the model's weights (summed tensor by tensor) + the step's peak resident-set rise (`VmHWM` reset "
            "before each call, freed heap returned to the system between calls and large tensors mapped on their "
            "own, so each call's rise is its own: an estimate of what `torch.cuda.max_memory_allocated` adds on a "
            "GPU, whose kernels differ). `LAMP, sequential_guidance` runs the two branches one after the other "
            "(`sequential_guidance=True` in `LampPipeline` and the CLI's `--sequential-guidance`). FLOPs: "
            "`FlopCounterMode` over one more, untimed call of each system before the repeats (its warm-up; the "
            "attention counted as its two matmuls; sequential guidance does the same work as two batches of 1 and "
            "is not counted again). " + contention_note(load_before) + "\n\n" + table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("cpu", "gpu", "fullsize"),
                        help="run one part only (fullsize: only when asked, it takes ~40 minutes)")
    parser.add_argument("--fullsize-size", type=parse_size, default=(320, 512), help="full-size part: HEIGHTxWIDTH")
    parser.add_argument("--repeats", type=int, default=3, help="full-size part: steps timed per system")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (CPU and GPU)")
    parser.add_argument("--guidance", type=float, default=12.5, help="classifier-free guidance scale (CPU and GPU)")
    parser.add_argument("--output", choices=("np", "latent"), default="np",
                        help="np: decode every frame (both systems); latent: stop before the VAE (both systems)")
    parser.add_argument("--size", type=parse_size, default=(80, 128), help="CPU video size, HEIGHTxWIDTH")
    parser.add_argument("--steps", type=int, default=10, help="CPU DDIM steps")
    parser.add_argument("--videos", type=int, default=3, help="timed CPU videos per system")
    parser.add_argument("--warmup-steps", type=int, default=1, help="DDIM steps of the CPU warm-up videos")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the CPU part (1: on a loaded shared machine 2 threads stall)")
    parser.add_argument("--gpu-size", type=parse_size, default=(320, 512), help="GPU video size, HEIGHTxWIDTH")
    parser.add_argument("--gpu-steps", type=int, default=50, help="GPU DDIM steps")
    parser.add_argument("--gpu-videos", type=int, default=3, help="timed GPU videos per system")
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave docs/{PAGE} alone")
    args = parser.parse_args(argv)

    if args.only == "fullsize":
        torch.set_num_threads(args.threads)  # the docs' machine line names the count used
        text = fullsize_section(args.frames, *args.fullsize_size, args.repeats, args.threads)
        print(text)
        if not args.no_docs:
            update_section(PAGE, "animatediff-fullsize-cpu", text)
        return
    run_parts(args, PAGE, "animatediff",
              lambda: cpu_section(args.size, args.frames, args.steps, args.guidance, args.videos, args.warmup_steps,
                                  args.output, args.threads),
              lambda: gpu_section(args.gpu_size, args.frames, args.gpu_steps, args.guidance, args.gpu_videos,
                                  args.output))

if __name__ == "__main__":
    main()
