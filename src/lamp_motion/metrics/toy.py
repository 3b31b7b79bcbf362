"""Objective scores for toy-world videos: does the object move as the motion says, and keep its looks?

Every score is in ``[0, 1]`` (1 = best) and comes from an object track found by colour
segmentation, without any learnt model. :func:`score_video` scores one video and
:func:`summarise` gives the mean and spread over many; :func:`score_video` documents
each score exactly.

Tracking (:func:`track_object`)
-------------------------------
The toy world's objects have saturated colours; its backgrounds are greys or navy,
and its texture only changes brightness. So a pixel is measured by its *chroma*: the
pixel minus the frame's background colour (the median of the frame's one-pixel
border), less its grey component (the mean over R, G, B). Frame 0 is the reference:
its object is the largest 8-connected blob of pixels whose chroma length is at least
half the object's peak (the mean of the 3 largest), which must be at least
``MIN_CONTRAST``; its *strength* is the mean chroma length of the blob's core (pixels
at 3/4 of the peak or more). In every frame a pixel's object weight is its chroma
length over that strength, clipped to ``[0, 1]``, so antialiased edges count in part.
The object is the heaviest blob of weight >= 0.5 (found if it has at least
``MIN_PIXELS`` pixels), with the weights of it and its 1-pixel ring. Per found frame:

- centroid: weighted mean position in fractions of the width and height (the units of
  :class:`~lamp_motion.data.toy.scene.Scene`); area: summed weight over the image area;
- harmonics ``c_m`` (m = 1..4): complex moments about the centroid with pixel offsets
  ``z = dx - i dy`` (angles counter-clockwise on screen): ``c_1 = sum w |z|^2 z / sum w
  |z|^3`` and ``c_m = sum w z^m / sum w |z|^m``. A shape with m-fold symmetry has
  ``|c_m| > 0`` only for multiples of m, and turning the shape by ``a`` turns ``c_m``
  by ``m a``: the arrow has a strong ``c_1`` (its tip) and ``c_3``, the triangle
  ``c_3``, the square ``c_4``, the circle none. Being sums over every pixel of the
  shape they are far steadier at 32 px than, say, the farthest pixel;
- shape descriptor: ``(|c_1|, |c_2|, |c_3|, |c_4|, spread)``, invariant to position,
  size and rotation, with ``spread = 2 pi sum w |z|^2 / (sum w)^2`` (1 for a disc, 1.05
  square, 1.21 equilateral triangle, about 1.45 arrow);
- hue: the angle, in the plane of chromas, of the blob's summed chroma. Mixing the
  object's colour with the background (antialiasing, blur, the chroma subsampling of
  mp4) scales each pixel's chroma without turning it, and the texture has no chroma,
  so the hue stays put where a mean RGB colour would drift. Palette colours are at
  least 19 degrees apart on every background (yellow and orange on navy);
- colour: the median RGB of the blob's core (its pixels with at least 9/10 of its
  peak chroma length, the mean of its 3 largest), i.e. the object's own colour, little
  mixed with the background.

In every frame, found or not, the background colour is the median RGB of the pixels
outside the object grown by ``BACKGROUND_GUARD`` pixels (all pixels when not found).

Leakage (:func:`leakage`)
-------------------------
A model tuned on a few clips of one look can paint its training content into new
videos: the object takes a training colour, the background a training background.
:class:`TrainingPalette` holds the object and background colours of training videos
(:func:`palette_from_videos`); :func:`leakage` measures how far a video's later
frames move from frame 0's colours towards them (0 = not at all, 1 = all the way).

`lamp eval` (:func:`toy_report`)
--------------------------------
A video comes from a toy motion (:data:`lamp_motion.data.toy.motions.MOTIONS`, or a
translation at any angle, ``move_deg_<DEG>`` with the prompt "moves at DEG degrees")
when its prompt is a toy caption followed by the motion's prompt ("a red circle moves
right", as `lamp toy make-set` and `lamp demo` write them), or when the motion it was
made with was trained on that motion's prompt ("moves right"). Such videos get the
scores of :func:`score_video` (motion fidelity, content preservation, background
stability, temporal smoothness, object found; each in ``[0, 1]``, 1 best), per video and per toy motion, and ``leakage`` (0 = none, lower is
better) where the training videos are known (:func:`palette_from_folder`). They need
no learnt model.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..data.toy.motions import DIRECTION_PREFIX, MOTIONS, get_motion
from ..data.toy.scene import COLOURS, SHAPES
from ..video_io import VIDEO_SUFFIXES, VideoReadError, read_video, video_entries

MIN_CONTRAST = 40.0  # least chroma length (0-255 scale) of the reference object's peak
MIN_PIXELS = 3  # least pixels of a blob to count as the object
HARMONICS = 4  # orders m of the complex moments c_m

WINDOW_DIVISOR = 6  # windowed steps span round((f - 1) / 6) frames, at least 1
ANGLE_TOLERANCE = 35.0  # degrees a translation step may deviate from its direction
MIN_TRAVEL = 0.1  # least travel of a translation per clip, image sides
MIN_SCALE = 1.25  # least size ratio of grow / shrink per clip
MIN_SWEEP = 90.0  # least orbit angle per clip, degrees
ORBIT_RADIUS = (0.05, 0.5)  # allowed fitted orbit radius, image sides
ORBIT_FIT_TOLERANCE = 0.15  # most RMS deviation of the centroids from the fitted radius, relative
ORBIT_RADIUS_TOLERANCE = 0.35  # most relative deviation of a step's ends from the fitted radius
MIN_NET_SWEEP = 120.0  # least net counter-clockwise turn of an orbit over the clip, degrees
MIN_TURN = 45.0  # least rotation of "rotate" per clip, degrees
MIN_ORDER_STRENGTH = 0.05  # least |c_m| for an orientation to be visible
MIN_FALL = 0.15  # least fall of "bounce" before its bottom, image sides
MIN_REBOUND = 0.2  # least rise after the bottom of "bounce", as a fraction of the fall
MIN_SPEED_UP = 1.3  # least ratio of late to early falling speed of "bounce" (gravity)
MAX_DRIFT = 0.5  # most horizontal range of "bounce", as a fraction of the fall

HUE_TOLERANCE = 10.0  # most hue change of the object from the reference, degrees
SHAPE_TOLERANCE = 0.25  # most change of any shape-descriptor entry from the reference
BACKGROUND_TOLERANCE = 24  # most change (0-255, any channel) of a background pixel
BACKGROUND_GUARD = 2  # pixels around the object left out of the background comparison
SMOOTHNESS_EPSILON = 0.03  # image sides added to the path length in the jerk ratio
LEAKAGE_NEAR = 40.0  # RGB distance (0-255) within which frame 0's colour counts as a training colour

METRICS = ("motion_fidelity", "content_preservation", "frame1_kept", "background_stability", "temporal_smoothness",
           "object_found")
# An orthonormal basis of the plane of chromas (RGB vectors with no grey component).
_HUE_AXES = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]) / np.array([[math.sqrt(2.0)], [math.sqrt(6.0)]])


@dataclass(frozen=True)
class Track:
    """Per-frame measurements of the object; frame 0 is the reference. NaN where not found."""

    found: np.ndarray  # (f,) bool
    centroid: np.ndarray  # (f, 2) x, y in fractions of width and height
    area: np.ndarray  # (f,) fraction of the image area
    harmonics: np.ndarray  # (f, HARMONICS) complex c_1..c_4
    descriptor: np.ndarray  # (f, HARMONICS + 1) |c_1|..|c_4|, spread
    hue: np.ndarray  # (f,) degrees
    region: np.ndarray  # (f, h, w) bool: the object blob grown by BACKGROUND_GUARD pixels
    colour: np.ndarray  # (f, 3) float RGB (0-255): median of the object's core; NaN where not found
    background: np.ndarray  # (f, 3) float RGB (0-255): median outside the region; measured in every frame

    @property
    def size(self) -> np.ndarray:
        """Linear size, ``sqrt(area)``, in image sides."""
        return np.sqrt(self.area)

    def select(self, frames: slice) -> Track:
        """The track of some of the frames."""
        return Track(**{item.name: getattr(self, item.name)[frames] for item in fields(self)})


def _difference(frame: np.ndarray) -> np.ndarray:
    """``frame - background`` ``(h, w, 3)``, the background being the median border colour."""
    pixels = frame.astype(np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return pixels - np.median(border, axis=0)


def _chroma(difference: np.ndarray) -> np.ndarray:
    """A colour difference without its grey component (what brightness and texture change)."""
    return difference - difference.mean(axis=-1, keepdims=True)


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow a boolean mask by ``steps`` pixels (8-neighbourhood)."""
    h, w = mask.shape
    for _ in range(steps):
        padded = np.pad(mask, 1)
        mask = np.any([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
    return mask


def _heaviest_blob(mask: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The 8-connected component of ``mask`` with the most ``weight`` (all False if none)."""
    if not mask.any():
        return mask
    h, w = mask.shape
    labels = np.where(mask, np.arange(1, h * w + 1).reshape(h, w), 0)
    while True:  # every pixel takes the largest label around it until each blob has one label
        padded = np.pad(labels, 1)
        around = np.max([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
        grown = np.where(mask, around, 0)
        if np.array_equal(grown, labels):
            break
        labels = grown
    ids, members = np.unique(labels[mask], return_inverse=True)
    return labels == ids[np.argmax(np.bincount(members, weights=weight[mask]))]


def _strength(reference: np.ndarray) -> float | None:
    """The chroma length of the reference object's core, or None if the frame has no object."""
    length = np.linalg.norm(_chroma(_difference(reference)), axis=-1)
    peak = float(np.sort(length, axis=None)[-3:].mean())
    if peak < MIN_CONTRAST:
        return None
    blob = _heaviest_blob(length >= 0.5 * peak, length)
    return float(length[blob & (length >= 0.75 * peak)].mean())


def moments(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centroid ``(x, y)`` in pixels, harmonics ``c_1..c_4`` and spread of an object's weights ``(h, w)``.

    See the module docstring; ``(|c_1|, .., |c_4|, spread)`` is the shape descriptor.
    """
    h, w = weight.shape
    total = weight.sum()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    cx, cy = (weight * xx).sum() / total, (weight * yy).sum() / total
    z = (xx - cx) - 1j * (yy - cy)
    radius = np.abs(z)
    harmonics = [(weight * radius**2 * z).sum() / (weight * radius**3).sum()]  # sum w z alone is 0 about the centroid
    harmonics += [(weight * z**m).sum() / (weight * radius**m).sum() for m in range(2, HARMONICS + 1)]
    spread = 2.0 * math.pi * (weight * radius**2).sum() / total**2
    return np.array([cx, cy]), np.array(harmonics), float(spread)


def _measure(frame: np.ndarray, strength: float) -> dict[str, np.ndarray] | None:
    """One frame's measurements of the object (see the module docstring), None if not found."""
    h, w, _ = frame.shape
    chroma = _chroma(_difference(frame))
    length = np.linalg.norm(chroma, axis=-1)
    weight = np.clip(length / strength, 0.0, 1.0)
    blob = _heaviest_blob(weight >= 0.5, weight)
    if blob.sum() < MIN_PIXELS:
        return None
    core = blob & (length >= 0.9 * np.sort(length[blob])[-3:].mean())
    weight = np.where(_dilate(blob, 1), weight, 0.0)
    centroid, harmonics, spread = moments(weight)
    hue_x, hue_y = _HUE_AXES @ chroma[blob].sum(axis=0)
    return {
        "centroid": centroid / np.array([w, h]),
        "area": np.array(weight.sum() / (h * w)),
        "harmonics": harmonics,
        "descriptor": np.array([*np.abs(harmonics), spread]),
        "hue": np.array(math.degrees(math.atan2(hue_y, hue_x))),
        "region": _dilate(blob, BACKGROUND_GUARD),
        "colour": np.median(frame[core].astype(np.float64), axis=0),
    }


def track_object(frames: np.ndarray) -> Track:
    """Track the object of ``frames[0]`` through ``frames`` ``(f, h, w, 3)`` uint8."""
    _check_frames(frames, least=1)
    _, h, w, _ = frames.shape
    strength = _strength(frames[0])
    measured = [None if strength is None else _measure(frame, strength) for frame in frames]
    missing = {
        "centroid": np.full(2, np.nan),
        "area": np.array(np.nan),
        "harmonics": np.full(HARMONICS, complex(np.nan, np.nan)),
        "descriptor": np.full(HARMONICS + 1, np.nan),
        "hue": np.array(np.nan),
        "region": np.zeros((h, w), dtype=bool),
        "colour": np.full(3, np.nan),
    }
    rows = [row if row is not None else missing for row in measured]
    columns = {key: np.stack([row[key] for row in rows]) for key in missing}
    background = np.stack([np.median(frame[~region].astype(np.float64), axis=0)
                           for frame, region in zip(frames, columns["region"])])
    return Track(found=np.array([row is not None for row in measured]), background=background, **columns)


def _check_frames(frames: np.ndarray, least: int) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            "frames must be a uint8 array of shape (f, h, w, 3), got "
            f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}"
        )
    if frames.shape[0] < least:
        raise ValueError(f"need at least {least} frames to judge motion and smoothness, got {frames.shape[0]}")


def _steps(track: Track) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Windowed steps: start and end frames, whether both ends are found, and the clip share of a step."""
    count = len(track.found)
    span = max(1, math.floor((count - 1) / WINDOW_DIVISOR + 0.5))
    starts = np.arange(count - span)
    ends = starts + span
    return starts, ends, track.found[starts] & track.found[ends], span / (count - 1)


def _translation_fidelity(track: Track, direction: tuple[float, float]) -> float:
    starts, ends, valid, share = _steps(track)
    moves = np.nan_to_num(track.centroid[ends] - track.centroid[starts])
    along = moves @ np.array(direction)
    aligned = along >= np.linalg.norm(moves, axis=1) * math.cos(math.radians(ANGLE_TOLERANCE))
    return float((valid & aligned & (along >= MIN_TRAVEL * share)).mean())


def _scaling_fidelity(track: Track, sign: float) -> float:
    starts, ends, valid, share = _steps(track)
    change = sign * np.nan_to_num(np.log(track.size[ends] / track.size[starts]))
    return float((valid & (change >= math.log(MIN_SCALE) * share)).mean())


def _fit_circle(points: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least-squares (Kasa) circle through ``points`` ``(n, 2)``: ``(centre, radius)``, None if degenerate."""
    if len(points) < 3:
        return None
    design = np.column_stack([points, np.ones(len(points))])
    (d, e, f), *_ = np.linalg.lstsq(design, -(points**2).sum(axis=1), rcond=None)
    centre = np.array([-d / 2, -e / 2])
    squared = centre @ centre - f
    return (centre, math.sqrt(squared)) if squared > 0 else None


def _orbit_fidelity(track: Track) -> float:
    circle = _fit_circle(track.centroid[track.found])
    if circle is None or not ORBIT_RADIUS[0] <= circle[1] <= ORBIT_RADIUS[1]:
        return 0.0
    centre, radius = circle
    offset = track.centroid - centre
    distance = np.linalg.norm(offset, axis=1)
    if np.sqrt(np.nanmean((distance - radius) ** 2)) > ORBIT_FIT_TOLERANCE * radius:
        return 0.0
    phase = np.arctan2(-offset[track.found, 1], offset[track.found, 0])  # counter-clockwise on screen
    if np.degrees(np.sum((np.diff(phase) + math.pi) % (2 * math.pi) - math.pi)) < MIN_NET_SWEEP:
        return 0.0
    phase = np.arctan2(-offset[:, 1], offset[:, 0])
    on_circle = np.abs(np.nan_to_num(distance) - radius) <= ORBIT_RADIUS_TOLERANCE * radius
    starts, ends, valid, share = _steps(track)
    progress = np.degrees(np.nan_to_num((phase[ends] - phase[starts] + math.pi) % (2 * math.pi) - math.pi))
    return float((valid & on_circle[starts] & on_circle[ends] & (progress >= MIN_SWEEP * share)).mean())


def _rotation_fidelity(track: Track) -> float:
    strength = np.abs(track.harmonics[0])
    if not track.found[0] or strength.max() < MIN_ORDER_STRENGTH:
        return 0.0
    order = int(np.argmax(strength)) + 1
    period = 2 * math.pi / order
    turns = np.diff(np.angle(track.harmonics[:, order - 1]) / order)
    turns = np.nan_to_num((turns + period / 2) % period - period / 2)
    angle = np.degrees(np.concatenate([[0.0], np.cumsum(turns)]))
    breaks = np.cumsum(np.concatenate([[0], ~(track.found[1:] & track.found[:-1])]))
    starts, ends, valid, share = _steps(track)
    unbroken = breaks[starts] == breaks[ends]
    return float((valid & unbroken & (angle[ends] - angle[starts] >= MIN_TURN * share)).mean())


def _bounce_fidelity(track: Track) -> float:
    found = np.flatnonzero(track.found)
    if len(found) < 4:
        return 0.0
    x, y = track.centroid[found, 0], track.centroid[found, 1]
    fall = y - y[0]
    rise = np.array([y[i] - y[i + 1 :].min() for i in range(len(y) - 1)] + [0.0])
    rebounds = np.flatnonzero((fall >= MIN_FALL) & (rise >= MIN_REBOUND * fall))
    if len(rebounds) == 0:
        return 0.0
    first = int(rebounds[0])
    apex = first + 1 + int(np.argmin(y[first + 1 :]))
    bottom = first + int(np.argmax(y[first : apex + 1]))
    if x.max() - x.min() > MAX_DRIFT * fall[bottom]:
        return 0.0
    speeds = np.diff(y[: bottom + 1])
    half = len(speeds) // 2
    accelerated = half >= 1 and speeds[half:].mean() >= MIN_SPEED_UP * max(speeds[:half].mean(), 1e-9)
    return float(track.found.mean() * (1 + int(accelerated)) / 2)


def motion_fidelity(track: Track, motion: str) -> float:
    """How well ``track`` (the video's frames) follows ``motion``; defined in :func:`score_video`."""
    direction = get_motion(motion).direction  # raises for an unknown motion
    if direction is not None:
        return _translation_fidelity(track, direction)
    if motion in ("grow", "shrink"):
        return _scaling_fidelity(track, 1.0 if motion == "grow" else -1.0)
    if motion == "orbit":
        return _orbit_fidelity(track)
    if motion == "rotate":
        return _rotation_fidelity(track)
    if motion == "bounce":
        return _bounce_fidelity(track)
    raise ValueError(f"motion fidelity has no rule for the motion {motion!r}; add one to motion_fidelity")


def preservation_checks(track: Track) -> dict[str, np.ndarray]:
    """For frames 1.., whether the object is ``found``, keeps frame 0's ``hue`` and keeps its ``shape``.

    Boolean arrays, one entry per frame after the first; ``hue`` and ``shape`` are False
    where the object is not found. :func:`content_preservation` is the share of frames with all three.
    """
    later = track.select(slice(1, None))
    hue_change = np.abs((later.hue - track.hue[0] + 180.0) % 360.0 - 180.0)
    shape_change = np.abs(later.descriptor - track.descriptor[0]).max(axis=1)
    with np.errstate(invalid="ignore"):
        return {"found": later.found, "hue": later.found & (hue_change <= HUE_TOLERANCE),
                "shape": later.found & (shape_change <= SHAPE_TOLERANCE)}


def content_preservation(track: Track) -> float:
    """Share of frames 1.. whose object keeps frame 0's hue and shape; defined in :func:`score_video`."""
    checks = preservation_checks(track)
    return float((checks["hue"] & checks["shape"]).mean())


def frame1_kept(track: Track) -> float:
    """Share of frames 1.. that keep frame 0's object colour and background; defined in :func:`score_video`."""
    checks = preservation_checks(track)
    background_change = np.abs(track.background[1:] - track.background[0]).max(axis=1)
    return float((checks["hue"] & (background_change <= BACKGROUND_TOLERANCE)).mean())


def background_stability(frames: np.ndarray, track: Track) -> float:
    """Mean share of frames 1..'s background pixels that keep frame 0's colour; defined in :func:`score_video`."""
    reference = frames[0].astype(np.int16)
    shares = []
    for frame, region in zip(frames[1:], track.region[1:]):
        background = ~(region | track.region[0])
        change = np.abs(frame.astype(np.int16) - reference).max(axis=-1)
        shares.append(float((change[background] <= BACKGROUND_TOLERANCE).mean()) if background.any() else 0.0)
    return float(np.mean(shares))


def temporal_smoothness(track: Track) -> float:
    """One minus the mean jerk ratio of the object's path; defined in :func:`score_video`."""
    path = np.column_stack([track.centroid, track.size])  # (f, 3): x, y, size
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    jerk = np.linalg.norm(np.diff(path, n=3, axis=0), axis=1)
    travel = steps[:-2] + steps[1:-1] + steps[2:]
    ratio = np.minimum(1.0, jerk / (travel + SMOOTHNESS_EPSILON))
    return float(1.0 - np.nan_to_num(ratio, nan=1.0).mean())


@dataclass(frozen=True)
class TrainingPalette:
    """The looks of a set of training videos: their objects' colours and their backgrounds' colours."""

    objects: np.ndarray  # (n, 3) float RGB (0-255): each video's object colour, where an object was found
    backgrounds: np.ndarray  # (m, 3) float RGB (0-255): each video's background colour

    def __post_init__(self) -> None:
        for name in ("objects", "backgrounds"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.ndim != 2 or value.shape[1] != 3:
                raise ValueError(f"TrainingPalette.{name} must be (n, 3) RGB colours, got shape {value.shape}")
            object.__setattr__(self, name, value)


def palette_from_videos(videos: Iterable[np.ndarray]) -> TrainingPalette:
    """The palette of training videos ``(f, h, w, 3)`` uint8, measured on each one's first frame.

    Object colour and background colour as :func:`track_object` measures them (see
    the module docstring); a video without a trackable object adds only its background.
    """
    tracks = [track_object(video[:1]) for video in videos]
    if not tracks:
        raise ValueError("palette_from_videos needs at least one training video, got none")
    return TrainingPalette(objects=np.array([t.colour[0] for t in tracks if t.found[0]]).reshape(-1, 3),
                           backgrounds=np.stack([t.background[0] for t in tracks]))


def _fraction_moved(start: np.ndarray, later: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per later value ``(k, 3)``: the share of the way from ``start`` to its nearest target it went.

    The share is the projection of ``later - start`` on ``target - start``, clipped to
    ``[0, 1]``. All NaN (not measurable) when there are no targets, when ``start`` is
    unknown, or when a target lies within ``LEAKAGE_NEAR`` of ``start``.
    """
    if len(targets) == 0 or not np.isfinite(start).all() or (np.linalg.norm(targets - start, axis=1) < LEAKAGE_NEAR).any():
        return np.full(len(later), np.nan)
    nearest = targets[np.argmin(np.linalg.norm(later[:, None] - targets[None], axis=-1), axis=1)]  # (k, 3)
    towards = nearest - start
    with np.errstate(invalid="ignore"):  # NaN rows: frames whose object is lost
        return np.clip(((later - start) * towards).sum(axis=1) / (towards**2).sum(axis=1), 0.0, 1.0)


def _leakage(track: Track, palette: TrainingPalette) -> float:
    """:func:`leakage` from a track whose frame 0 is the reference."""
    parts = np.column_stack([
        _fraction_moved(track.colour[0], track.colour[1:], palette.objects),
        _fraction_moved(track.background[0], track.background[1:], palette.backgrounds),
    ])  # (f - 1, 2): object, background; NaN where not measurable
    measured = np.isfinite(parts).any(axis=1)
    return float(np.nanmax(parts[measured], axis=1).mean()) if measured.any() else 0.0


def leakage(frames: np.ndarray, palette: TrainingPalette) -> float:
    """How far frames 1.. of ``frames`` ``(f, h, w, 3)`` uint8 move from frame 0's look towards ``palette``'s.

    In ``[0, 1]``; 0 = no leakage (lower is better, unlike the other scores). For each
    later frame two parts, each the share of the way its value went from frame 0's
    value ``x_0`` towards the training value ``T`` nearest to it: the projection of
    ``x_t - x_0`` on ``T - x_0`` over ``|T - x_0|^2``, clipped to ``[0, 1]``:

    - object: the object's colour against the palette's object colours;
    - background: the background colour against the palette's background colours.

    A part is not measured when some training value lies within ``LEAKAGE_NEAR`` (40
    of 255, RGB distance) of ``x_0``: frame 0 already shows training content there, so
    leaking cannot be told from keeping it. Nor when the palette has no values for it;
    nor, for the object part, in frames where the object is lost (``object_found``
    reports those). A frame scores its larger measured part (a swapped background leaks fully even if
    the object keeps its colour); the score is the mean over frames with a measured
    part, and 0.0 when no frame has one (e.g. frame 0 already shows training content).
    """
    _check_frames(frames, least=2)
    return _leakage(track_object(frames), palette)


def score_video(frames: np.ndarray, motion: str, first_frame: np.ndarray | None = None,
                palette: TrainingPalette | None = None) -> dict[str, float]:
    """Score one video ``(f, h, w, 3)`` uint8 (``f >= 4``) of ``motion``; every score is in ``[0, 1]``.

    ``first_frame`` ``(h, w, 3)`` is the image the video was made from (default:
    ``frames[0]``); it defines the object (hue, shape) and the background that later
    frames are compared with. Motion thresholds are per clip: a windowed step from
    frame ``i`` to ``i + k``, ``k = max(1, round((f - 1) / 6))``, needs ``k / (f - 1)``
    of them, and fails unless the object is found at both ends.

    - ``motion_fidelity``, the share of windowed steps that agree with the motion:
        - ``move_*``, ``diagonal``, ``move_deg_<DEG>``: the centroid moves within
          ``ANGLE_TOLERANCE`` (35 degrees) of the direction, at least ``MIN_TRAVEL``
          (0.1 image sides) along it per clip (diagonal = down-right, ``move_deg_<DEG>``
          at DEG degrees counter-clockwise from right; in fractions of width and height);
        - ``grow`` / ``shrink``: ``sqrt(area)`` grows / shrinks at least ``MIN_SCALE``
          (1.25x) per clip;
        - ``orbit``: a circle is fitted to the found centroids (least squares); it is
          0 unless the radius is 0.05..0.5 image sides, the centroids' RMS distance
          from it is at most ``ORBIT_FIT_TOLERANCE`` (15%) of the radius and their net
          counter-clockwise turn about its centre is at least ``MIN_NET_SWEEP`` (120
          degrees). Then the share of steps that turn counter-clockwise at least
          ``MIN_SWEEP`` (90 degrees) per clip with both ends within
          ``ORBIT_RADIUS_TOLERANCE`` (35%) of the radius;
        - ``rotate``: the orientation of the first frame's strongest harmonic ``c_m``
          (0 if every ``|c_m| < 0.05``, as for a circle), unwrapped frame to frame
          within ``+-180/m`` degrees, turns counter-clockwise at least ``MIN_TURN`` (45
          degrees) per clip, with no lost frame inside the step. Faithful only below
          ``180/m`` degrees per frame (m is 4 for squares, 3 for triangles and
          usually for arrows);
        - ``bounce`` (checks instead of steps), over the found frames with ``y`` the
          centroid's height (down positive): it must rebound, i.e. some frame at least
          ``MIN_FALL`` (0.15 image sides) below the start is followed by a rise of at
          least ``MIN_REBOUND`` (20%) of that fall; the bottom is the lowest frame
          from the first such frame to the highest point after it. It must be
          vertical: the horizontal range is at most ``MAX_DRIFT`` (half) the fall to
          the bottom. Either failing gives 0; otherwise ``(1 + accelerated) / 2``
          times the share of frames found, where accelerated = the mean speed over the
          second half of the fall is at least ``MIN_SPEED_UP`` (1.3x) that over the
          first half. Needs about 12 frames or more: fewer can step over the rebound.
    - ``content_preservation``: the share of the compared frames (every frame when
      ``first_frame`` is given, else frames 1..) whose object is found, has a hue
      within ``HUE_TOLERANCE`` (10 degrees) of the first frame's and a shape descriptor
      with no entry more than ``SHAPE_TOLERANCE`` (0.25) from the first frame's.
    - ``frame1_kept``: the share of the compared frames that keep the first frame's
      look: the object is found with a hue within ``HUE_TOLERANCE`` (10 degrees) of the
      first frame's, and the background colour (the median outside the object) has no
      channel more than ``BACKGROUND_TOLERANCE`` (24 of 255) from the first frame's.
      Unlike ``content_preservation`` it ignores the shape; unlike
      ``background_stability`` it judges a frame's background as a whole, so a frame
      whose background turned into another colour fails even if a few pixels match.
    - ``background_stability``: the mean over the compared frames of the share of pixels,
      outside both the frame's and the first frame's object grown by 2 pixels, whose
      largest channel change from the first frame is at most ``BACKGROUND_TOLERANCE``
      (24 of 255).
    - ``temporal_smoothness``: ``1 - mean`` over 4-frame windows of ``min(1, |third
      difference of p| / (path length over the window + 0.03))``, with ``p = (x, y,
      sqrt(area))`` in image sides: how far each position is from a
      constant-acceleration prediction, relative to the distance moved. Straight and
      circular paths, gravity and growth cost almost nothing (ground truth of 12 to
      24 frames scores 0.89-1); each bounce impact costs about 3 windows (ground
      truth bounces 0.47-0.9, mean 0.78). A window with a lost frame counts 1.
    - ``object_found``: the share of the video's frames in which the object is found.
    - ``leakage``, only when a training ``palette`` is given: :func:`leakage` of the
      compared frames against the first frame (0 = none; lower is better).
    """
    _check_frames(frames, least=4)
    get_motion(motion)  # raises for an unknown motion, listing the valid ones
    if first_frame is not None and (first_frame.shape != frames.shape[1:] or first_frame.dtype != np.uint8):
        raise ValueError(
            f"first_frame must be uint8 {frames.shape[1:]} like the video's frames, "
            f"got {first_frame.dtype} {first_frame.shape}"
        )
    judged = frames if first_frame is None else np.concatenate([first_frame[None], frames])
    track = track_object(judged)  # frame 0 of `judged` is the first frame
    video = track if first_frame is None else track.select(slice(1, None))
    scores = {
        "motion_fidelity": motion_fidelity(video, motion),
        "content_preservation": content_preservation(track),
        "frame1_kept": frame1_kept(track),
        "background_stability": background_stability(judged, track),
        "temporal_smoothness": temporal_smoothness(video),
        "object_found": float(video.found.mean()),
    }
    if palette is not None:
        scores["leakage"] = _leakage(track, palette)
    return scores


def summarise(scores: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation and count of each score over many :func:`score_video` results.

    A score that only some results have (``leakage``, scored where a training palette
    was known) is summarised over those, and its count says how many.
    """
    rows = list(scores)
    if not rows:
        raise ValueError("summarise needs the scores of at least one video, got none")
    summary = {}
    for name in dict.fromkeys(name for row in rows for name in row):
        values = np.array([row[name] for row in rows if name in row], dtype=np.float64)
        summary[name] = {"mean": float(values.mean()), "std": float(values.std()), "count": float(len(values))}
    return summary


LEAKAGE = "leakage"  # the score added where a video's training set is known
_CAPTION = rf"an? (?:{'|'.join(COLOURS)}) (?:{'|'.join(SHAPES)})\b.*"  # "a red circle", optionally more words
_ANGLED = r"moves at (-?\d+(?:\.\d+)?) degrees"  # the prompt of move_deg_<DEG>


def toy_motion_for(prompt: str, motion_prompt: str | None = None) -> str | None:
    """The toy motion a video of ``prompt``, made with a motion trained on ``motion_prompt``, shows; None if none."""
    if motion_prompt is not None:
        trained = _normalised(motion_prompt)
        for name, motion in MOTIONS.items():
            if trained == motion.prompt:
                return name
        angled = re.fullmatch(_ANGLED, trained)
        if angled:
            return f"{DIRECTION_PREFIX}{angled.group(1)}"
    text = _normalised(prompt)
    for name, motion in MOTIONS.items():
        if text == motion.prompt or re.fullmatch(rf"{_CAPTION} {re.escape(motion.prompt)}", text):
            return name
    angled = re.fullmatch(rf"(?:{_CAPTION} )?{_ANGLED}", text)
    return f"{DIRECTION_PREFIX}{angled.group(1)}" if angled else None


def palette_from_folder(folder: str | os.PathLike[str]) -> TrainingPalette:
    """The :class:`~lamp_motion.metrics.toy.TrainingPalette` of a folder of training videos.

    Any folder `lamp train` takes: video files (``VIDEO_SUFFIXES``) and subfolders of
    frame images; other files (captions, ``set.json``) and hidden entries are skipped, and
    so are videos that cannot be read (as `lamp train` skips them), named in one warning.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"training set {folder} is not a folder; give the folder of videos the motion was trained on")
    videos, unreadable = [], []
    for entry in video_entries(folder):
        try:
            videos.append(read_video(entry)[0])
        except VideoReadError as error:
            unreadable.append(f"{entry.name} ({str(error).splitlines()[0]})")
    if not videos:
        found = f" it can read (unreadable: {'; '.join(unreadable)})" if unreadable else ""
        raise ValueError(f"training set {folder} holds no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders{found}")
    if unreadable:
        warnings.warn(f"training set {folder}: skipped {len(unreadable)} unreadable video(s) for the colour palette: "
                      f"{'; '.join(unreadable)}", UserWarning, stacklevel=2)
    return palette_from_videos(videos)


def toy_report(videos: Sequence[tuple[np.ndarray, str, str]], names: Sequence[str],
               palettes: Sequence[TrainingPalette | None] | None = None) -> dict:
    """Toy scores of ``(frames, prompt, toy motion)`` videos: per video, and mean/std/count per toy motion.

    ``palettes``: per video, the palette of its training set (adds ``leakage``) or None.
    """
    palettes = [None] * len(videos) if palettes is None else list(palettes)
    if len(names) != len(videos) or len(palettes) != len(videos):
        raise ValueError(f"got {len(names)} names and {len(palettes)} palettes for {len(videos)} videos")
    rows = []
    for (frames, prompt, motion), name, palette in zip(videos, names, palettes):
        if len(frames) < 4:
            raise ValueError(f"{name} has {len(frames)} frames; the toy motion metrics need at least 4")
        rows.append({"name": name, "toy_motion": motion, "prompt": prompt, **score_video(frames, motion, palette=palette)})
    metrics = [*METRICS, *([LEAKAGE] if any(LEAKAGE in row for row in rows) else [])]
    motions = {motion: summarise([{key: row[key] for key in metrics if key in row} for row in rows
                                  if row["toy_motion"] == motion])
               for motion in dict.fromkeys(row["toy_motion"] for row in rows)}
    return {"metrics": metrics, "motions": motions, "videos": rows}


def toy_report_to_markdown(report: dict) -> str:
    """The ``toy`` part of an eval report as two markdown tables (per toy motion, per video)."""
    metrics = report["metrics"]
    note = f"; {LEAKAGE}: 0-1, lower is better, n/a where the training set is unknown" if LEAKAGE in metrics else ""
    lines = [f"Toy-world motion metrics (0-1, higher is better{note}; per motion: mean ± std over its videos).", "",
             f"| toy motion | videos | {' | '.join(metrics)} |", "|---|---:|" + "---:|" * len(metrics)]
    for motion, summary in report["motions"].items():
        cells = [f"{summary[key]['mean']:.3f} ± {summary[key]['std']:.3f}" if key in summary else "n/a"
                 for key in metrics]
        lines.append(f"| {motion} | {int(summary[metrics[0]]['count'])} | {' | '.join(cells)} |")
    lines += ["", f"| video | toy motion | prompt | {' | '.join(metrics)} |", "|---|---|---|" + "---:|" * len(metrics)]
    for row in report["videos"]:
        cells = [f"{row[key]:.3f}" if key in row else "n/a" for key in metrics]
        lines.append(f"| {_cell(row['name'])} | {row['toy_motion']} | {_cell(row['prompt'])} | {' | '.join(cells)} |")
    lines += [f"\n{text}" for text in report.get("notes", [])]
    return "\n".join(lines) + "\n"


def _normalised(text: str) -> str:
    """Lower case, full stops as spaces (not decimal points: "22.5 degrees"), single spaces."""
    return " ".join(re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text.lower()).split())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
