"""DDIM inversion of a video's latents with the video UNet (for single-video editing).

Frames 2..N are run backwards through DDIM (empty prompt, no guidance) while frame 1
stays the clean source frame, exactly as the video UNet sees frame 1 when it samples.
Sampling forward from the result with the same frame 1 and prompt gives the source
back (up to DDIM's discretisation error); with an edited frame 1, it gives the edit
with the source's motion.
"""

from __future__ import annotations

import torch
from diffusers import DDIMInverseScheduler
from tqdm.auto import tqdm


@torch.no_grad()
def ddim_invert(pipe, latents: torch.Tensor, num_inference_steps: int = 50, prompt: str = "",
                progress: bool = True) -> torch.Tensor:
    """Clean video latents (b, c, f, h, w) -> the noisy latents DDIM sampling starts from."""
    if latents.ndim != 5:
        raise ValueError(f"ddim_invert expects latents (b, c, f, h, w), got {tuple(latents.shape)}")
    inverse = DDIMInverseScheduler.from_config(pipe.scheduler.config, clip_sample=False)
    inverse.set_timesteps(num_inference_steps, device=pipe.device)
    text = pipe.encode_prompt([prompt] * latents.shape[0]).to(pipe.unet.dtype)
    latents = latents.to(pipe.device, torch.float32)
    first = latents[:, :, :1]
    for t in tqdm(inverse.timesteps, desc="inverting", disable=not progress, leave=False):
        prediction = pipe.unet(latents.to(pipe.unet.dtype), t, text).float()
        stepped = inverse.step(prediction[:, :, 1:], t, latents[:, :, 1:]).prev_sample
        latents = torch.cat([first, stepped], dim=2)
    return latents
