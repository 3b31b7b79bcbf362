"""Stable Diffusion 1.4's architecture, written out, and bases with random weights built from it.

A model's cost (time, memory, file sizes) does not depend on its weights, so tests and
benchmarks run LAMP at SD 1.4's real architecture without downloading anything:
:func:`random_base` builds the UNet, VAE and CLIP text encoder from the configs below
(``CompVis/stable-diffusion-v1-4``'s ``unet/``, ``vae/``, ``text_encoder/`` and
``scheduler/`` configs; SD 1.5 has the same ones) with random weights, plus a small
word-level tokenizer that pads to CLIP's 77 tokens, so the text encoder costs what a
real prompt costs.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from .models.loading import BaseModel

SD14_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
)
SD14_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
    sample_size=512, scaling_factor=0.18215,
)
# CLIP ViT-L/14's text tower.
SD14_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                 hidden_act="quick_gelu", max_position_embeddings=77)
SD14_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                      prediction_type="epsilon", clip_sample=False, set_alpha_to_one=False, steps_offset=1)

WORDS = ("a", "horse", "runs", "in", "the", "field", "cat", "walks", "on", "beach")


def word_tokenizer(words: tuple[str, ...] = WORDS, max_length: int = 77) -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is ``words`` (one token each), padding to ``max_length``.

    Other words become the unknown token: with random weights only the token count matters.
    """
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({f"{word}</w>": 2 + i for i, word in enumerate(words)})
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length, unk_token="<|endoftext|>",
                         bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def random_base(unet: dict = SD14_UNET, vae: dict = SD14_VAE, text: dict = SD14_TEXT,
                scheduler: dict = SD14_SCHEDULER, seed: int = 0, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu") -> BaseModel:
    """An SD 1.x base of the given architecture (default SD 1.4's) with seeded random weights.

    The same seed gives the same weights, so a motion file trained on one random base
    loads onto another one built with the same seed (its base fingerprint matches).
    """
    tokenizer = word_tokenizer(max_length=text.get("max_position_embeddings", 77))
    torch.manual_seed(seed)
    with torch.device(device):
        unet_model = UNet2DConditionModel(**unet)
        vae_model = AutoencoderKL(**vae)
        text_model = CLIPTextModel(CLIPTextConfig(**{"vocab_size": len(tokenizer), **text},
                                                  bos_token_id=tokenizer.bos_token_id,
                                                  eos_token_id=tokenizer.eos_token_id,
                                                  pad_token_id=tokenizer.pad_token_id))
    for model in (unet_model, vae_model, text_model):
        model.eval()
        if dtype != torch.float32:
            model.to(dtype=dtype)
    return BaseModel(source=f"random weights (seed {seed})", unet=unet_model, vae=vae_model, text_encoder=text_model,
                     tokenizer=tokenizer, scheduler_config=dict(scheduler))
