"""Training data for few-shot motion tuning.

A training folder holds 8-16 videos (``.mp4 .webm .mov .mkv .gif``) or subfolders of
frame images that share one motion. The motion prompt is the training config's, or
the folder name with ``_`` as spaces; ``<stem>.txt`` beside a video overrides it for
that video.

Flow, all before the first training step::

    video_set = scan_videos(folder, num_frames=16, stride=1, height=320, width=512)
    sampler = ClipSampler(video_set.lengths, video_set.num_frames, video_set.stride, flip=True, seed=33)
    clip = next(sampler)                       # ClipIndex(video, start, flip)
    pixels = clip_pixels(video_set, clip)      # (c, f, h, w) float32 in [-1, 1]
    mean, std = encode_clip(pixels, encode_fn) # or, with a cache built once:
    cache = LatentCache.build(video_set, encode_fn, flip=True)
    mean, std = cache.clip_latent_dist(clip)   # (c', f, h/8, w/8), same values

:func:`scan_videos` reads every video once, keeps the resized and centre-cropped
frames in memory, and reports all bad data at once: skipped entries with reasons in
``VideoSet.problems`` (and a warning), colour conversions in ``VideoSet.notes``, and
:class:`DataError` listing every problem when nothing is usable.
"""

from lamp_motion.data.clips import ClipIndex, ClipSampler, clip_pixels
from lamp_motion.data.frames import RESIZE_MODES, clip_span, frames_to_pixels, resize_and_center_crop, resize_frames
from lamp_motion.data.latent_cache import EncodeFn, LatentCache, encode_clip, encode_frames, vae_encoder
from lamp_motion.data.video_set import DataError, VideoItem, VideoSet, scan_videos

__all__ = [
    "ClipIndex",
    "ClipSampler",
    "DataError",
    "EncodeFn",
    "RESIZE_MODES",
    "LatentCache",
    "VideoItem",
    "VideoSet",
    "clip_pixels",
    "clip_span",
    "encode_clip",
    "encode_frames",
    "frames_to_pixels",
    "resize_and_center_crop",
    "resize_frames",
    "scan_videos",
    "vae_encoder",
]
