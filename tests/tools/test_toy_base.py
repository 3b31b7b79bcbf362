"""The built-in toy base model: offline loading, tokenizer, scheduler, and the quality classifier."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from build_toy_base import (
    UNK,
    VOCABULARY,
    BuildConfig,
    build_models,
    build_tokenizer,
    continue_from,
    reuse_vae,
)
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from toy_base_quality import Verdict, classifier_accuracy, classify
from transformers import CLIPTokenizer

from lamp_motion.builtin import builtin_base_path
from lamp_motion.data.toy.motions import MOTIONS
from lamp_motion.data.toy.scene import BACKGROUNDS, COLOURS, SHAPES, Scene, draw

MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def pipeline() -> StableDiffusionPipeline:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    pipe = StableDiffusionPipeline.from_pretrained(builtin_base_path())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_shipped_model_generates_offline(pipeline: StableDiffusionPipeline) -> None:
    image = pipeline("a red circle", height=32, width=32, num_inference_steps=3, guidance_scale=5.0,
                     generator=torch.Generator().manual_seed(0), output_type="np").images
    assert image.shape == (1, 32, 32, 3)
    assert np.isfinite(image).all()


def test_shipped_model_is_small_sd1_architecture(pipeline: StableDiffusionPipeline) -> None:
    size = sum(f.stat().st_size for f in builtin_base_path().rglob("*") if f.is_file())
    assert size <= MAX_BYTES
    unet = UNet2DConditionModel.from_pretrained(builtin_base_path(), subfolder="unet")
    assert "CrossAttnDownBlock2D" in unet.config.down_block_types
    assert "CrossAttnUpBlock2D" in unet.config.up_block_types
    assert unet.config.cross_attention_dim == pipeline.text_encoder.config.hidden_size
    assert any(type(m).__name__ == "BasicTransformerBlock" for block in unet.down_blocks for m in block.modules())
    assert pipeline.vae.config.scaling_factor != 0.18215  # measured on the training stills
    assert pipeline.text_encoder.config.max_position_embeddings == pipeline.tokenizer.model_max_length


def test_scheduler_never_clips_latents(pipeline: StableDiffusionPipeline) -> None:
    config = pipeline.scheduler.config
    assert config.clip_sample is False
    assert config.prediction_type == "epsilon"
    assert config.set_alpha_to_one is False and config.steps_offset == 1


def test_tokenizer_reloads_identically_with_word_tokens() -> None:
    shipped = CLIPTokenizer.from_pretrained(builtin_base_path(), subfolder="tokenizer")
    built = build_tokenizer(shipped.model_max_length)
    assert len(shipped) == len(built) == len(VOCABULARY) + 3  # start, end, unknown
    assert shipped.get_vocab() == built.get_vocab()
    ids = [shipped(word, add_special_tokens=False).input_ids for word in VOCABULARY]
    assert all(len(i) == 1 for i in ids)
    assert len({i[0] for i in ids}) == len(VOCABULARY)
    assert UNK not in {shipped.convert_ids_to_tokens(i[0]) for i in ids}
    sentence = shipped("A Red circles Around.", add_special_tokens=False).input_ids
    assert sentence[:4] == [shipped.convert_tokens_to_ids(w) for w in ("a", "red", "circles", "around")]


def test_tokenizer_maps_unknown_words_to_unknown_id() -> None:
    tokenizer = CLIPTokenizer.from_pretrained(builtin_base_path(), subfolder="tokenizer")
    for word in ("horse", "reds", "xyz", "circled"):
        ids = tokenizer(word, add_special_tokens=False).input_ids
        assert ids and set(ids) == {tokenizer.unk_token_id}, word


def test_vocabulary_covers_captions_and_motion_prompts() -> None:
    words = set(VOCABULARY)
    assert set(COLOURS) | set(SHAPES) | set(BACKGROUNDS) <= words
    for motion in MOTIONS.values():
        assert set(motion.prompt.split()) <= words, motion.prompt


def test_classifier_on_rendered_stills() -> None:
    colour, shape = classifier_accuracy(count=200, seed=7)
    assert colour == 1.0
    assert shape >= 0.9
    plain = np.full((32, 32, 3), BACKGROUNDS["grey"], dtype=np.uint8)
    assert not classify(plain).found
    assert classify(draw(Scene(shape="arrow", colour="purple", background="navy", size=0.3), 32)).colour == "purple"


def test_classifier_finds_no_object_when_the_peak_lies_outside_the_heaviest_blob() -> None:
    image = np.zeros((32, 32, 3), dtype=np.uint8)  # black: a red pixel's contrast is 0.816 * its red value
    image[4:14, 4:14, 0] = 184  # a large blob at 0.72 of the peak: above half, below the 75% core
    image[25, [20, 24, 28], 0] = 255  # three isolated peak pixels, far lighter in total
    with np.errstate(all="raise"):
        assert classify(image) == Verdict(None, None)


@pytest.mark.parametrize("factor", [2, 4])
def test_build_models_latent_factor(factor: int) -> None:
    config = BuildConfig(latent_factor=factor)
    _, vae, unet = build_models(config, build_tokenizer(config.max_length))
    with torch.no_grad():
        latents = vae.encode(torch.zeros(1, 3, config.resolution, config.resolution)).latent_dist.mode()
    assert latents.shape[-1] == unet.config.sample_size == config.resolution // factor


def test_build_models_refuses_other_latent_factors() -> None:
    with pytest.raises(ValueError, match="latent_factor must be 2 or 4"):
        build_models(BuildConfig(latent_factor=8), build_tokenizer(16))


@pytest.mark.parametrize("top", [True, False])
def test_build_models_top_attention(top: bool) -> None:
    """With top_attention the finest (16x16) level has attention blocks (and so first-frame attention)."""
    _, _, unet = build_models(BuildConfig(top_attention=top), build_tokenizer(16))
    finest_down, finest_up = unet.down_blocks[0], unet.up_blocks[-1]
    assert hasattr(finest_down, "attentions") is top
    assert hasattr(finest_up, "attentions") is top
    assert hasattr(unet.down_blocks[1], "attentions")  # 8x8 has them either way


def test_reuse_vae_loads_a_matching_vae_and_refuses_another(tmp_path) -> None:
    tokenizer = build_tokenizer(16)
    _, vae, _ = build_models(BuildConfig(), tokenizer)
    with torch.no_grad():
        vae.decoder.conv_out.bias.fill_(0.25)  # a mark that the loaded VAE is this one, not a fresh one
    vae.save_pretrained(tmp_path / "vae")
    loaded = reuse_vae(build_models(BuildConfig(), tokenizer)[1], tmp_path)
    assert torch.equal(loaded.decoder.conv_out.bias, vae.decoder.conv_out.bias)
    with pytest.raises(ValueError, match="differs from this build's in block_out_channels"):
        reuse_vae(build_models(BuildConfig(latent_factor=4), tokenizer)[1], tmp_path)


def test_continue_from_loads_a_matching_unet_and_text_encoder_and_refuses_another(tmp_path) -> None:
    tokenizer = build_tokenizer(16)
    text_encoder, _, unet = build_models(BuildConfig(), tokenizer)
    with torch.no_grad():
        unet.conv_out.bias.fill_(0.5)  # marks of the saved weights
        text_mark = list(text_encoder.state_dict())[-1]
        text_encoder.state_dict()[text_mark].fill_(0.5)
    unet.save_pretrained(tmp_path / "unet")
    text_encoder.save_pretrained(tmp_path / "text_encoder")
    fresh_text, _, fresh_unet = build_models(BuildConfig(), tokenizer)
    loaded_unet, loaded_text = continue_from(fresh_unet, fresh_text, tmp_path)
    assert torch.equal(loaded_unet.conv_out.bias, unet.conv_out.bias)
    assert torch.equal(loaded_text.state_dict()[text_mark], text_encoder.state_dict()[text_mark])
    assert not torch.equal(fresh_text.state_dict()[text_mark], text_encoder.state_dict()[text_mark])
    other_text, _, other_unet = build_models(BuildConfig(top_attention=True), tokenizer)
    with pytest.raises(ValueError, match="the UNet in .* differs from this build's in down_block_types"):
        continue_from(other_unet, other_text, tmp_path)
