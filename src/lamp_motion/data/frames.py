"""Frame-level helpers: clip length, resizing to the training size, pixels for the model.

Numpy videos are ``uint8`` ``(f, h, w, 3)``; model pixels are ``float32``
``(c, f, h, w)`` in ``[-1, 1]``.
"""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange
from PIL import Image


def clip_span(num_frames: int, stride: int) -> int:
    """Frames a clip of ``num_frames`` frames, taken every ``stride``-th frame, spans in the video."""
    return (num_frames - 1) * stride + 1


def resize_and_center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale frames, keeping their aspect ratio, until they cover ``height x width``; crop the centre.

    Args:
        frames: ``(f, h, w, 3)`` ``uint8``.

    Returns:
        ``(f, height, width, 3)`` ``uint8``. Frames that already cover the size exactly
        along one side are only cropped, never resampled.
    """
    _, old_height, old_width, _ = frames.shape
    scale = max(height / old_height, width / old_width)
    new_height = max(height, round(old_height * scale))
    new_width = max(width, round(old_width * scale))
    frames = _resize(frames, new_height, new_width)
    top, left = (new_height - height) // 2, (new_width - width) // 2
    return np.ascontiguousarray(frames[:, top : top + height, left : left + width])


RESIZE_MODES = ("crop", "stretch", "pad")  # how frames of another aspect ratio are fitted to the training size


def resize_frames(frames: np.ndarray, height: int, width: int, mode: str = "crop") -> np.ndarray:
    """Fit frames ``(f, h, w, 3)`` ``uint8`` to ``height x width``.

    ``mode``: ``"crop"`` scales until the frames cover the size and crops the centre
    (:func:`resize_and_center_crop`); ``"stretch"`` scales each side on its own, as the
    authors' release does (shapes get squeezed); ``"pad"`` scales until the frames fit
    inside and pads the rest with black, centred (nothing is lost, borders are seen).
    """
    if mode == "crop":
        return resize_and_center_crop(frames, height, width)
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r} is unknown; use one of {', '.join(RESIZE_MODES)}")
    _, old_height, old_width, _ = frames.shape
    if mode == "stretch":
        return _resize(frames, height, width)
    scale = min(height / old_height, width / old_width)
    new_height = min(height, max(1, round(old_height * scale)))
    new_width = min(width, max(1, round(old_width * scale)))
    padded = np.zeros((len(frames), height, width, 3), dtype=np.uint8)
    top, left = (height - new_height) // 2, (width - new_width) // 2
    padded[:, top : top + new_height, left : left + new_width] = _resize(frames, new_height, new_width)
    return padded


def _resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Frames ``(f, h, w, 3)`` resampled (bicubic) to exactly ``height x width``; unchanged if already that size."""
    if frames.shape[1:3] == (height, width):
        return np.ascontiguousarray(frames)
    return np.stack([np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BICUBIC)) for frame in frames])


def frames_to_pixels(frames: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(f, h, w, 3)`` -> ``float32`` ``(c, f, h, w)`` in ``[-1, 1]``."""
    video = rearrange(torch.from_numpy(np.ascontiguousarray(frames)), "f h w c -> c f h w")
    return video.float() / 127.5 - 1.0
