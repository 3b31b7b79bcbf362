"""Loading a base: diffusers folders, single files, hub ids offline, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from lamp_motion.models.loading import BaseModelError, load_base, load_base_unet


def test_folder_loads_every_part(tiny_sd_folder):
    base = load_base(str(tiny_sd_folder))
    assert base.unet.config.block_out_channels == (16, 32) or list(base.unet.config.block_out_channels) == [16, 32]
    assert len(base.tokenizer) == base.text_encoder.config.vocab_size
    assert base.ddim_scheduler().config.clip_sample is False
    assert base.noise_scheduler().config.prediction_type == "epsilon"


def test_unet_subfolder_and_unet_folder(tiny_sd_folder):
    a = load_base_unet(str(tiny_sd_folder))
    b = load_base_unet(str(tiny_sd_folder / "unet"))
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)


def test_single_file_unet_goes_through_diffusers_single_file_loading(tiny_sd_folder, tmp_path):
    reference = load_base_unet(str(tiny_sd_folder))
    single = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(single))
    unet = load_base_unet(str(single), config=str(tiny_sd_folder))
    for name, value in reference.state_dict().items():
        assert torch.equal(unet.state_dict()[name], value), name


def test_pickled_checkpoints_are_refused(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04 pretend pickle")
    with pytest.raises(BaseModelError, match="pickled checkpoint.*never loaded"):
        load_base_unet(str(ckpt))


def test_missing_path_and_non_model_folder(tmp_path):
    with pytest.raises(BaseModelError, match="not found"):
        load_base(str(tmp_path / "nowhere"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BaseModelError, match=r"not a diffusers model folder: it holds no model_index.json"):
        load_base(str(tmp_path))


def test_hub_id_offline_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BaseModelError, match="not in the local hub cache and HF_HUB_OFFLINE is set"):
        load_base_unet("nobody-here/no-such-model")


def test_non_sd1_unet_gives_one_line_error(tiny_sd_folder, tmp_path):
    config = json.loads((tiny_sd_folder / "unet" / "config.json").read_text())
    config["addition_embed_type"] = "text_time"
    config["addition_time_embed_dim"] = 8
    config["projection_class_embeddings_input_dim"] = 40
    from diffusers import UNet2DConditionModel

    UNet2DConditionModel.from_config(config).save_pretrained(tmp_path / "xl-like")
    with pytest.raises(ValueError, match="not an SD 1.x UNet") as info:
        load_base_unet(str(tmp_path / "xl-like"))
    assert "\n" not in str(info.value)
