"""LAMP end to end at Stable Diffusion 1.4's real architecture, with real tensors.

Random weights from SD 1.4's written-out configs (lamp_motion.testing), no
download; a small spatial size (64x64 px, 8x8 latents) and few frames so that it fits
CI. Deselect with ``-m "not fullsize"``.
"""

from __future__ import annotations

import gc
import re
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from lamp_motion.data.toy.sets import make_set
from lamp_motion.models import MotionOptions, VideoUNet
from lamp_motion.pipelines.editing import edit_video
from lamp_motion.pipelines.images import image_to_tensor
from lamp_motion.pipelines.lamp_pipeline import LampPipeline
from lamp_motion.pipelines.long_video import generate_long
from lamp_motion.settings import SamplingSettings
from lamp_motion.testing import SD14_UNET, random_base
from lamp_motion.training import trainer as trainer_module
from lamp_motion.training.config import TrainConfig
from lamp_motion.video_io import read_video

pytestmark = pytest.mark.fullsize

SIZE, FRAMES = 64, 4
# The paper's trainable set: what inflation added (motion convs, temporal attention) and attn1.to_q.
PAPER_SET = re.compile(r".*\.(conv1d|conv_gate)\.(weight|bias)|.*\.temporal\..*|.*\.attn1\.to_q\.weight")


def sd14_trainable_count() -> int:
    """The paper's trainable parameter count at SD 1.4 size, by arithmetic from the UNet config.

    Every wrapped conv with c output channels adds a Conv1d (c*c*3 + c) and a gate
    (c*9 + 1); every transformer block of width c adds temporal attention (q, k, v: 3*c*c;
    out: c*c + c), its LayerNorm (2*c) and trains attn1.to_q (c*c).
    """
    widths = SD14_UNET["block_out_channels"]
    layers = SD14_UNET["layers_per_block"]
    per_conv = lambda c: c * c * 3 + c + c * 9 + 1  # noqa: E731
    per_block = lambda c: 5 * c * c + 3 * c  # noqa: E731
    convs = [widths[0], SD14_UNET["out_channels"]]  # conv_in, conv_out
    previous = widths[0]
    for level, c in enumerate(widths):  # down: 2 resnets (2 convs, a shortcut where widths change), a downsampler
        convs += [c] * (2 * layers) + ([c] if c != previous else []) + ([c] if level < len(widths) - 1 else [])
        previous = c
    convs += [widths[-1]] * 4  # mid: 2 resnets
    reversed_widths = list(reversed(widths))
    for level, c in enumerate(reversed_widths):  # up: 3 resnets, each with a shortcut (skip concatenated), an upsampler
        convs += [c] * (3 * 3) + ([c] if level < len(widths) - 1 else [])
    attention_widths = widths[:3]
    blocks = [c for c in attention_widths for _ in range(layers)] + [widths[-1]]  # down + mid
    blocks += [c for c in reversed(attention_widths) for _ in range(layers + 1)]  # up
    assert (len(convs), len(blocks)) == (66, 16)
    return sum(per_conv(c) for c in convs) + sum(per_block(c) for c in blocks)


def test_sd14_end_to_end_train_save_reload_generate_long_edit(tmp_path, monkeypatch):
    """Inflate, 2 training steps, motion file, reload, generate, long video, edit — all at SD 1.4 size.

    Measured on the development machine (2-core AMD EPYC, torch 2.13 CPU, 2 threads, shared:
    load average ~4): 4 min 3 s wall time (160 s user CPU) and 9.0 GB peak resident memory
    (``/usr/bin/time -v python -m pytest tests/test_fullsize.py``).
    """
    data = tmp_path / "moves_right"
    make_set("move_right", data, num_videos=2, num_frames=FRAMES + 2, height=SIZE, width=SIZE, seed=0)
    (data / "set.json").unlink()
    config = TrainConfig(data=str(data), output_dir=str(tmp_path / "out"), num_frames=FRAMES, height=SIZE,
                         width=SIZE, steps=2, mixed_precision="no", gradient_checkpointing=True, tensorboard=False,
                         checkpoint_every=0, motion_dtype="fp16")

    # 1. Two training steps as the trainer runs them, watching the loss's prediction.
    predictions = []

    def watched_loss(*args, **kwargs):
        loss, prediction = real_loss(*args, **kwargs)
        prediction.retain_grad()
        predictions.append(prediction)
        return loss, prediction

    real_loss = trainer_module.diffusion_loss
    monkeypatch.setattr(trainer_module, "diffusion_loss", watched_loss)
    trainer = trainer_module.Trainer(config, base=random_base(seed=0))
    motion = trainer.run()
    video = trainer.video

    assert video.report["motion_convs"] == 66 and video.report["temporal_attention"] == 16
    assert video.unet.is_gradient_checkpointing
    trained = {n for n, p in video.unet.named_parameters() if p.requires_grad}
    assert trained == {n for n, _ in video.unet.named_parameters() if PAPER_SET.fullmatch(n)}
    assert sum(p.numel() for p in video.trainable_parameters().values()) == sd14_trainable_count()
    assert all(p.grad is None for n, p in video.unet.named_parameters() if n not in trained)
    assert len(predictions) == 2
    for prediction in predictions:  # the loss sees frames 2..N only
        assert torch.count_nonzero(prediction.grad[:, :, 0]) == 0
        assert torch.count_nonzero(prediction.grad[:, :, 1:]) > 0
    conv1d = [p for n, p in video.trainable_parameters().items() if n.endswith("conv1d.weight")]
    assert all(torch.count_nonzero(p) > 0 for p in conv1d)  # zero-initialised, moved by the two steps
    weights = {n: p.detach().clone() for n, p in video.trainable_parameters().items()}

    # 2. The motion file: exactly the trained tensors in fp16; 0.51 GB at SD 1.4 size by arithmetic.
    numel = sum(w.numel() for w in weights.values())
    header = struct.unpack("<Q", motion.read_bytes()[:8])[0]
    assert motion.stat().st_size == 8 + header + 2 * numel
    assert 0.50e9 < 2 * numel < 0.52e9  # docs/cli.md (Motion files): 254M parameters, 0.51 GB in fp16 (the bound: 0.6 GB)
    del trainer, video
    predictions.clear()
    monkeypatch.undo()
    gc.collect()

    # 3. Reloaded onto a fresh base: every trained tensor bit-equal to its fp16 copy in the file.
    pipe = LampPipeline.from_base(random_base(seed=0), str(motion))
    loaded = pipe.unet.trainable_parameters()
    assert loaded.keys() == weights.keys()
    base = pipe.unet.base_tensors  # the base's attn1.to_q: the file holds what training changed in it
    with safe_open(str(motion), framework="pt") as handle:
        for name, value in weights.items():
            stored = handle.get_tensor(name)
            if name in base:
                assert torch.equal(stored, (value.float() - base[name].float()).half()), name
                assert torch.equal(loaded[name], base[name].float() + stored.float()), name
            else:
                assert torch.equal(stored, value.half()), name
                assert torch.equal(loaded[name], stored.float()), name
    del weights

    # 4. Generation: 2 DDIM steps with guidance from a first frame; frame 1 stays its latent.
    source = read_video(next(data.glob("*.mp4")))[0]  # (f, h, w, 3) uint8
    first = Image.fromarray(source[0])
    out = pipe("a horse runs", first, num_frames=FRAMES, height=SIZE, width=SIZE, num_inference_steps=2,
               generator=0, progress=False)
    assert out.frames.shape == (1, FRAMES, SIZE, SIZE, 3) and out.frames.dtype == np.uint8
    assert torch.equal(out.latents[:, :, 0], pipe.encode_images(image_to_tensor(first)))
    assert torch.isfinite(out.latents).all()

    # 5. A long video of two chained windows (the second starts from the first's last frame).
    settings = pipe.resolve(SamplingSettings(frames=2 * FRAMES - 1, sampling_steps=2, height=SIZE, width=SIZE)).values
    long = generate_long(pipe, "a horse runs", first, settings, window=FRAMES, overlap=1, generator=0, progress=False)
    assert long.frames.shape == (1, 2 * FRAMES - 1, SIZE, SIZE, 3)
    assert torch.isfinite(long.latents).all()

    # 6. A 2-step edit: DDIM inversion of the source clip, then sampling with an edited frame 1.
    edited = Image.fromarray(255 - source[0])
    edit = edit_video(pipe, source, edited, "a cat walks", num_frames=FRAMES, stride=1, height=SIZE, width=SIZE,
                      num_inference_steps=2, progress=False)
    assert edit.frames.shape == (1, FRAMES, SIZE, SIZE, 3)
    assert not torch.equal(edit.inverted_latents[:, :, 1:], edit.source_latents[:, :, 1:])
    assert torch.isfinite(edit.latents).all()


def test_sd14_trainable_count_matches_the_inflated_meta_model():
    """The arithmetic above against inflation itself (meta device: no memory, no time)."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        video = VideoUNet.inflate(UNet2DConditionModel(**SD14_UNET), MotionOptions(groupnorm="per_frame"))
    assert video.freeze_base() == sd14_trainable_count()
