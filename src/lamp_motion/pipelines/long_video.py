"""Videos longer than the model's window, by chaining windows.

Window k+1 starts from a frame of window k: with ``overlap = 1`` the last frame of a
window is frame 1 of the next, so consecutive windows share exactly that frame; with
``overlap = o > 1`` the next window starts from the o-th last frame and the o - 1
frames both windows make are cross-faded in latent space (linearly, from the old
window to the new one). Everything is joined in latent space and decoded once, and
the whole video is histogram-matched to its first frame.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..settings import SamplingSettings
from .lamp_pipeline import LampOutput, LampPipeline, StepCallback
from .postprocess import match_histograms


def window_starts(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """(first frame index, window length) of each window covering ``num_frames`` frames."""
    if window < 2:
        raise ValueError(f"window={window} must be at least 2 frames")
    if not 1 <= overlap < window:
        raise ValueError(f"overlap={overlap} must be between 1 and window - 1 = {window - 1}")
    spans, start = [], 0
    while True:
        length = min(window, num_frames - start)
        spans.append((start, length))
        if start + length >= num_frames:
            return spans
        start += length - overlap


@torch.no_grad()
def generate_long(pipe: LampPipeline, prompt: str, first_frame, settings: SamplingSettings, window: int,
                  overlap: int = 1, generator: torch.Generator | int | None = None, output_type: str = "np",
                  decode_chunk: int = 2, progress: bool = True,
                  callback_on_step_end: StepCallback | None = None) -> LampOutput:
    """Generate ``settings.frames`` frames with windows of ``window`` frames.

    ``settings``: resolved (``pipe.resolve(...)``; its ``window`` is the motion's), as for ``LampPipeline.sample``;
    ``callback_on_step_end``: as there, called at every denoising step of every window."""
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    video: torch.Tensor | None = None  # (1, c, f, h, w) joined latents
    notes: list[str] = []
    for start, length in window_starts(settings.frames, window, overlap):
        if video is None:
            condition = first_frame
        else:
            condition = video[:, :, start]
        part_settings = replace(settings, frames=length, histogram_matching=False)
        out = pipe.sample(prompt, condition, part_settings, generator=generator, output_type="latent", progress=progress,
                          callback_on_step_end=callback_on_step_end)
        notes += out.notes
        part = out.latents  # (1, c, length, h, w); part[:, :, 0] is the condition frame
        if video is None:
            video = part
            continue
        shared = video.shape[2] - start  # frames both windows cover (the first is the condition itself)
        weights = torch.linspace(0, 1, shared + 1, device=part.device)[1:-1].view(1, 1, -1, 1, 1) if shared > 1 else None
        if weights is not None:
            video[:, :, start + 1:] = (1 - weights) * video[:, :, start + 1:] + weights * part[:, :, 1:shared]
        video = torch.cat([video, part[:, :, shared:]], dim=2)
    frames = pipe.decode_latents(video, chunk=decode_chunk)  # (1, f, H, W, 3)
    if settings.histogram_matching:
        frames = np.stack([match_histograms(v, v[0]) for v in frames])
    if output_type == "pt":
        result = torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() / 255.0
    elif output_type == "pil":
        from PIL import Image

        result = [[Image.fromarray(f) for f in v] for v in frames]
    else:
        result = frames
    return LampOutput(frames=result, latents=video, notes=notes)
