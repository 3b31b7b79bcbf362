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
    if (new_height, new_width) != (old_height, old_width):
        frames = np.stack(
            [
                np.asarray(Image.fromarray(frame).resize((new_width, new_height), Image.Resampling.BICUBIC))
                for frame in frames
            ]
        )
    top, left = (new_height - height) // 2, (new_width - width) // 2
    return np.ascontiguousarray(frames[:, top : top + height, left : left + width])


def frames_to_pixels(frames: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(f, h, w, 3)`` -> ``float32`` ``(c, f, h, w)`` in ``[-1, 1]``."""
    video = rearrange(torch.from_numpy(np.ascontiguousarray(frames)), "f h w c -> c f h w")
    return video.float() / 127.5 - 1.0
