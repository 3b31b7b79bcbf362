"""Train the built-in toy base model: a tiny Stable Diffusion 1.x text-to-image model.

Usage::

    python tools/build_toy_base.py --out src/lamp_motion/toy_base [--seed 0] [--unet-steps 3000]

The model has the SD 1.x architecture at toy size: a word-level ``CLIPTokenizer``, a
``CLIPTextModel``, an ``AutoencoderKL`` (32x32 RGB <-> 4x16x16 latents: a down-sampling
factor of 2, so the 6-10 px objects of the motion sets keep their shape through it), a
``UNet2DConditionModel`` with cross-attention blocks and a ``DDIMScheduler``. It is
trained on random toy scenes (every shape x colour x background) captioned
"a {colour} {shape}", and saved as an ordinary diffusers folder, so it loads through the
same code path as real SD weights.

Steps: (1) render the stills, (2) train the VAE, (3) measure the latent scale and cache
the latent distributions, (4) train the UNet (and optionally the text encoder) with
10% empty captions for classifier-free guidance, keeping an EMA of the weights,
(5) save the pipeline and a ``build.json`` record of the configuration and timings.
The run is deterministic for a seed and thread count.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import AddedToken
from tqdm import tqdm
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from lamp_motion.data.toy.motions import STRONG_TEXTURE_RANGE
from lamp_motion.data.toy.scene import BACKGROUNDS, COLOURS, SHAPES, Scene, caption, draw

BOS, EOS, UNK = "<|startoftext|>", "<|endoftext|>", "<|unknown|>"
# Words with a token of their own; any other word becomes one UNK token per character.
GENERIC_WORDS = ("a", "an", "the", "of", "on", "in", "with", "and", "background",
                 "object", "shape", "video", "small", "big", "large")
MOTION_WORDS = ("moves", "right", "left", "up", "down", "diagonally", "circles", "around",
                "grows", "shrinks", "rotates", "falls", "bounces")
VOCABULARY = GENERIC_WORDS + tuple(COLOURS) + SHAPES + tuple(BACKGROUNDS) + MOTION_WORDS
SIZE_RANGE = (0.2, 0.45)  # object diameter of the training stills, fraction of the image side
TEXTURE_RANGE = (0.2, 0.8)  # stripe amplitude of a textured background
MARGIN = 0.03  # least gap between object and image edge, fraction of the side


@dataclass
class BuildConfig:
    """Everything that decides the built model; saved as ``build.json`` next to it."""

    seed: int = 0  # seeds rendering, initialisation and training
    resolution: int = 32  # image side in pixels
    latent_factor: int = 2  # VAE down-sampling factor, 2 or 4 (latents are resolution / latent_factor)
    top_attention: bool = False  # factor 2: attention blocks also at the finest (16x16) latent level, as SD 1.x has
    images: int = 16384  # rendered training stills
    max_length: int = 16  # tokens per prompt, incl. start and end tokens
    vae_steps: int = 3000  # VAE optimiser steps (colours of small objects come out right only after ~2500)
    vae_batch: int = 32
    vae_lr: float = 2e-3
    vae_kl_weight: float = 1e-6  # weight of the KL term against the pixel MSE
    vae_from: str = ""  # folder of an earlier build with the same VAE settings: reuse its VAE instead of training one
    init_from: str = ""  # folder of an earlier build with the same settings: continue training its UNet and text
    # encoder (its VAE is reused) for unet_steps more steps, with a fresh warm-up and decay of the learning rate
    unet_steps: int = 5000  # UNet optimiser steps
    unet_batch: int = 64
    unet_lr: float = 1e-3  # peak learning rate (linear warm-up, cosine decay to 10%)
    warmup_steps: int = 100
    train_text_encoder: bool = True  # train the text encoder with the UNet (else: frozen random init)
    caption_dropout: float = 0.1  # share of empty prompts, for classifier-free guidance
    ema_decay: float = 0.999  # EMA of the UNet (and text encoder) weights that get saved
    threads: int = 2  # torch CPU threads
    texture: str = "mixed"  # the stills' backgrounds: "mixed" (half striped at TEXTURE_RANGE) or "strong" (all
    # striped at amplitude 0.9-1): with --init-from, a fine-tune in a shifted style (benchmarks/bench_motion_delta.py)


def build_tokenizer(max_length: int) -> CLIPTokenizer:
    """A word-level CLIP tokenizer: each VOCABULARY word is one token, anything else UNK.

    The words are added tokens matched as whole words (after lower-casing); the BPE
    model beneath has no merges and no letters, so an unknown word becomes one UNK per
    character. Reloads identically from its ``save_pretrained`` folder.
    """
    vocab = {BOS: 0, EOS: 1, UNK: 2}
    vocab.update({word: 3 + i for i, word in enumerate(VOCABULARY)})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length, unk_token=UNK,
                              bos_token=BOS, eos_token=EOS, pad_token=EOS)
    tokenizer.add_tokens([AddedToken(word, single_word=True, normalized=True) for word in VOCABULARY])
    return tokenizer


def build_models(config: BuildConfig, tokenizer: CLIPTokenizer) -> tuple[CLIPTextModel, AutoencoderKL, UNet2DConditionModel]:
    """Randomly initialised text encoder, VAE and UNet (seeded by ``config.seed``)."""
    if config.latent_factor not in (2, 4):
        raise ValueError(f"latent_factor must be 2 or 4, got {config.latent_factor}")
    torch.manual_seed(config.seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=config.max_length, projection_dim=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    vae_blocks = (16, 32) if config.latent_factor == 2 else (16, 32, 32)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=vae_blocks, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * len(vae_blocks), up_block_types=("UpDecoderBlock2D",) * len(vae_blocks),
        norm_num_groups=8, sample_size=config.resolution,
    )
    if config.latent_factor == 2 and config.top_attention:
        # 16x16 latents with attention blocks at 16x16 and 8x8 and in the 4x4 mid block,
        # none in the coarsest down/up blocks: SD 1.x's layout. The 6-10 px objects are
        # 3-5 latent pixels wide, so their shape lives at 16x16: there the prompt reaches
        # the drawing through cross-attention, and the video model's first-frame
        # attention can copy frame 1's object.
        levels = {"block_out_channels": (16, 32, 64), "attention_head_dim": (1, 2, 4),
                  "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")}
    elif config.latent_factor == 2:
        # The previous factor-2 layout: no attention at 16x16 (cross-attention at 8x8 and
        # in the 4x4 mid block only).
        levels = {"block_out_channels": (16, 32, 64), "attention_head_dim": (1, 2, 4),
                  "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")}
    else:
        levels = {"block_out_channels": (32, 64), "attention_head_dim": (2, 4),
                  "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                  "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D")}
    unet = UNet2DConditionModel(
        sample_size=config.resolution // config.latent_factor, in_channels=4, out_channels=4, layers_per_block=1,
        cross_attention_dim=64, norm_num_groups=8, **levels,
    )  # attention_head_dim is the head count per level (diffusers' legacy name): 16 channels per head
    return text_encoder, vae, unet


def build_scheduler() -> DDIMScheduler:
    """Cosine-schedule DDIM, epsilon prediction, never clipping the predicted latents."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def random_scene(rng: np.random.Generator, texture: str = "mixed") -> Scene:
    """A uniformly random toy still: any shape, colour, background, texture, place and angle.

    ``texture``: "mixed" (half of the stills striped at TEXTURE_RANGE) or "strong" (all at STRONG_TEXTURE_RANGE)."""
    size = float(rng.uniform(*SIZE_RANGE))
    low, high = size / 2 + MARGIN, 1 - size / 2 - MARGIN
    return Scene(
        shape=str(rng.choice(SHAPES)), colour=str(rng.choice(list(COLOURS))),
        background=str(rng.choice(list(BACKGROUNDS))),
        texture=(float(rng.uniform(*STRONG_TEXTURE_RANGE)) if texture == "strong"
                 else float(rng.uniform(*TEXTURE_RANGE)) if rng.random() < 0.5 else 0.0),
        x=float(rng.uniform(low, high)), y=float(rng.uniform(low, high)), size=size,
        angle=float(rng.uniform(0.0, 360.0)),
    )


def render_stills(config: BuildConfig) -> tuple[torch.Tensor, list[str]]:
    """``(n, 3, h, w)`` images in [-1, 1] and their captions."""
    rng = np.random.default_rng(config.seed)
    scenes = [random_scene(rng, config.texture) for _ in range(config.images)]
    pixels = np.stack([draw(scene, config.resolution) for scene in tqdm(scenes, desc="render", leave=False)])
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (n, 3, h, w)
    return images, [caption(scene) for scene in scenes]


class Ema:
    """Exponential moving average of a module's parameters, with the usual warm-up of the decay."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.average = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, current in zip(self.average.parameters(), module.parameters()):
            average.lerp_(current, 1.0 - decay)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))


def train_vae(vae: AutoencoderKL, images: torch.Tensor, config: BuildConfig, generator: torch.Generator) -> float:
    """Train the VAE on pixel MSE plus a small KL term; returns the final PSNR (dB) on 512 stills."""
    optimiser = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: _lr_factor(s, config.vae_steps, config.warmup_steps))
    vae.train()
    for _ in (bar := tqdm(range(config.vae_steps), desc="vae")):
        batch = images[torch.randint(len(images), (config.vae_batch,), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        reconstruction = vae.decode(posterior.sample(generator=generator)).sample
        mse = F.mse_loss(reconstruction, batch)
        loss = mse + config.vae_kl_weight * posterior.kl().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        bar.set_postfix(psnr=f"{10 * math.log10(4.0 / mse.item()):.1f}")
    vae.eval()
    return vae_psnr(vae, images)


@torch.no_grad()
def vae_psnr(vae: AutoencoderKL, images: torch.Tensor) -> float:
    """Reconstruction PSNR (dB) of the first 512 stills through the posterior mode."""
    check = images[:512]
    mse = F.mse_loss(vae.decode(vae.encode(check).latent_dist.mode()).sample.clamp(-1, 1), check).item()
    return 10 * math.log10(4.0 / mse)  # peak-to-peak range of [-1, 1] is 2


def _check_same(kind: str, built: dict, loaded: dict, folder: Path, keys: tuple[str, ...]) -> None:
    differing = [key for key in keys if np.atleast_1d(built[key]).tolist() != np.atleast_1d(loaded[key]).tolist()]
    if differing:
        raise ValueError(f"the {kind} in {folder} differs from this build's in {', '.join(differing)}; build with the "
                         "settings it was built with (see its build.json), or leave out --vae-from / --init-from")


def continue_from(unet: UNet2DConditionModel, text_encoder: CLIPTextModel,
                  folder: Path) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    """The UNet and text encoder of an earlier build in ``folder``, checked to have this build's architecture."""
    loaded_unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    _check_same("UNet", unet.config, loaded_unet.config, folder,
                ("block_out_channels", "down_block_types", "up_block_types", "attention_head_dim", "layers_per_block",
                 "cross_attention_dim", "sample_size"))
    loaded_text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
    _check_same("text encoder", text_encoder.config.to_dict(), loaded_text.config.to_dict(), folder,
                ("hidden_size", "num_hidden_layers", "vocab_size", "max_position_embeddings"))
    return loaded_unet, loaded_text


def reuse_vae(vae: AutoencoderKL, folder: Path) -> AutoencoderKL:
    """The VAE of an earlier build in ``folder``, checked to have the configuration ``vae`` has."""
    loaded = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    _check_same("VAE", vae.config, loaded.config, folder,
                ("block_out_channels", "latent_channels", "layers_per_block", "norm_num_groups", "sample_size"))
    return loaded.eval()


@torch.no_grad()
def cache_latents(vae: AutoencoderKL, images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Posterior means and stds ``(n, 4, h/f, w/f)`` of all stills, and the scale that makes samples unit-std."""
    means, stds = [], []
    for start in range(0, len(images), 512):
        posterior = vae.encode(images[start:start + 512]).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    mean, std = torch.cat(means), torch.cat(stds)
    samples = mean + std * torch.randn(mean.shape, generator=generator)
    return mean, std, 1.0 / samples.std().item()


def _token_ids(tokenizer: CLIPTokenizer, prompts: list[str]) -> torch.Tensor:
    """Token ids exactly as StableDiffusionPipeline makes them (padded to the max length)."""
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


def train_unet(unet: UNet2DConditionModel, text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer,
               latents: tuple[torch.Tensor, torch.Tensor, float], captions: list[str], config: BuildConfig,
               generator: torch.Generator) -> tuple[UNet2DConditionModel, CLIPTextModel, float]:
    """Epsilon-prediction training on the cached latents; returns the EMA UNet, text encoder and last loss."""
    mean, std, scale = latents
    scheduler = build_scheduler()
    prompts = sorted(set(captions)) + [""]  # the last prompt is the empty one of dropped captions
    caption_index = torch.tensor([prompts.index(c) for c in captions])
    ids = _token_ids(tokenizer, prompts)  # (p, max_length)
    text_encoder.requires_grad_(config.train_text_encoder).train(config.train_text_encoder)
    trainable = list(unet.parameters()) + (list(text_encoder.parameters()) if config.train_text_encoder else [])
    optimiser = torch.optim.AdamW(trainable, lr=config.unet_lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: _lr_factor(s, config.unet_steps, config.warmup_steps))
    unet_ema, text_ema = Ema(unet, config.ema_decay), Ema(text_encoder, config.ema_decay)
    unet.train()
    frozen_states = None if config.train_text_encoder else text_encoder(ids)[0].detach()
    for _ in (bar := tqdm(range(config.unet_steps), desc="unet")):
        index = torch.randint(len(mean), (config.unet_batch,), generator=generator)
        z = (mean[index] + std[index] * torch.randn(mean[index].shape, generator=generator)) * scale  # (b, 4, h, w)
        noise = torch.randn(z.shape, generator=generator)
        t = torch.randint(scheduler.config.num_train_timesteps, (config.unet_batch,), generator=generator)
        dropped = torch.rand(config.unet_batch, generator=generator) < config.caption_dropout
        prompt = torch.where(dropped, len(prompts) - 1, caption_index[index])  # (b,)
        states = frozen_states if frozen_states is not None else text_encoder(ids)[0]  # (p, max_length, d)
        prediction = unet(scheduler.add_noise(z, noise, t), t, encoder_hidden_states=states[prompt]).sample
        loss = F.mse_loss(prediction, noise)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        schedule.step()
        unet_ema.update(unet)
        if config.train_text_encoder:
            text_ema.update(text_encoder)
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return unet_ema.average, text_ema.average, loss.item()


def build(config: BuildConfig, out: Path) -> dict[str, float]:
    """Train every component and save the pipeline to ``out``; returns the build record."""
    if config.texture not in ("mixed", "strong"):
        raise ValueError(f"--texture {config.texture!r} is not one of mixed, strong")
    if config.vae_from and config.init_from and Path(config.vae_from) != Path(config.init_from):
        raise ValueError("--init-from reuses that build's VAE; leave out --vae-from or give it the same folder")
    torch.set_num_threads(config.threads)
    # One generator per stage, so that a build reusing an earlier VAE (--vae-from) trains
    # the same UNet as a build that trains that VAE itself.
    generators = [torch.Generator().manual_seed(config.seed + stage) for stage in range(3)]
    started = time.perf_counter()
    tokenizer = build_tokenizer(config.max_length)
    text_encoder, vae, unet = build_models(config, tokenizer)
    reused = config.vae_from or config.init_from
    previous = None
    if config.init_from:
        unet, text_encoder = continue_from(unet, text_encoder, Path(config.init_from))
        record_file = Path(config.init_from) / "build.json"
        previous = json.loads(record_file.read_text()) if record_file.is_file() else None
    if reused:
        vae = reuse_vae(vae, Path(reused))
    images, captions = render_stills(config)
    rendered = time.perf_counter()
    psnr = vae_psnr(vae, images) if reused else train_vae(vae, images, config, generators[0])
    vae_done = time.perf_counter()
    mean, std, scale = cache_latents(vae, images, generators[1])
    vae.register_to_config(scaling_factor=scale)
    unet, text_encoder, loss = train_unet(unet, text_encoder, tokenizer, (mean, std, scale), captions, config, generators[2])
    unet_done = time.perf_counter()
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder.eval(), tokenizer=tokenizer, unet=unet.eval(),
                                       scheduler=build_scheduler(), safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(out, safe_serialization=True)
    record = {
        "render_minutes": (rendered - started) / 60, "vae_minutes": (vae_done - rendered) / 60,
        "unet_minutes": (unet_done - vae_done) / 60, "total_minutes": (time.perf_counter() - started) / 60,
        "vae_psnr_db": psnr, "latent_scaling_factor": scale, "final_unet_loss": loss,
        "unet_parameters": sum(p.numel() for p in unet.parameters()),
        "vae_parameters": sum(p.numel() for p in vae.parameters()),
        "text_encoder_parameters": sum(p.numel() for p in text_encoder.parameters()),
    }
    saved = {"config": asdict(config), "result": record}
    if previous is not None:
        saved["continued_from"] = previous  # the build record of the weights this build started from
    (out / "build.json").write_text(json.dumps(saved, indent=2) + "\n")
    return record


def parse_args(argv: list[str] | None = None) -> tuple[BuildConfig, Path]:
    """``--out`` plus one ``--flag`` per BuildConfig field (underscores as dashes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the diffusers pipeline to")
    defaults = BuildConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    return BuildConfig(**args), out


def main(argv: list[str] | None = None) -> None:
    config, out = parse_args(argv)
    record = build(config, out)
    print(f"saved {out}: " + ", ".join(f"{key}={value:.4g}" for key, value in record.items()))


if __name__ == "__main__":
    main()
