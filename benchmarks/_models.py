"""Shared by the generation benchmarks: SD 1.x-architecture models with random weights, and measuring.

A model's cost does not depend on its weights, so the benchmarks build Stable Diffusion
1.x-architecture models from configs written out here (no download) with random
weights. Three sizes:

- ``TINY``: a 2-level UNet, an 8x VAE and a 2-layer text encoder — CPU-sized;
- ``REDUCED``: SD 1.x's block structure (4 levels, 2 layers per block, cross-attention
  on the first three, a mid block) with every width cut to 32-64 — the CPU stand-in
  when two systems are compared block for block;
- ``SD14``: Stable Diffusion 1.4's UNet, VAE and CLIP ViT-L/14 text encoder configs
  (SD 1.5 has the same architecture).

Measuring: seconds from ``torch.cuda.Event`` pairs on a GPU and ``time.perf_counter``
on the CPU; peak memory from ``torch.cuda.max_memory_allocated`` on a GPU and from
the process's peak resident set on the CPU (so CPU figures come from fresh processes).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from lamp_motion.testing import SD14_SCHEDULER, SD14_TEXT, SD14_UNET, SD14_VAE


@dataclass(frozen=True)
class ModelSpec:
    """Configs of one SD 1.x-architecture model set (UNet, VAE, CLIP text encoder)."""

    name: str  # how tables name it
    unet: dict  # UNet2DConditionModel kwargs
    vae: dict  # AutoencoderKL kwargs
    text: dict  # CLIPTextConfig kwargs (vocabulary and special-token ids come from the tokenizer)
    max_length: int  # prompt tokens, start and end included


_SD1_DOWN = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
_SD1_UP = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
_VAE4 = dict(in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
             up_block_types=("UpDecoderBlock2D",) * 4)

TINY = ModelSpec(
    name="tiny SD 1.x",
    unet=dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
              down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
              up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
              cross_attention_dim=64, attention_head_dim=(2, 4), norm_num_groups=8),
    vae=dict(_VAE4, block_out_channels=(16, 32, 32, 32), layers_per_block=1, norm_num_groups=8, sample_size=128),
    text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2),
    max_length=16,
)

REDUCED = ModelSpec(
    name="reduced SD 1.x",
    unet=dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 64, 64, 64), layers_per_block=2,
              down_block_types=_SD1_DOWN, up_block_types=_SD1_UP, cross_attention_dim=64, attention_head_dim=8,
              norm_num_groups=32),
    vae=dict(_VAE4, block_out_channels=(32, 32, 64, 64), layers_per_block=1, norm_num_groups=32, sample_size=128),
    text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2),
    max_length=77,
)

# Stable Diffusion 1.4 (CompVis/stable-diffusion-v1-4), as the library writes it out.
SD14 = ModelSpec(
    name="SD 1.4",
    unet=SD14_UNET,
    vae=SD14_VAE,
    text={k: v for k, v in SD14_TEXT.items() if k != "max_position_embeddings"},
    max_length=SD14_TEXT["max_position_embeddings"],
)

# SD 1.x's DDIM sampler (scheduler/scheduler_config.json, as pipelines sample with it).
SD1_DDIM = SD14_SCHEDULER

PROMPT = "a horse runs in the field"
_WORDS = ("a", "horse", "runs", "in", "the", "field")

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s.
BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}


@dataclass
class Components:
    tokenizer: CLIPTokenizer
    text_encoder: CLIPTextModel
    vae: AutoencoderKL
    unet: UNet2DConditionModel
    scheduler: DDIMScheduler


def word_tokenizer(max_length: int) -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is the benchmark prompt's words (one token each).

    Prompts are padded to ``max_length`` tokens, so the text encoder's cost is that of
    a full-size tokenizer's.
    """
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({f"{word}</w>": 2 + i for i, word in enumerate(_WORDS)})
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length, unk_token="<|endoftext|>",
                         bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def build(spec: ModelSpec, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Components:
    """Random-weight models of ``spec`` on ``device`` in ``dtype``, in eval mode, no grad."""
    tokenizer = word_tokenizer(spec.max_length)
    text = {"vocab_size": len(tokenizer), **spec.text}
    torch.manual_seed(seed)
    with torch.device(device):
        text_encoder = CLIPTextModel(CLIPTextConfig(**text, max_position_embeddings=spec.max_length,
                                                    bos_token_id=tokenizer.bos_token_id,
                                                    eos_token_id=tokenizer.eos_token_id,
                                                    pad_token_id=tokenizer.pad_token_id))
        vae = AutoencoderKL(**spec.vae)
        unet = UNet2DConditionModel(**spec.unet)
    for model in (text_encoder, vae, unet):
        model.to(device, dtype).eval().requires_grad_(False)
    return Components(tokenizer, text_encoder, vae, unet, DDIMScheduler(**SD1_DDIM))


def first_frame(height: int, width: int, seed: int = 0) -> Image.Image:
    """A random RGB image of the video's size (encoding it costs what a real first frame costs)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- measuring ------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], device: torch.device, calls: int) -> list[float]:
    """Seconds of each of ``calls`` calls of ``fn``: CUDA events on a GPU, perf_counter on the CPU."""
    seconds = []
    for _ in range(calls):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            seconds.append(start.elapsed_time(end) / 1000)
        else:
            started = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - started)
    return seconds


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of the CPU's fused attention kernel: those of its matmuls, as FlopCounterMode counts CUDA's."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def flops_of(fn: Callable[[], object], device: torch.device) -> int:
    """Floating-point operations of one call of ``fn``, counted by FlopCounterMode.

    FlopCounterMode knows the CUDA attention kernels but not the CPU one; on the CPU the
    CPU kernel is counted by the same formula (its two matmuls), so attention runs as it
    does outside counting (the math form would hold every attention matrix at once).
    """
    mapping = {} if device.type == "cuda" else {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
                                                _cpu_attention_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def reset_peak_memory(device: torch.device) -> int:
    """Start a peak-memory window; returns the bytes in use now (CUDA allocated, or CPU resident)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    return resident_bytes()


def peak_memory(device: torch.device) -> int:
    """Peak bytes since :func:`reset_peak_memory` (CUDA), or the process's peak resident set (CPU)."""
    if device.type == "cuda":
        sync(device)
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def in_fresh_process(fn: Callable, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a new process, so its peak resident memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def bf16_peak_tflops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """The GPU's dense bf16 peak (TFLOP/s) and where the number came from."""
    if override is not None:
        return override, f"{override:g} TFLOP/s (given with --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    for key, tflops in BF16_PEAK_TFLOPS.items():  # specific names first
        if key in name:
            return tflops, f"{tflops:g} TFLOP/s, the data-sheet dense bf16 peak of an {key}"
    return None, f"unknown for {name}; pass --peak-tflops"


def cpu_pressure() -> float | None:
    """Share of the last 5 minutes in which some runnable task waited for a CPU (Linux PSI), or None."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            some = pressure.readline().split()
    except OSError:
        return None
    return float(dict(field.split("=") for field in some[1:])["avg300"]) / 100


def contention_note(load_before: float) -> str:
    """Sentences on how busy the machine was during a run (load averages, CPU pressure, threads used)."""
    pressure = cpu_pressure()
    waited = f"; tasks waited for a CPU {pressure:.0%} of the last 5 minutes" if pressure is not None else ""
    return (f"The machine is shared: its 1-minute load average was {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after this run on {os.cpu_count()} cores{waited}. Times are therefore upper "
            "bounds that can vary severalfold between runs. One torch thread is used: on this loaded machine two "
            "threads ran the same tiny video about 70x slower (OpenMP threads waiting for each other).")


def median(values: list[float]) -> float:
    return statistics.median(values)
