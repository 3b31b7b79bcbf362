"""Shared fixtures: tiny SD 1.x-architecture models built in memory (seeded)."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers import UNet2DConditionModel

from lamp_motion.models.architectures import SD14_UNET  # noqa: F401  (tests import it from here)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

TINY_UNET = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    block_out_channels=(16, 32),
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    layers_per_block=1,
    cross_attention_dim=24,
    attention_head_dim=8,
    norm_num_groups=8,
)


def make_tiny_unet(seed: int = 0, **overrides) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(**{**TINY_UNET, **overrides}).eval()


@pytest.fixture
def tiny_unet() -> UNet2DConditionModel:
    return make_tiny_unet()


WORDS = ["a", "red", "green", "blue", "circle", "square", "moves", "right", "left", "horse", "runs"]


def make_tiny_tokenizer(max_length: int = 8):
    """A word-level CLIP tokenizer built offline (every listed word is one token)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        vocab[f"{word}</w>"] = len(vocab)
        # BPE merges that join the word's characters left to right into one token.
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            merge = (symbols[0], symbols[1])
            if merge not in merges:
                merges.append(merge)
            for part in merge + (merge[0] + merge[1],):
                vocab.setdefault(part, len(vocab))  # BPE needs every intermediate symbol
            symbols = [symbols[0] + symbols[1]] + symbols[2:]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length, unk_token="<|endoftext|>",
                         bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def make_tiny_pipeline(seed: int = 0):
    """A tiny SD 1.x-architecture StableDiffusionPipeline (random weights, 32x32 images)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = make_tiny_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=24, intermediate_size=48,
                                                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=8,
                                                bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16, 16, 16),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=32).eval()
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=make_tiny_unet(seed),
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


@pytest.fixture(scope="session")
def tiny_sd_folder(tmp_path_factory):
    """A tiny SD 1.x diffusers folder on disk, loaded by tests exactly as a user's base."""
    folder = tmp_path_factory.mktemp("tiny-sd")
    make_tiny_pipeline().save_pretrained(folder)
    return folder
