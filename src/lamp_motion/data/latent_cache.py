"""VAE latent distributions of the training videos, encoded once.

An *encode function* maps pixels ``(n, 3, h, w)`` in ``[-1, 1]`` to the latent
distribution ``(mean, std)``, each ``(n, c, h', w')`` (``h' = h / 8`` for Stable
Diffusion's VAE). It does not apply the VAE scaling factor: the training loop samples
``mean + std * noise`` and scales it itself. :func:`vae_encoder` builds one from an
``AutoencoderKL``.

:class:`LatentCache` encodes every frame of every video once (and every mirrored frame
once when flips are on: the VAE does not commute with mirroring, so mirrored pixels
are encoded rather than mirrored latents). A clip's latents from the cache equal
:func:`encode_clip` applied to :func:`~lamp_motion.data.clips.clip_pixels`, which is
what training without the cache computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from einops import rearrange

from lamp_motion.data.clips import ClipIndex
from lamp_motion.data.frames import clip_span, frames_to_pixels
from lamp_motion.data.video_set import VideoSet

EncodeFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
LatentDist = tuple[torch.Tensor, torch.Tensor]  # (mean, std)

ENCODE_CHUNK = 8  # frames per encoder call: bounds the VAE's activation memory


def vae_encoder(vae: torch.nn.Module) -> EncodeFn:
    """An encode function for a diffusers ``AutoencoderKL``: its latent mean and std as ``float32``.

    Pixels are moved to the VAE's device and dtype; the results stay on that device.
    """

    def encode(pixels: torch.Tensor) -> LatentDist:
        distribution = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
        return distribution.mean.float(), distribution.std.float()

    return encode


def encode_frames(pixels: torch.Tensor, encode_fn: EncodeFn, chunk: int = ENCODE_CHUNK) -> LatentDist:
    """Encode ``(n, 3, h, w)`` pixels ``chunk`` frames at a time, without gradients -> ``(n, c, h', w')`` each."""
    with torch.no_grad():
        parts = [encode_fn(piece) for piece in pixels.split(chunk)]
    return torch.cat([mean for mean, _ in parts]), torch.cat([std for _, std in parts])


def encode_clip(pixels: torch.Tensor, encode_fn: EncodeFn, chunk: int = ENCODE_CHUNK) -> LatentDist:
    """Encode a clip ``(c, f, h, w)`` frame by frame -> ``(mean, std)``, each ``(c', f, h', w')``."""
    mean, std = encode_frames(rearrange(pixels, "c f h w -> f c h w"), encode_fn, chunk)
    return rearrange(mean, "f c h w -> c f h w"), rearrange(std, "f c h w -> c f h w")


@dataclass
class LatentCache:
    """Per-video latent distributions of all frames, plain and (optionally) mirrored."""

    num_frames: int  # frames per clip
    stride: int  # clip frame stride
    latents: dict[bool, list[LatentDist]]  # flipped? -> per video (mean, std), each (f, c, h', w')

    @classmethod
    def build(cls, video_set: VideoSet, encode_fn: EncodeFn, flip: bool, chunk: int = ENCODE_CHUNK) -> LatentCache:
        """Encode every frame of ``video_set`` (and its mirror image if ``flip``) once."""
        latents: dict[bool, list[LatentDist]] = {False: []}
        if flip:
            latents[True] = []
        for video in video_set.videos:
            pixels = rearrange(frames_to_pixels(video.frames), "c f h w -> f c h w")
            for mirrored in latents:
                latents[mirrored].append(encode_frames(pixels.flip(-1) if mirrored else pixels, encode_fn, chunk))
        return cls(video_set.num_frames, video_set.stride, latents)

    def clip_latent_dist(self, clip: ClipIndex) -> LatentDist:
        """The clip's latent ``(mean, std)``, each ``(c', f, h', w')``."""
        if clip.flip not in self.latents:
            raise ValueError(
                "the clip is mirrored but the latent cache was built with flip=False; build it with flip=True"
            )
        mean, std = self.latents[clip.flip][clip.video]
        frames = slice(clip.start, clip.start + clip_span(self.num_frames, self.stride), self.stride)
        if frames.stop > len(mean):
            raise IndexError(f"clip {clip} runs past the {len(mean)} frames of video {clip.video}")
        return rearrange(mean[frames], "f c h w -> c f h w"), rearrange(std[frames], "f c h w -> c f h w")
