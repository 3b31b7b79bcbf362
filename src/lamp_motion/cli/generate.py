"""``lamp generate``: videos with a learnt motion, first frames from an image, a T2I model or the base."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._errors import run_with_user_errors

DTYPES = ("auto", "fp32", "fp16", "bf16")


def frame_rate(text: str) -> float:
    """argparse type of --fps: a frame rate above 0."""
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a frame rate; give frames per second above 0, e.g. 8")
    return value


def add_shared_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that `generate` and `edit` share."""
    parser.add_argument("--motion", required=True, help="motion file written by `lamp train` (.safetensors)")
    parser.add_argument("--prompt", required=True, help='video prompt, e.g. "a horse runs in the snow"')
    parser.add_argument("--base", default=None, help="base model (default: the one the motion was trained on)")
    parser.add_argument("--out", default="outputs/videos", help="output folder")
    parser.add_argument("--height", type=int, default=None, help="video height (default: the motion's training size)")
    parser.add_argument("--width", type=int, default=None, help="video width (default: the motion's training size)")
    parser.add_argument("--steps", type=int, default=None,
                        help="DDIM steps (default: the motion file's setting, else the paper's 50)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale, <= 1: off (default: the motion file's setting, else the paper's 12.5)")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=frame_rate, default=8.0, help="frame rate of the written mp4 and gif")
    parser.add_argument("--no-adain", action="store_true", help="turn latent AdaIN off")
    parser.add_argument("--no-histogram-matching", action="store_true", help="turn pixel histogram matching off")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--dtype", default="auto", choices=DTYPES, help="weights dtype (default: fp16 on GPU, fp32 on CPU)")
    parser.add_argument("--allow-other-base", action="store_true", help="apply the motion to a base it was not trained on")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="make videos with a learnt motion",
                                   description="Make videos: the first frame from --image, --t2i MODEL or the base model, "
                                               "then the following frames with the motion.")
    add_shared_arguments(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", default=None, help="first frame from this image (real-image animation)")
    source.add_argument("--t2i", default=None, metavar="MODEL",
                        help="first frame from a diffusers text-to-image model (hub id or folder), e.g. stabilityai/stable-diffusion-xl-base-1.0")
    parser.add_argument("--image-prompt", default=None, help="prompt of the first-frame model (default: --prompt)")
    parser.add_argument("--t2i-steps", type=int, default=30, help="steps of the first-frame model")
    parser.add_argument("--t2i-guidance", type=float, default=7.0, help="guidance of the first-frame model")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default: the motion's window; more chains windows)")
    parser.add_argument("--overlap", type=int, default=1, help="frames shared by consecutive windows of a long video")
    parser.add_argument("--num-videos", type=int, default=1, help="videos to make, with seeds seed, seed+1, ...")
    parser.add_argument("--shared-noise", type=float, default=0.2, help="shared-noise weight alpha (0 = off)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the video UNet (the first video compiles, later ones at that size are faster)")
    parser.add_argument("--no-tf32", action="store_true", help="keep fp32 matmuls in full fp32 on Ampere+ GPUs")
    parser.set_defaults(func=run)


def resolve_device(name: str, dtype: str):
    import torch

    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))
    if dtype == "auto":
        dtype = "fp16" if device.type == "cuda" else "fp32"
    return device, {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def run(args: argparse.Namespace) -> int:
    return run_with_user_errors(lambda: generate(args))


def generate(args: argparse.Namespace) -> int:
    if args.num_videos < 1:
        raise ValueError(f"--num-videos={args.num_videos} must be at least 1")
    prompt = (args.prompt, args.image_prompt or args.prompt)
    generate_videos(args, [(*prompt, args.seed + i) for i in range(args.num_videos)])
    return 0


def generate_videos(args: argparse.Namespace, jobs: list[tuple[str, str, int]]) -> list[Path]:
    """One video per ``(prompt, image prompt, seed)`` job with the settings in ``args``; the JSON paths written.

    Everything but the prompts and seeds comes from ``args`` (a parsed `lamp generate`
    command line): the first-frame model and the base are loaded once for all jobs.
    """
    from ..files import check_output_folder
    from ..models import read_motion_header
    from ..models.loading import load_base
    from ..models.speed import allow_tf32, compile_video_unet
    from ..pipelines.first_frame import first_frames_from_base, first_frames_from_t2i
    from ..pipelines.images import load_image
    from ..pipelines.lamp_pipeline import DEFAULT_SIZE, LampPipeline, resolve_generation
    from ..pipelines.long_video import generate_long
    from ..pipelines.outputs import slug, write_outputs

    header = read_motion_header(args.motion)
    trained = header.trained_size
    height = args.height or trained["height"] or DEFAULT_SIZE["height"]
    width = args.width or trained["width"] or DEFAULT_SIZE["width"]
    window = trained["num_frames"] or 16
    frames = args.frames if args.frames is not None else window
    sampling, sources = resolve_generation({"steps": args.steps, "guidance": args.guidance}, header.generation, "command line")
    LampPipeline.check_inputs(frames, height, width, sampling["steps"], sampling["guidance"], args.shared_noise, "np")
    device, dtype = resolve_device(args.device, args.dtype)
    allow_tf32(not args.no_tf32)
    seeds = [seed for _, _, seed in jobs]
    image_prompts = [image_prompt for _, image_prompt, _ in jobs]
    image_notes: list[str] = []
    image = load_image(args.image, image_notes) if args.image else None  # fail on a bad image before loading any model
    check_output_folder(args.out, "--out")

    # 1. First frames: the user's image, a T2I model (released before the video stage), or the base.
    if args.t2i:
        images, source = first_frames_from_t2i(args.t2i, image_prompts, seeds, height, width, device, dtype,
                                               args.t2i_steps, args.t2i_guidance), f"t2i:{args.t2i}"
    base = load_base(args.base if args.base is not None else (header.metadata.get("base") or None), dtype=dtype)
    if image is not None:
        images, source = [image] * len(jobs), f"image:{args.image}"
    elif not args.t2i:
        for part in (base.unet, base.vae, base.text_encoder):
            part.to(device)
        images, source = first_frames_from_base(base, image_prompts, seeds, height, width, device, args.t2i_steps,
                                                args.t2i_guidance), "base"

    # 2. The video model: inflate the base and load the motion.
    pipe = LampPipeline.from_base(base, args.motion, allow_other_base=args.allow_other_base).to(device)
    if args.compile:
        compile_video_unet(pipe.unet)
    out_dir = Path(args.out)
    settings = dict(motion=str(args.motion), motion_prompt=header.prompt, base=base.source,
                    first_frame=source, height=height, width=width, frames=frames, window=window, overlap=args.overlap,
                    steps=sampling["steps"], guidance=sampling["guidance"], setting_sources=sources,
                    negative_prompt=args.negative_prompt, shared_noise=args.shared_noise, adain=not args.no_adain,
                    histogram_matching=not args.no_histogram_matching, device=str(device), dtype=str(dtype),
                    compile=args.compile)
    common = dict(height=height, width=width, num_inference_steps=sampling["steps"], guidance_scale=sampling["guidance"],
                  negative_prompt=args.negative_prompt, shared_noise_alpha=args.shared_noise, adain=not args.no_adain,
                  histogram_matching=not args.no_histogram_matching)
    written = []
    for index, ((prompt, image_prompt, seed), first) in enumerate(zip(jobs, images)):
        # 3. One video per job; longer than the window: chained windows.
        if frames > window:
            out = generate_long(pipe, prompt, first, frames, window=window, overlap=args.overlap, generator=seed, **common)
        else:
            out = pipe(prompt, first, num_frames=frames, generator=seed, **common)
        for note in image_notes + out.notes:
            print(f"note: {note}")
        record = {"prompt": prompt, **settings, "image_prompt": None if image is not None else image_prompt, "seed": seed}
        path = write_outputs(out_dir, f"{slug(prompt)}-seed{seed}", out.frames[0], args.fps, record)
        print(f"video {index + 1}/{len(jobs)}: {path.with_suffix('.mp4')}")
        written.append(path)
    return written
