"""Speed options for the video UNet: ``torch.compile``, TF32 matmuls, fused attention kernels.

* :func:`compile_video_unet` compiles the inflated UNet in place (``nn.Module.compile``),
  so parameter names, motion files and hooks are unchanged; the frame count is a guard
  of the compiled graph (a new frame count compiles once more).
* :func:`allow_tf32` lets fp32 matmuls and convolutions use TF32 tensor cores on
  Ampere and newer NVIDIA GPUs (no effect elsewhere, nor on fp16/bf16 work).
* :func:`fused_attention_only` runs a block with the math (unfused) attention kernel
  switched off: every ``scaled_dot_product_attention`` call then either gets a fused
  kernel (flash, memory-efficient or cuDNN on a GPU; the flash kernel on the CPU) or
  raises, naming why the fused kernels refused it (a mask, a layout, a dtype).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

FUSED_ATTENTION = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]


def compile_video_unet(video: torch.nn.Module, **options) -> torch.nn.Module:
    """Compile ``video.unet`` in place with ``torch.compile(**options)``; returns ``video``.

    The first call at each frame count and latent size compiles (seconds to minutes);
    later calls at that size run the compiled graph.
    """
    video.unet.compile(**options)
    return video


def allow_tf32(enabled: bool = True) -> None:
    """Allow (or forbid) TF32 in fp32 matmuls and cuDNN convolutions, process-wide."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


@contextmanager
def fused_attention_only():
    """Inside, attention that cannot run in a fused SDPA kernel raises instead of using the math kernel."""
    with sdpa_kernel(FUSED_ATTENTION):
        yield
