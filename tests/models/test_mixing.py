"""Several motions in one video UNet (models/mixing.py): what a mix computes, and what it refuses."""

from __future__ import annotations

import pytest
import torch

from lamp_motion.models import LampMotionAdapter, MotionOptions, VideoUNet
from lamp_motion.models.mixing import is_mixed, mix_motions
from lamp_motion.models.motion_conv import MotionConv2d
from tests.helpers import inputs, make_tiny_unet, randomise_added

OPTIONS = MotionOptions(groupnorm="per_frame")


def motion(seed: int, shift: float, base_weights: str = "difference") -> LampMotionAdapter:
    """A "trained" motion of the tiny base (seed 0): random motion layers, to_q moved by ``shift``."""
    video = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)
    randomise_added(video, seed=seed)
    with torch.no_grad():
        for name, p in video.trainable_parameters().items():
            if name.endswith("attn1.to_q.weight"):
                p.add_(shift)
    return LampMotionAdapter.from_video_unet(video, base_weights=base_weights)


@pytest.fixture(scope="module")
def a():
    return motion(seed=7, shift=0.05)


@pytest.fixture(scope="module")
def b():
    return motion(seed=8, shift=-0.03)


def mixed(adapters, weights=None) -> VideoUNet:
    video = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)
    mix_motions(video, adapters, weights)
    return video.eval()


@torch.no_grad()
def out(video: VideoUNet) -> torch.Tensor:
    return video(*inputs())


def to_q(video: VideoUNet) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in video.trainable_parameters().items() if n.endswith("attn1.to_q.weight")}


def test_one_motion_at_weight_one_is_the_plain_load(a):
    plain = VideoUNet.from_unet2d(make_tiny_unet(0), a).eval()
    assert torch.equal(out(mixed([a])), out(plain)) and not is_mixed(mixed([a]))


def test_a_motion_mixed_with_itself_at_half_weights_is_the_motion(a, b):
    """0.5 a + 0.5 a: the branches sum to a's, to_q to a's; a mix that used only the first motion's branch at its
    weight, or replaced to_q instead of adding changes, would not give a back."""
    alone = out(mixed([a]))
    assert torch.allclose(out(mixed([a, a], [0.5, 0.5])), alone, atol=1e-5)
    assert not torch.allclose(out(mixed([a], [0.5])), alone, atol=1e-3)  # half of a is not a
    assert torch.allclose(out(mixed([a, b], [1.0, 0.0])), alone, atol=1e-5)  # b at 0 adds nothing
    both = out(mixed([a, b]))
    assert not torch.allclose(both, alone, atol=1e-3) and not torch.allclose(both, out(mixed([b])), atol=1e-3)


def test_each_branch_is_weighted_and_the_base_weights_add_their_changes(a, b):
    base = to_q(VideoUNet.inflate(make_tiny_unet(0), OPTIONS))
    video = mixed([a, b], [0.7, 0.4])
    held_a, held_b = a.tensors(), b.tensors()
    assert a.base_weights == b.base_weights == "difference"  # what to_q changed, as motion files hold it
    for name, q in to_q(video).items():
        expected = base[name] + 0.7 * held_a[name] + 0.4 * held_b[name]
        assert torch.allclose(q, expected, atol=1e-6)
    layer = next(m for m in video.motion_layers() if isinstance(m, MotionConv2d))
    video.context.num_frames = 5
    x = torch.randn(5, layer.in_channels, 4, 4)  # one video of 5 frames, folded
    [part] = layer.mixed
    with torch.no_grad():
        y = torch.nn.functional.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding)  # the pretrained conv
        expected = y + 0.7 * layer.branch(y) + 0.4 * layer.branch(y, part)
        assert torch.allclose(layer(x), expected, atol=1e-6)
        assert not torch.allclose(layer.branch(y), layer.branch(y, part), atol=1e-3)  # a's and b's branches differ
    assert layer.mix_weights == (0.7, 0.4)


def test_bad_weights_and_a_second_mix_are_refused_and_a_mix_is_not_saved_as_one_motion(a, b):
    video = VideoUNet.inflate(make_tiny_unet(0), OPTIONS)
    with pytest.raises(ValueError, match=r"1 motion weight\(s\) for 2 motion\(s\)"):
        mix_motions(video, [a, b], [0.5])
    with pytest.raises(ValueError, match="motion weight -1 must be a number from 0 to 3"):
        mix_motions(video, [a, b], [1, -1])
    with pytest.raises(ValueError, match="motion weight nan"):
        mix_motions(video, [a, b], [1, float("nan")])
    assert not is_mixed(video) and torch.equal(out(video), out(VideoUNet.inflate(make_tiny_unet(0), OPTIONS)))
    mix_motions(video, [a, b])
    with pytest.raises(ValueError, match="already has motions mixed in"):
        mix_motions(video, [a, b])
    with pytest.raises(ValueError, match="holds a mix of motions"):
        LampMotionAdapter.from_video_unet(video)
    assert "mixed" not in " ".join(video.trainable_parameter_names())  # the mixed-in branches never train


def test_a_merged_file_applies_its_motions_exactly_as_mixing_them(a, b, tmp_path):
    from lamp_motion.models.mixing import merge_motions, split_merged
    from lamp_motion.models.motion_file import MotionFileError

    path = merge_motions([a, b], [0.7, 0.4], tmp_path / "ab.safetensors", dtype="fp32")
    merged = LampMotionAdapter.from_pretrained(path)
    assert [w for _, w in split_merged(merged)] == [pytest.approx(0.7), pytest.approx(0.4)]
    assert torch.equal(out(mixed([merged])), out(mixed([a, b], [0.7, 0.4])))
    # merged again, with a third weight: the parts' weights multiply
    again = LampMotionAdapter.from_pretrained(merge_motions([merged, a], [0.5, 1.0], tmp_path / "aba.safetensors",
                                                            dtype="fp32"))
    assert [round(w, 6) for _, w in split_merged(again)] == [0.35, 0.2, 1.0]
    assert torch.equal(out(mixed([again])), out(mixed([a, b, a], [0.35, 0.2, 1.0])))
    with pytest.raises(MotionFileError, match="is a merged motion file"):
        VideoUNet.from_unet2d(make_tiny_unet(0), merged)
    other = LampMotionAdapter.from_video_unet(VideoUNet.inflate(make_tiny_unet(0), MotionOptions(groupnorm="joint")))
    with pytest.raises(ValueError, match="only motions of the same options can be merged"):
        merge_motions([a, other], None, tmp_path / "bad.safetensors")
    different = LampMotionAdapter.from_video_unet(VideoUNet.inflate(make_tiny_unet(3), OPTIONS))
    with pytest.raises(ValueError, match="trained on different bases"):
        merge_motions([a, different], None, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_motion_holding_to_q_in_full_mixes_as_its_difference_does(a, b):
    full = motion(seed=7, shift=0.05, base_weights="full")  # a, as older files hold it
    assert full.base_weights == "full"
    assert torch.allclose(out(mixed([full, b], [0.7, 0.4])), out(mixed([a, b], [0.7, 0.4])), atol=1e-5)
    assert not torch.allclose(out(mixed([full, b], [0.7, 0.4])), out(mixed([a, b], [0.4, 0.7])), atol=1e-3)
