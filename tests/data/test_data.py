"""Training data: folder scanning and bad-data reports, clip sampling, pixels and the latent cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamp_motion.data import (
    ClipIndex,
    ClipSampler,
    DataError,
    LatentCache,
    clip_pixels,
    encode_clip,
    resize_and_center_crop,
    scan_videos,
    vae_encoder,
)
from lamp_motion.video_io import write_video
from tests.helpers import make_bad_entries, save_frame_folder, video

NUM_FRAMES, STRIDE, SIZE = 5, 2, 32  # clips need (5 - 1) * 2 + 1 = 9 frames


def scan(folder: Path | str, **overrides: object) -> object:
    settings = {"num_frames": NUM_FRAMES, "stride": STRIDE, "height": SIZE, "width": SIZE, **overrides}
    return scan_videos(folder, **settings)


@pytest.fixture
def good_folder(tmp_path: Path) -> Path:
    """``horse_run/``: a gif with a caption, an mp4 and a frame folder, all 12 frames of 32x48."""
    folder = tmp_path / "horse_run"
    write_video(folder / "a.gif", video(seed=1), fps=8)
    (folder / "a.txt").write_text("  a horse\ngalloping \n")
    write_video(folder / "b.mp4", video(seed=2), fps=8)
    save_frame_folder(folder / "c", video(seed=3))
    return folder


def test_scan_reads_every_kind_with_folder_name_prompt_and_captions(good_folder: Path) -> None:
    video_set = scan(f"{good_folder}/")  # trailing slash
    assert video_set.prompt == "horse run"
    assert [v.path.name for v in video_set.videos] == ["a.gif", "b.mp4", "c"]
    assert [v.prompt for v in video_set.videos] == ["a horse galloping", "horse run", "horse run"]
    assert all(v.frames.shape == (12, SIZE, SIZE, 3) and v.frames.dtype == np.uint8 for v in video_set.videos)
    assert video_set.lengths == [12, 12, 12]
    assert video_set.problems == [] and video_set.notes == []


def test_config_prompt_overrides_folder_name_but_not_captions(good_folder: Path) -> None:
    video_set = scan(good_folder, prompt="a horse running")
    assert video_set.prompt == "a horse running"
    assert [v.prompt for v in video_set.videos] == ["a horse galloping", "a horse running", "a horse running"]


def test_partly_bad_folder_keeps_good_videos_and_reports_the_rest(good_folder: Path) -> None:
    make_bad_entries(good_folder)
    grey = video(seed=4)
    grey[..., 1] = grey[..., 2] = grey[..., 0]
    write_video(good_folder / "grey.gif", grey, fps=8)
    save_frame_folder(good_folder / "rgba", video(seed=5), mode="RGBA")
    Image.fromarray(np.zeros((32, 48, 4), dtype=np.uint8)).save(
        good_folder / "rgba" / "011.png"
    )  # one transparent frame
    (good_folder / "notes.txt").write_text("caption of nothing: ignored")

    with pytest.warns(UserWarning, match="skipped 4") as caught:
        video_set = scan(good_folder)
    assert [v.path.name for v in video_set.videos] == ["a.gif", "b.mp4", "c", "grey.gif", "rgba"]
    reasons = {path.name: reason for path, reason in video_set.problems}
    assert set(reasons) == {"corrupt.mp4", "short.gif", "empty", "readme.md"}
    assert "corrupt" in reasons["corrupt.mp4"]
    assert reasons["short.gif"] == "has 4 frames but a clip of 5 frames at stride 2 needs 9"
    assert "no frame images" in reasons["empty"]
    assert "not a video" in reasons["readme.md"]
    assert video_set.notes == [
        "grey.gif: converted greyscale frames to RGB",
        "rgba/: composited transparent frames over black",
    ]
    warning = str(caught[0].message)
    assert all(name in warning for name in ("corrupt.mp4", "short.gif", "empty/", "readme.md"))
    assert "needs 9" in video_set.report()


def test_no_usable_video_raises_listing_every_problem(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    make_bad_entries(folder)
    with pytest.raises(DataError) as caught:
        scan(folder)
    message = str(caught.value)
    assert message.startswith(f"no usable training videos in {folder}")
    assert "corrupt.mp4: the file is corrupt" in message
    assert "short.gif: has 4 frames but a clip of 5 frames at stride 2 needs 9" in message
    assert "empty/: the folder has no frame images" in message
    assert "readme.md: not a video" in message


def test_empty_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="nothing is empty"):
        scan(tmp_path / "nothing")


def test_folder_with_only_captions_raises(tmp_path: Path) -> None:
    folder = tmp_path / "captions"
    folder.mkdir()
    (folder / "a.txt").write_text("a caption")
    with pytest.raises(DataError, match=r"no videos or frame folders in .*captions"):
        scan(folder)


def test_frames_directly_in_the_folder_are_reported_as_one_problem(tmp_path: Path) -> None:
    save_frame_folder(tmp_path / "frames_only", video())
    with pytest.raises(DataError, match=r"frames_only/: 12 images \(000.png, 001.png, 002.png, ...\) lie directly"):
        scan(tmp_path / "frames_only")


def test_missing_folder_and_bad_sizes_raise(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        scan(tmp_path / "absent")
    with pytest.raises(DataError, match=r"height must be a positive multiple of 8, got 30; use e\.g\. 32") as caught:
        scan(tmp_path, height=30, width=0)
    assert "width must be a positive multiple of 8, got 0; use e.g. 8" in str(caught.value)


def test_resize_keeps_aspect_ratio_and_crops_the_centre() -> None:
    frames = np.zeros((2, 48, 64, 3), dtype=np.uint8)
    frames[:, 12:36, 20:44] = 255  # a centred 24x24 white square
    out = resize_and_center_crop(frames, 32, 32)  # scaled by 2/3 to 32x43, then 32 of 43 columns kept
    assert out.shape == (2, 32, 32, 3)
    assert (out[:, 10:22, 10:22] == 255).all()  # the square, 16x16 after scaling, stays centred
    assert (out[:, :6] == 0).all() and (out[:, :, :6] == 0).all() and (out[:, :, -6:] == 0).all()
    exact = np.random.default_rng(0).integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_and_center_crop(exact, 32, 32), exact[:, :, 16:48])  # crop only
    assert resize_and_center_crop(exact[:, :16, :16], 64, 32).shape == (2, 64, 32, 3)  # upscaling


def test_clip_pixels_take_strided_frames_in_range_and_flip(good_folder: Path) -> None:
    video_set = scan(good_folder)
    frames = video_set.videos[1].frames
    pixels = clip_pixels(video_set, ClipIndex(video=1, start=2, flip=False))
    assert pixels.shape == (3, NUM_FRAMES, SIZE, SIZE) and pixels.dtype == torch.float32
    expected = torch.from_numpy(frames[2:11:2]).permute(3, 0, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(pixels, expected)
    assert pixels.min() >= -1 and pixels.max() <= 1
    flipped = clip_pixels(video_set, ClipIndex(video=1, start=2, flip=True))
    torch.testing.assert_close(flipped, expected.flip(-1))
    with pytest.raises(IndexError, match="runs past the 12 frames"):
        clip_pixels(video_set, ClipIndex(video=1, start=4, flip=False))


LENGTHS = [12, 9, 20]


def take(sampler: ClipSampler, count: int) -> list[ClipIndex]:
    return [next(sampler) for _ in range(count)]


def test_sampler_is_deterministic_for_a_seed() -> None:
    first = take(ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=True, seed=33), 30)
    assert first == take(ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=True, seed=33), 30)
    assert first != take(ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=True, seed=34), 30)


def test_sampler_covers_every_video_each_epoch_with_valid_starts() -> None:
    clips = take(ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=True, seed=0), 300)
    epochs = [clips[i : i + 3] for i in range(0, 300, 3)]
    assert all(sorted(c.video for c in epoch) == [0, 1, 2] for epoch in epochs)
    assert len({tuple(c.video for c in epoch) for epoch in epochs}) > 1  # the order changes between epochs
    assert all(0 <= c.start <= LENGTHS[c.video] - 9 for c in clips)
    assert {c.start for c in clips if c.video == 2} == set(range(12))  # every start of the 20-frame video
    assert {c.start for c in clips if c.video == 1} == {0}
    assert 0.3 < np.mean([c.flip for c in clips]) < 0.7
    assert not any(c.flip for c in take(ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=False, seed=0), 30))


def test_sampler_resumes_exactly_from_its_state() -> None:
    sampler = ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=True, seed=7)
    take(sampler, 7)
    state = sampler.state_dict()
    continuation = take(sampler, 10)
    resumed = ClipSampler(LENGTHS, NUM_FRAMES, STRIDE, flip=True, seed=7)
    resumed.load_state_dict(state)
    assert take(resumed, 10) == continuation
    other_data = ClipSampler([12, 9, 21], NUM_FRAMES, STRIDE, flip=True, seed=7)
    with pytest.raises(ValueError, match=r"video_lengths: saved \[12, 9, 20\], now \[12, 9, 21\]"):
        other_data.load_state_dict(state)


def test_sampler_rejects_videos_too_short_for_a_clip() -> None:
    with pytest.raises(ValueError, match=r"at least 9 frames .*video 1 has 8"):
        ClipSampler([12, 8], NUM_FRAMES, STRIDE, flip=False, seed=0)


def fake_encoder() -> tuple[torch.nn.Conv2d, torch.nn.Conv2d]:
    """A fixed random stride-8 conv pair: not mirror-symmetric, so mirrored latents != latents of mirrored pixels."""
    torch.manual_seed(0)
    return torch.nn.Conv2d(3, 4, 8, stride=8), torch.nn.Conv2d(3, 4, 8, stride=8)


def check_cache_matches_uncached_encoding(video_set: object, encode_fn: object) -> None:
    cache = LatentCache.build(video_set, encode_fn, flip=True, chunk=5)
    sampler = ClipSampler(video_set.lengths, NUM_FRAMES, STRIDE, flip=True, seed=3)
    clips = take(sampler, 9)
    assert {c.flip for c in clips} == {False, True}
    for clip in clips:
        mean, std = cache.clip_latent_dist(clip)
        expected_mean, expected_std = encode_clip(clip_pixels(video_set, clip), encode_fn)
        assert mean.shape == expected_mean.shape and mean.shape[1] == NUM_FRAMES
        # Equal up to float rounding: the cache encodes frames in other batches than the clip.
        torch.testing.assert_close(mean, expected_mean, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(std, expected_std, rtol=1e-4, atol=1e-4)
    plain = cache.clip_latent_dist(ClipIndex(0, 0, flip=False))[0]
    mirrored = cache.clip_latent_dist(ClipIndex(0, 0, flip=True))[0]
    assert not torch.allclose(mirrored, plain.flip(-1), atol=1e-4)  # mirrored pixels were encoded, not latents flipped


def test_latent_cache_equals_encoding_clip_pixels_with_a_fake_encoder(good_folder: Path) -> None:
    video_set = scan(good_folder)
    mean_conv, std_conv = fake_encoder()

    def encode(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mean_conv(pixels), torch.nn.functional.softplus(std_conv(pixels))

    check_cache_matches_uncached_encoding(video_set, encode)
    unflipped = LatentCache.build(video_set, encode, flip=False)
    with pytest.raises(ValueError, match="built with flip=False"):
        unflipped.clip_latent_dist(ClipIndex(0, 0, flip=True))


def test_latent_cache_equals_encoding_clip_pixels_with_a_tiny_vae(good_folder: Path) -> None:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=32,
    ).eval()
    check_cache_matches_uncached_encoding(scan(good_folder), vae_encoder(vae))
