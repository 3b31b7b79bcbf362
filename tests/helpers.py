"""Builders the tests share: tiny seeded SD 1.x-architecture models, videos, configs and files.

Fixtures built from these live in conftest.py; test files import builders from here, never from each other.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DConditionModel
from PIL import Image
from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer

from lamp_motion.cli.main import main as lamp_main
from lamp_motion.metrics import clip_metrics
from lamp_motion.models import MotionOptions, VideoUNet
from lamp_motion.training.config import TrainConfig
from lamp_motion.video_io import write_video

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


WORDS = ["a", "red", "green", "blue", "circle", "square", "moves", "right", "left", "horse", "runs"]


def fine_tune(unet, seed: int = 5, size: float = 0.02):
    """``unet`` with every weight moved a little: same shapes, other weights (a fine-tune's fingerprint)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in unet.parameters():
            param.add_(size * torch.randn(param.shape, generator=generator))
    return unet


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


def moving_square_video(seed: int, frames: int = 10, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    colour = rng.integers(60, 255, 3)
    background = rng.integers(0, 50, 3)
    y = int(rng.integers(4, size - 12))
    video = np.empty((frames, size, size, 3), np.uint8)
    for i in range(frames):
        video[i] = background
        x = 2 + 2 * i
        video[i, y:y + 8, x:x + 8] = colour
    return video


def tiny_config(folder, base, out, **changes) -> TrainConfig:
    values = dict(data=str(folder), base=str(base), output_dir=str(out), num_frames=4, stride=2, height=32, width=32,
                  steps=4, learning_rate=1e-3, mixed_precision="no", gradient_checkpointing=False, tensorboard=False,
                  checkpoint_every=0, seed=5)
    values.update(changes)
    return TrainConfig(**values)


def randomise_added(video: VideoUNet, seed: int = 1, scale: float = 0.2) -> None:
    """Give every added parameter random values (fresh layers are all zero)."""
    gen = torch.Generator().manual_seed(seed)
    params = dict(video.unet.named_parameters())
    with torch.no_grad():
        for name in video.added_parameter_names:
            params[name].copy_(torch.randn(params[name].shape, generator=gen) * scale)


def inputs(b=2, f=5, seed=0, tokens=7):
    gen = torch.Generator().manual_seed(seed)
    latents = torch.randn(b, TINY_UNET["in_channels"], f, 8, 8, generator=gen)
    text = torch.randn(b, tokens, TINY_UNET["cross_attention_dim"], generator=gen)
    return latents, torch.tensor([10, 500][:b]), text


def trained_video(seed=0, options=MotionOptions(groupnorm="per_frame")):
    video = VideoUNet.inflate(make_tiny_unet(seed), options)
    randomise_added(video, seed=7)
    with torch.no_grad():
        for name, p in video.trainable_parameters().items():
            if name.endswith("attn1.to_q.weight"):
                p.add_(0.05)  # "trained" to_q differs from the base
    return video


def video(frames: int = 12, height: int = 32, width: int = 48, seed: int = 0) -> np.ndarray:
    """A square moving right over a two-tone background, colours picked by ``seed``."""
    rng = np.random.default_rng(seed)
    top, bottom, square = (rng.integers(0, 256, 3) for _ in range(3))
    frames_array = np.zeros((frames, height, width, 3), dtype=np.uint8)
    frames_array[:, : height // 2], frames_array[:, height // 2 :] = top, bottom
    for index in range(frames):
        left = (3 * index) % (width - 8)
        frames_array[index, 8:16, left : left + 8] = square
    return frames_array


def save_frame_folder(folder: Path, frames: np.ndarray, mode: str = "RGB") -> None:
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        image = Image.fromarray(frame)
        image.convert(mode).save(folder / f"{index:03d}.png")


def make_bad_entries(folder: Path) -> None:
    """One entry per kind of bad data that is skipped, not converted."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write_video(folder / "short.gif", video(frames=4), fps=8)
    (folder / "empty").mkdir()
    (folder / "readme.md").write_text("# my videos")


def character_tokenizer() -> CLIPTokenizer:
    """A character-level CLIP BPE tokenizer: every lower-case letter, alone and word-final."""
    letters = list(string.ascii_lowercase)
    tokens = ["<|startoftext|>", "<|endoftext|>", *letters, *(letter + "</w>" for letter in letters)]
    return CLIPTokenizer(vocab={token: i for i, token in enumerate(tokens)}, merges=[])


def tiny_clip(folder: Path) -> Path:
    """A tiny random CLIP (model, tokenizer, image processor) saved to ``folder``."""
    tokenizer = character_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2),
        projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    image_processor = clip_metrics._ImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def generate(*extra: str) -> int:
    return lamp_main(["generate", "--steps", "2", "--guidance", "3", "--t2i-steps", "2", *extra])


def make_fifo(path: Path, unblock_after: float = 30.0) -> Path:
    """A FIFO at ``path``; should code under test open it and block, a timer opens its writing end after
    ``unblock_after`` seconds, so the reader gets end-of-file and the test fails instead of hanging."""
    import os
    import threading

    os.mkfifo(path)

    def unblock() -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader is blocked on it (ENXIO) or it is gone: nothing to do

    timer = threading.Timer(unblock_after, unblock)
    timer.daemon = True
    timer.start()
    return path


def free_port() -> int:
    """A TCP port free on this machine now, for an accelerate launch's main process."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
