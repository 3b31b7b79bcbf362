"""``lamp edit``: one video, edited through its first frame, with the motion tuned on that video."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._errors import run_with_user_errors
from .generate import add_shared_arguments, resolve_device


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("edit", help="edit one video through an edited first frame",
                                   description="Edit one video: DDIM-invert the source video (--video) with the motion "
                                               "tuned on it, then generate from that noise with an edited first frame, "
                                               "given (--image) or made from the source's canny edges with a ControlNet. "
                                               "The output plays at the source's frame rate divided by --stride unless "
                                               "--fps is given.")
    add_shared_arguments(parser)
    parser.add_argument("--video", required=True, help="the source video (the one the motion was tuned on)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", default=None, help="the edited first frame (an image file)")
    source.add_argument("--canny-controlnet", default=None, metavar="MODEL",
                        help="make the edited first frame with this canny ControlNet (hub id or folder), "
                             "e.g. diffusers/controlnet-canny-sdxl-1.0, from the source's first frame")
    parser.add_argument("--canny-image-model", default=None, metavar="MODEL",
                        help="the image model the ControlNet belongs to, e.g. stabilityai/stable-diffusion-xl-base-1.0")
    parser.add_argument("--image-prompt", default=None, help="prompt of the edited first frame (default: --prompt)")
    parser.add_argument("--canny-steps", type=int, default=30, help="steps of the ControlNet image model")
    parser.add_argument("--canny-guidance", type=float, default=7.0, help="guidance of the ControlNet image model")
    parser.add_argument("--canny-scale", type=float, default=1.0, help="ControlNet conditioning scale")
    parser.add_argument("--canny-thresholds", type=float, nargs=2, default=(100.0, 200.0), metavar=("LOW", "HIGH"),
                        help="canny hysteresis thresholds (ControlNet's annotator uses 100 200)")
    parser.add_argument("--frames", type=int, default=None, help="frames to edit (default: the motion's window, else 24)")
    parser.add_argument("--stride", type=int, default=None,
                        help="take every stride-th source frame (default: the motion's training stride, else 2)")
    parser.add_argument("--start", type=int, default=0, help="first source frame used")
    # --seed seeds only the ControlNet first frame: inversion and sampling are deterministic (DDIM).
    parser.set_defaults(func=run, out="outputs/edits", fps=None, seed=None)


def run(args: argparse.Namespace) -> int:
    return run_with_user_errors(lambda: edit(args))


def trained_stride(header) -> int | None:
    """The frame stride recorded in a motion file's training config (None where absent)."""
    import yaml

    try:
        config = yaml.safe_load(header.metadata.get("config") or "")
    except yaml.YAMLError:
        return None
    stride = config.get("stride") if isinstance(config, dict) else None
    return stride if isinstance(stride, int) else None


def edit(args: argparse.Namespace) -> int:
    from PIL import Image

    from ..files import check_output_folder
    from ..models import read_motion_header
    from ..models.loading import load_base
    from ..pipelines.canny import first_frame_from_canny
    from ..pipelines.editing import edit_video, source_clip
    from ..pipelines.first_frame import check_source
    from ..pipelines.images import fit_image, load_image
    from ..pipelines.lamp_pipeline import DEFAULT_SIZE, LampPipeline, resolve_generation
    from ..pipelines.outputs import slug, write_outputs
    from ..video_io import read_video

    # 1. Check everything that needs no model: motion header, sizes, source video, edited image.
    header = read_motion_header(args.motion)
    trained = header.trained_size
    height = args.height or trained["height"] or DEFAULT_SIZE["height"]
    width = args.width or trained["width"] or DEFAULT_SIZE["width"]
    frames = args.frames if args.frames is not None else (trained["num_frames"] or 24)
    stride = args.stride if args.stride is not None else (trained_stride(header) or 2)
    sampling, sources = resolve_generation({"steps": args.steps, "guidance": args.guidance}, header.generation, "command line")
    LampPipeline.check_inputs(frames, height, width, sampling["steps"], sampling["guidance"], 0.0, "np")
    if args.canny_controlnet and not args.canny_image_model:
        raise ValueError("--canny-controlnet needs --canny-image-model MODEL, the image model the ControlNet belongs to "
                         "(e.g. stabilityai/stable-diffusion-xl-base-1.0 for diffusers/controlnet-canny-sdxl-1.0)")
    if args.canny_image_model and not args.canny_controlnet:
        raise ValueError("--canny-image-model is used only with --canny-controlnet MODEL; with --image, leave it out")
    low, high = args.canny_thresholds
    if args.canny_controlnet and not 0 <= low <= high:
        raise ValueError(f"--canny-thresholds {low:g} {high:g}: need 0 <= LOW <= HIGH (ControlNet's annotator uses 100 200)")
    if args.canny_controlnet:  # both names, before either model loads
        check_source(args.canny_controlnet, "--canny-controlnet")
        check_source(args.canny_image_model, "--canny-image-model")
    notes: list[str] = []
    video, source_fps = read_video(args.video, notes)
    clip = source_clip(video, frames, stride, height, width, args.start, notes)
    image = load_image(args.image, notes) if args.image else None
    check_output_folder(args.out, "--out")
    device, dtype = resolve_device(args.device, args.dtype)
    out_dir = Path(args.out)
    name = f"{slug(args.prompt)}-edit"
    files = {"first_frame": f"{name}-first-frame.png"}

    # 2. The edited first frame: the user's image, or a ControlNet image model (released before the video stage).
    image_prompt = args.image_prompt or args.prompt
    if image is None:  # edges of the source's own first frame, at the image model's size (no upscaled clip frame)
        image, edges = first_frame_from_canny(Image.fromarray(video[args.start]), image_prompt, args.canny_controlnet,
                                              args.canny_image_model, height, width, device, dtype, seed=args.seed or 0,
                                              steps=args.canny_steps, guidance=args.canny_guidance,
                                              conditioning_scale=args.canny_scale, low=low, high=high)
        first_frame = f"canny:{args.canny_controlnet} with {args.canny_image_model}"
        files["canny_edges"] = f"{name}-canny.png"
        out_dir.mkdir(parents=True, exist_ok=True)
        edges.save(out_dir / files["canny_edges"])
    else:
        first_frame, image_prompt = f"image:{args.image}", None
        if args.seed is not None:
            notes.append("--seed has no effect with --image: DDIM inversion and DDIM sampling are deterministic "
                         "(the seed is used only to make a first frame with --canny-controlnet)")
    image, note = fit_image(image, height, width)
    if note:
        notes.append(f"edited first frame {note}")

    # 3. The video model, then inversion of the source and generation from it.
    base = load_base(args.base if args.base is not None else (header.metadata.get("base") or None), dtype=dtype)
    pipe = LampPipeline.from_base(base, args.motion, allow_other_base=args.allow_other_base).to(device)
    out = edit_video(pipe, clip, image, args.prompt, num_frames=frames, stride=1, height=height, width=width,
                     num_inference_steps=sampling["steps"], guidance_scale=sampling["guidance"], negative_prompt=args.negative_prompt,
                     adain=not args.no_adain, histogram_matching=not args.no_histogram_matching)
    for line in notes + out.notes:
        print(f"note: {line}")

    # 4. Video files, the edited first frame as given to the model, and every setting.
    fps = args.fps or source_fps / stride
    out_dir.mkdir(parents=True, exist_ok=True)
    image.save(out_dir / files["first_frame"])
    record = dict(prompt=args.prompt, motion=str(args.motion), motion_prompt=header.prompt, base=base.source,
                  source_video=str(args.video), source_fps=source_fps, start=args.start, stride=stride, frames=frames,
                  first_frame=first_frame, image_prompt=image_prompt, height=height, width=width, steps=sampling["steps"],
                  inversion="DDIM, empty prompt, no guidance, same steps", guidance=sampling["guidance"], setting_sources=sources,
                  negative_prompt=args.negative_prompt, shared_noise=0.0, adain=not args.no_adain,
                  histogram_matching=not args.no_histogram_matching, device=str(device), dtype=str(dtype),
                  seed=None if args.image else args.seed or 0, images=files)
    path = write_outputs(out_dir, name, out.frames[0], fps, record)
    print(f"edited video: {path.with_suffix('.mp4')}")
    return 0
