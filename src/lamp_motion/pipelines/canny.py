"""Edited first frames from canny edges: an edge map of the source frame, then a ControlNet image model.

The paper edits frame 1 of the source video with SD-XL + a canny ControlNet, so the
edit keeps the source's layout. :func:`canny_edges` is OpenCV's ``cv2.Canny(image,
low, high)`` written in numpy (no OpenCV dependency): 3x3 Sobel gradients with
replicated borders, L1 magnitude ``|dx| + |dy|`` taken from the colour channel where
it is largest, non-maximum suppression in four directions, and hysteresis with
8-connectivity. It follows OpenCV's definition step by step, so canny ControlNets
(trained on ``cv2.Canny(image, 100, 200)``) see the edge maps they expect (checked pixel for
pixel against OpenCV on smooth-noise, flat-shape and greyscale images); results may
differ from OpenCV's at a few pixels where gradients tie.

:func:`first_frame_from_canny` loads a ControlNet and an image pipeline (hub id or
diffusers folder; diffusers picks ``StableDiffusionControlNetPipeline`` or
``StableDiffusionXLControlNetPipeline`` from the image model), makes the image, and
releases both models before returning.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .first_frame import _native_size, _release, load_pretrained
from .images import fit_image

_TAN_22_5 = np.tan(np.pi / 8)
_TAN_67_5 = np.tan(3 * np.pi / 8)


def _sobel(channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 Sobel derivatives (dx, dy) of a (h, w) array, borders replicated."""
    p = np.pad(channel, 1, mode="edge")
    dx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    dy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return dx, dy


def _neighbours(mag: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mag`` shifted so that entry (i, j) holds mag[i + dy, j + dx] (zero outside)."""
    p = np.pad(mag, 1)
    h, w = mag.shape
    return p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def _hysteresis(candidates: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Candidates 8-connected to a strong pixel through other candidates (breadth first, frontier by frontier)."""
    h, w = candidates.shape
    row = w + 2  # the arrays are padded with a False border, so neighbour indices never leave them
    allowed = np.pad(candidates, 1).ravel()
    edges = np.pad(strong & candidates, 1).ravel()
    offsets = np.array([-row - 1, -row, -row + 1, -1, 1, row - 1, row, row + 1])
    frontier = np.flatnonzero(edges)
    while frontier.size:
        reached = (frontier[:, None] + offsets).ravel()
        frontier = np.unique(reached[allowed[reached] & ~edges[reached]])
        edges[frontier] = True
    return edges.reshape(h + 2, w + 2)[1:-1, 1:-1]


def canny_edges(image: Image.Image | np.ndarray, low: float = 100, high: float = 200) -> Image.Image:
    """Canny edges of an RGB image as an RGB image: white (255) edges on black, like ``cv2.Canny``.

    ``low`` and ``high`` are the hysteresis thresholds on the L1 gradient magnitude of
    3x3 Sobel derivatives of 0..255 pixels (OpenCV's scale; ControlNet's canny
    annotator uses 100 and 200).
    """
    if not 0 <= low <= high:
        raise ValueError(f"canny thresholds low={low}, high={high}: need 0 <= low <= high (ControlNet uses 100 and 200)")
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.int32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    # 1. Gradients of every channel; keep, per pixel, the channel with the largest L1 magnitude.
    grads = [_sobel(pixels[..., c]) for c in range(pixels.shape[-1])]
    dx = np.stack([g[0] for g in grads])  # (c, h, w)
    dy = np.stack([g[1] for g in grads])
    mags = np.abs(dx) + np.abs(dy)
    best = mags.argmax(axis=0)[None]
    mag, dx, dy = (np.take_along_axis(a, best, axis=0)[0] for a in (mags, dx, dy))  # (h, w) each

    # 2. Non-maximum suppression along the gradient direction (OpenCV's sectors and tie rules).
    ax, ay = np.abs(dx), np.abs(dy)
    horizontal = ay < ax * _TAN_22_5
    vertical = ay > ax * _TAN_67_5
    same_sign = (dx * dy) >= 0
    keep = np.where(horizontal, (mag > _neighbours(mag, 0, -1)) & (mag >= _neighbours(mag, 0, 1)),
                    np.where(vertical, (mag > _neighbours(mag, -1, 0)) & (mag >= _neighbours(mag, 1, 0)),
                             np.where(same_sign,
                                      (mag > _neighbours(mag, -1, -1)) & (mag > _neighbours(mag, 1, 1)),
                                      (mag > _neighbours(mag, -1, 1)) & (mag > _neighbours(mag, 1, -1)))))
    candidates = keep & (mag > low)

    # 3. Hysteresis: strong edges, grown through connected candidates.
    edges = _hysteresis(candidates, mag > high)
    out = np.where(edges, 255, 0).astype(np.uint8)
    return Image.fromarray(np.stack([out] * 3, axis=-1))


@torch.no_grad()
def first_frame_from_canny(source: Image.Image, prompt: str, controlnet: str, image_model: str, height: int, width: int,
                           device: torch.device, dtype: torch.dtype, seed: int = 0, steps: int = 30,
                           guidance: float = 7.0, conditioning_scale: float = 1.0, negative_prompt: str | None = None,
                           low: float = 100, high: float = 200) -> tuple[Image.Image, Image.Image]:
    """An edited first frame following the canny edges of ``source``: (image fitted to height x width, edge map).

    controlnet, image_model: hub ids or diffusers folders of a canny ControlNet and of the image
    model it belongs to (e.g. diffusers/controlnet-canny-sdxl-1.0 with
    stabilityai/stable-diffusion-xl-base-1.0). The image is made at the image model's
    own resolution with the video's aspect ratio, then fitted to the video size.
    """
    from diffusers import AutoPipelineForText2Image, ControlNetModel

    net = load_pretrained(ControlNetModel.from_pretrained, controlnet, "canny_controlnet", torch_dtype=dtype)
    pipe = load_pretrained(AutoPipelineForText2Image.from_pretrained, image_model, "canny_image_model", controlnet=net,
                           torch_dtype=dtype)
    try:
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        size = _native_size(pipe, height, width)
        edges = canny_edges(fit_image(source.convert("RGB"), *size)[0], low, high)
        image = pipe(prompt, image=edges, height=size[0], width=size[1], num_inference_steps=steps,
                     guidance_scale=guidance, negative_prompt=negative_prompt,
                     controlnet_conditioning_scale=conditioning_scale,
                     generator=torch.Generator().manual_seed(seed)).images[0]
    finally:
        del pipe, net
        _release(device)
    return fit_image(image, height, width)[0], edges
