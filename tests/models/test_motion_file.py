"""Motion files: exactly the trainable tensors, round trips, and clear errors for a wrong base."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from lamp_motion.models import (
    LampMotionAdapter,
    MotionFileError,
    MotionOptions,
    OtherBaseWarning,
    VideoUNet,
    load_motion,
    read_motion_header,
    save_motion,
)
from tests.helpers import inputs, make_tiny_unet, trained_video


@torch.no_grad()
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_round_trip_gives_identical_outputs(tmp_path, dtype):
    video = trained_video()
    path = save_motion(video, tmp_path / "m.safetensors", dtype=dtype, extra_metadata={"prompt": "horse run"})
    with safe_open(str(path), framework="pt") as f:
        assert sorted(f.keys()) == sorted(video.trainable_parameter_names())
    if dtype != "fp32":  # the file holds rounded values: compare with a model rounded the same way
        rounded = getattr(torch, {"fp16": "float16", "bf16": "bfloat16"}[dtype])
        with torch.no_grad():  # the base's own weights are held as a difference from the base: that is rounded
            for name, p in video.trainable_parameters().items():
                base = video.base_tensors.get(name, torch.zeros_like(p))
                p.copy_(base + (p - base).to(rounded).float())
    fresh = VideoUNet.inflate(make_tiny_unet(0), MotionOptions(groupnorm="per_frame"))
    header = load_motion(fresh, path)
    assert header.prompt == "horse run" and header.options == MotionOptions(groupnorm="per_frame")
    latents, t, text = inputs()
    assert torch.equal(fresh(latents, t, text), video(latents, t, text))


@torch.no_grad()
def test_whole_unet_motion_file_round_trips(tmp_path):
    options = MotionOptions(train_layers="unet", groupnorm="per_frame")
    video = trained_video(options=options)
    for p in video.unet.parameters():
        p.add_(0.01)  # every weight "trained"
    path = save_motion(video, tmp_path / "m.safetensors", dtype="fp32")
    fresh = VideoUNet.inflate(make_tiny_unet(0), options)
    header = load_motion(fresh, path)
    assert header.options.train_layers == "unet"
    latents, t, text = inputs()
    assert torch.equal(fresh(latents, t, text), video(latents, t, text))
    with pytest.raises(MotionFileError, match="options"):  # a LAMP-set model cannot take it
        load_motion(VideoUNet.inflate(make_tiny_unet(0), MotionOptions(groupnorm="per_frame")), path)


def test_options_without_train_layers_mean_the_papers_set():
    # motion files written before the option existed have no train_layers entry
    old = {k: v for k, v in MotionOptions().to_dict().items() if k != "train_layers"}
    assert MotionOptions.from_dict(old) == MotionOptions() and MotionOptions().train_layers == "lamp"


def test_file_holds_only_trainable_tensors_and_metadata(tmp_path):
    video = trained_video()
    path = save_motion(video, tmp_path / "m.safetensors")
    header = read_motion_header(path)
    assert header.metadata["dtype"] == "fp16" and header.base_weights == "difference"
    assert header.base_fingerprint == video.base_fingerprint
    size = path.stat().st_size
    trainable = sum(p.numel() for p in video.trainable_parameters().values())
    assert 2 * trainable <= size < 2 * trainable + 64 * 1024
    # Each tensor is its parameter rounded to fp16; the base's own (to_q) less the base's values first.
    assert video.base_tensors.keys() == {n for n in video.trainable_parameter_names() if n.endswith("attn1.to_q.weight")}
    with safe_open(str(path), framework="pt") as f:
        for name, p in video.trainable_parameters().items():
            stored = f.get_tensor(name)
            expected = p.detach() - video.base_tensors[name] if name in video.base_tensors else p.detach()
            assert stored.dtype == torch.float16 and torch.equal(stored, expected.half())


def test_other_architecture_names_the_first_mismatching_tensor(tmp_path):
    path = save_motion(trained_video(), tmp_path / "m.safetensors")
    other = VideoUNet.inflate(make_tiny_unet(0, block_out_channels=(16, 48)), MotionOptions(groupnorm="per_frame"))
    with pytest.raises(MotionFileError, match=r"tensor '.*' has shape .*, expected .*another base"):
        load_motion(other, path)


def test_full_to_q_on_other_weights_fails_unless_allowed(tmp_path):
    video = trained_video(seed=0)
    path = LampMotionAdapter.from_video_unet(video, base_weights="full").save_motion_file(tmp_path / "m.safetensors")
    other = VideoUNet.inflate(make_tiny_unet(seed=3), MotionOptions(groupnorm="per_frame"))
    before = {n: p.clone() for n, p in other.trainable_parameters().items()}
    with pytest.raises(MotionFileError, match="trained on another base.*allow_other_base"):
        load_motion(other, path)
    assert all(torch.equal(before[n], p) for n, p in other.trainable_parameters().items())  # nothing half-loaded
    with pytest.warns(OtherBaseWarning, match="replace this base's"):
        load_motion(other, path, allow_other_base=True)


def test_same_base_in_half_precision_matches_fingerprint(tmp_path):
    path = save_motion(trained_video(seed=0), tmp_path / "m.safetensors")
    half = VideoUNet.inflate(make_tiny_unet(0).to(torch.float16), MotionOptions(groupnorm="per_frame"))
    load_motion(half, path)


def test_other_options_fail_clearly(tmp_path):
    path = save_motion(trained_video(), tmp_path / "m.safetensors")
    other = VideoUNet.inflate(make_tiny_unet(0), MotionOptions(temporal_attention=False, groupnorm="per_frame"))
    with pytest.raises(MotionFileError, match="trained with options"):
        load_motion(other, path)


def test_not_a_motion_file(tmp_path):
    with pytest.raises(MotionFileError, match="does not exist"):
        read_motion_header(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(MotionFileError, match="not a readable safetensors"):
        read_motion_header(junk)
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(MotionFileError, match="not a LAMP motion file"):
        read_motion_header(tmp_path / "plain.safetensors")


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    video = trained_video()
    path = save_motion(video, tmp_path / "m.safetensors")
    old = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("lamp_motion.models.motion_file.save_file", broken)
    with pytest.raises(OSError):
        save_motion(video, path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
