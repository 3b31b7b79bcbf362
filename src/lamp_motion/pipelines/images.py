"""First-frame images: loading a user's picture, fitting it to the model size, tensors and back.

Sizes in messages are written ``width x height``, as image viewers and PIL give them;
function arguments take ``height, width`` like tensors do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError


def load_image(path: str | os.PathLike[str], notes: list[str] | None = None) -> Image.Image:
    """Read an image file as an RGB PIL image, turned upright by its EXIF orientation.

    Transparent pixels are composited over black (as video frames are, see
    :mod:`lamp_motion.video_io`), never given the colour hidden under them; ``notes``,
    if given, gets a line saying so. Only image decoders run (Pillow); nothing is
    unpickled. A missing or unreadable file raises an error naming it.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        where = "is a folder, not an image file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"image {path} {where}; pass the path of a PNG, JPEG or WebP file")
    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            if upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in upright.info:
                upright = upright.convert("RGBA")
                if upright.getextrema()[3][0] < 255:
                    if notes is not None:
                        notes.append(f"image {path.name} has transparent pixels: composited over black")
                    return Image.alpha_composite(Image.new("RGBA", upright.size, (0, 0, 0, 255)), upright).convert("RGB")
            return upright.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise ValueError(f"could not read {path} as an image ({error}); pass a PNG, JPEG or WebP file") from error


def fit_image(image: Image.Image, height: int, width: int) -> tuple[Image.Image, str | None]:
    """Resize ``image`` to cover ``height x width`` keeping its aspect ratio, then centre-crop.

    The scale is ``s = max(width / W, height / H)`` for an image of ``W x H``; the resized
    image is ``max(width, round(W * s)) x max(height, round(H * s))`` and its centre
    ``width x height`` is kept. Returns the image and a note saying what was done, e.g.
    ``"resized 640x480 -> 43x32 and centre-cropped to 32x32"``, or ``None`` when the
    image already had the target size (it is then returned as it is).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"the target size must be positive, got height={height}, width={width}")
    source_width, source_height = image.size
    if (source_width, source_height) == (width, height):
        return image, None
    scale = max(width / source_width, height / source_height)
    resized_size = (max(width, round(source_width * scale)), max(height, round(source_height * scale)))
    resized = image.resize(resized_size, Image.Resampling.LANCZOS)
    note = f"resized {source_width}x{source_height} -> {resized_size[0]}x{resized_size[1]}"
    if resized_size == (width, height):
        return resized, note
    left = (resized_size[0] - width) // 2
    top = (resized_size[1] - height) // 2
    cropped = resized.crop((left, top, left + width, top + height))
    return cropped, f"{note} and centre-cropped to {width}x{height}"


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB image as a ``(1, 3, h, w)`` float32 tensor in ``[-1, 1]``: ``x = v / 127.5 - 1``."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)  # (h, w, 3)
    return torch.from_numpy(pixels / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)


def tensor_to_images(images: torch.Tensor) -> list[Image.Image]:
    """``(b, 3, h, w)`` values in ``[-1, 1]`` as ``b`` RGB images: ``v = round((clamp(x) + 1) * 127.5)``."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"tensor_to_images expects (b, 3, h, w), got {tuple(images.shape)}; fold a video's frames into the batch first ((b, 3, f, h, w) -> ((b f), 3, h, w))")
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(frame.permute(1, 2, 0).cpu().numpy()) for frame in pixels]
