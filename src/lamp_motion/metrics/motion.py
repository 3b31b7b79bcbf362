"""Motion fidelity of any video: how well its point tracks move like those of reference clips.

No learnt weights: the tracks come from classical tracking (:func:`dense_flow`: a grid
of points carried along OpenCV's DIS optical flow, forward-backward checked) or from
any tracker the caller gives (:data:`Tracker`). :func:`motion_score` compares a
video with reference clips (the training clips) and gives one score in ``[-1, 1]``:
1 = the same motion, about 0 = no motion or an unrelated one, -1 = the reference
motion reversed. docs/motion-score.md gives the formula; in short:

1. Tracks ``p_i(t)`` (positions in units of the video's longer side) are split into
   a *global* part, the per-step displacement of the whole scene (the camera),
   ``g(t)``: the median over a 4x4 grid of cells of each cell's median track
   displacement, taken as zero when fewer than half the cells hold a track (a plain
   backdrop says nothing about the camera); and a *local* part, each track's
   displacement minus it, ``l_i(t) = p_i(t + 1) - p_i(t) - g(t)``. Only
   displacements are compared, never positions, so where things are does not matter.
2. Two displacement sequences ``a``, ``b`` (``n`` steps) are compared with a
   similarity that is 1 for equal sequences, -1 for opposite ones and about 0 when
   one of them does not move: ``s(a, b) = (2 a.b + n e^2) / (|a|^2 + |b|^2 + n e^2)``,
   with the noise floor ``e = NOISE_FLOOR`` per step (so two still sequences agree).
3. Global: ``S_g = s(g, g')``. Local, DMT-style best matches both ways: each moving
   track of one video (``|l_i|`` at least ``MOVING`` of the video's top motion ``W``,
   the mean ``|l_i|`` of its top ``TOP_SHARE`` of tracks) is matched to its most
   similar moving track of the other; the matches are averaged weighted by ``|l_i|``
   (``B``, and ``B'`` the other way), and ``S_l = (W B + W' B') / (W + W')``: a still
   video (``W = 0``) gets the reference's side alone, which finds no match (1 when
   neither moves). Deformation: ``S_d = s(d, d')`` with ``d(t)`` the moving tracks'
   growth and turn per step (:func:`deformation`), which tell growing from shrinking
   and turning one way from the other where single tracks cannot.
4. ``S = a_g S_g + a_l S_l + a_d S_d``, the weights being each part's share of both
   videos' motion (``|g| + |g'|``, ``W + W'``, ``|d| + |d'|``). The score against
   several reference clips is the best over them (and over time offsets when the
   lengths differ).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORK_SIDE = 128  # videos whose shorter side is below this are upscaled (by a whole factor) to reach it
MAX_SIDE = 640  # videos whose longer side is above this are downscaled to it
GRID_STEP = 1 / 24  # tracks start on a grid this share of the shorter side apart
MAX_MATCHED = 256  # most moving tracks per video in the best-match comparison (evenly chosen)
MOVING = 0.25  # a track moves when its |l_i| is at least this share of the video's top motion (and above noise)
MAX_BACK_ERROR = 1.5  # most forward-backward error of a step, pixels of the working size
MIN_TRACKS = 3  # fewest complete tracks a video needs
GRID = 4  # global motion: median over a GRID x GRID grid of cells...
MIN_COVERAGE = 0.5  # ...trusted when at least this share of the cells holds a track, else zero
NOISE_FLOOR = 0.002  # e: per-step displacement (longer sides) that counts as noise, ~0.25 px at 128 px
TOP_SHARE = 0.1  # a video's local motion: the mean |l_i| of its top 10% of tracks (the moving things)


class MotionScoreError(ValueError):
    """A video whose motion cannot be scored; the message says which and why."""


@dataclass(frozen=True)
class Tracks:
    """Point tracks through every frame of a video."""

    points: np.ndarray  # (n, f, 2) x, y in units of the video's longer side, origin top left
    aspect: tuple[float, float]  # (width, height) in units of the longer side: (1, h / w) or (w / h, 1)

    @property
    def steps(self) -> np.ndarray:
        """Per-step displacements ``(n, f - 1, 2)``."""
        return np.diff(self.points, axis=1)


# A tracker: frames (f, h, w, 3) uint8 -> (points (n, f, 2) in pixels, visible (n, f) bool).
Tracker = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise MotionScoreError("frames must be a uint8 array of shape (f, h, w, 3), got "
                               f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}")
    if frames.shape[0] < 3:
        raise MotionScoreError(f"need at least 3 frames to score motion, got {frames.shape[0]}")


def _working_grey(frames: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Grey frames at the working size, and its scale over the video's."""
    import cv2

    _, h, w, _ = frames.shape
    scale = float(math.ceil(WORK_SIDE / min(h, w))) if min(h, w) < WORK_SIDE else min(1.0, MAX_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return [cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_CUBIC)
            for frame in frames], scale


def _flow(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Dense optical flow ``(h, w, 2)`` from ``before`` to ``after`` in pixels (OpenCV's DIS, medium preset)."""
    import cv2

    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(before, after, None)


def _sample(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``flow`` bilinearly sampled at ``points`` ``(n, 2)`` (x, y pixels): ``(n, 2)``."""
    import cv2

    coords = points.astype(np.float32).reshape(-1, 1, 2)
    return cv2.remap(flow, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2).astype(np.float64)


def dense_flow(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The built-in :data:`Tracker`: a grid of points carried along dense optical flow, forward-backward checked.

    Frames are made grey and brought to a working size (shorter side at least
    ``WORK_SIDE`` by a whole factor, longer side at most ``MAX_SIDE``); points start on
    a grid ``GRID_STEP`` of the shorter side apart and move by OpenCV's DIS optical flow
    at their position. A point is visible until it leaves the frame or a step whose
    forward flow and the backward flow at its end differ by more than
    ``MAX_BACK_ERROR`` pixels.
    """
    grey, scale = _working_grey(frames)
    h, w = grey[0].shape
    step = max(1.0, min(h, w) * GRID_STEP)
    ys, xs = np.mgrid[step / 2:h:step, step / 2:w:step]
    points = [np.stack([xs.ravel(), ys.ravel()], axis=1)]
    visible = [np.ones(len(points[0]), dtype=bool)]
    for before, after in zip(grey[:-1], grey[1:]):
        moved = points[-1] + _sample(_flow(before, after), points[-1])
        back = _sample(_flow(after, before), moved)
        error = np.linalg.norm(moved + back - points[-1], axis=1)
        inside = (moved[:, 0] >= 0) & (moved[:, 0] <= w - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1)
        points.append(moved)
        visible.append(visible[-1] & inside & (error <= MAX_BACK_ERROR))
    return (np.stack(points, axis=1) + 0.5) / scale - 0.5, np.stack(visible, axis=1)


def load_tracker(folder: str | os.PathLike[str]) -> Tracker:
    """A tracker model from ``folder`` (CoTracker-style); no format is supported yet, so this always raises.

    Pass a :data:`Tracker` callable to :func:`track_points` / :func:`motion_score` to use
    another tracker's tracks.
    """
    raise MotionScoreError(
        f"cannot load a tracker model from {Path(folder)}: no tracker-model format is supported yet (the built-in "
        f"optical-flow tracker needs no weights). From Python, pass tracker=FUNCTION, a function from frames "
        f"(f, h, w, 3) uint8 to (points (n, f, 2) in pixels, visible (n, f) bool), e.g. a wrapper around CoTracker")


def _resolve_tracker(tracker: Tracker | str | os.PathLike[str] | None) -> Tracker:
    if tracker is None:
        return dense_flow
    if isinstance(tracker, (str, os.PathLike)):
        return load_tracker(tracker)
    if not callable(tracker):
        raise MotionScoreError(f"tracker must be None, a folder or a function, got {type(tracker).__name__}")
    return tracker


def track_points(frames: np.ndarray, tracker: Tracker | str | os.PathLike[str] | None = None) -> Tracks:
    """The tracks visible through every frame of ``frames`` ``(f, h, w, 3)`` uint8 (default tracker: :func:`dense_flow`)."""
    _check_frames(frames)
    f, h, w, _ = frames.shape
    points, visible = _resolve_tracker(tracker)(frames)
    points, visible = np.asarray(points, dtype=np.float64), np.asarray(visible, dtype=bool)
    if points.ndim != 3 or points.shape[1:] != (f, 2) or visible.shape != points.shape[:2]:
        raise MotionScoreError(f"the tracker returned points {points.shape} and visibility {visible.shape} for "
                               f"{f} frames; it must return (n, {f}, 2) and (n, {f})")
    side = float(max(h, w))
    return Tracks(points=points[visible.all(axis=1)] / side, aspect=(w / side, h / side))


def split_motion(tracks: Tracks) -> tuple[np.ndarray, np.ndarray]:
    """``(global (f - 1, 2), local (n, f - 1, 2))`` per-step displacements (see the module docstring)."""
    steps = tracks.steps
    if len(steps) == 0:
        return np.zeros((tracks.points.shape[1] - 1, 2)), steps
    width, height = tracks.aspect
    start = tracks.points[:, 0]
    cells = (np.clip(start[:, 0] / width * GRID, 0, GRID - 1).astype(int) * GRID
             + np.clip(start[:, 1] / height * GRID, 0, GRID - 1).astype(int))
    used = np.unique(cells)
    if len(used) < MIN_COVERAGE * GRID * GRID:
        camera = np.zeros(steps.shape[1:])
    else:
        camera = np.median(np.stack([np.median(steps[cells == cell], axis=0) for cell in used]), axis=0)
    return camera, steps - camera


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s(a, b)`` of displacement sequences ``(..., n, 2)``, broadcast over the leading axes."""
    count = a.shape[-2]
    floor = count * NOISE_FLOOR**2
    dot = (a * b).sum(axis=(-1, -2))
    return (2 * dot + floor) / ((a * a).sum(axis=(-1, -2)) + (b * b).sum(axis=(-1, -2)) + floor)


def _moving(local: np.ndarray) -> np.ndarray:
    """The tracks of ``local`` that move (see ``MOVING``), at most ``MAX_MATCHED`` of them, evenly chosen."""
    norms = np.sqrt((local**2).sum(axis=(1, 2)))
    moving = local[norms >= max(MOVING * _top_motion(local), 2 * NOISE_FLOOR * math.sqrt(local.shape[1]))]
    return moving[np.linspace(0, len(moving) - 1, MAX_MATCHED).round().astype(int)] if len(moving) > MAX_MATCHED else moving


def _best_matches(local: np.ndarray, other: np.ndarray) -> float:
    """The motion-weighted mean, over ``local``'s moving tracks, of each one's best similarity to a moving track of ``other``."""
    local, other = _moving(local), _moving(other)
    if len(local) == 0 or len(other) == 0:
        return 0.0
    norms = np.sqrt((local**2).sum(axis=(1, 2)))
    best = similarity(local[:, None], other[None]).max(axis=1)
    return float((norms * best).sum() / norms.sum())


def _top_motion(local: np.ndarray) -> float:
    """How far a video's moving things move: the mean ``|l_i|`` of its top ``TOP_SHARE`` of tracks."""
    if len(local) == 0:
        return 0.0
    norms = np.sort(np.sqrt((local**2).sum(axis=(1, 2))))
    return float(norms[-max(1, round(TOP_SHARE * len(norms))):].mean())


def deformation(points: np.ndarray, local: np.ndarray) -> np.ndarray:
    """The moving things' growth and turn ``(f - 1, 2)``.

    ``points`` ``(n, f, 2)``, ``local`` ``(n, f - 1, 2)``. Per step a weighted least-squares
    affine fit ``l_i = b + A (p_i - c)`` over the tracks (weights: each track's ``|l_i|``,
    ``c`` their weighted centroid) gives ``A``; the growth and turn rates are
    ``(A_xx + A_yy) / 2`` and ``(A_yx - A_xy) / 2``, times the tracks' mean weighted RMS
    distance ``R`` from ``c``, so that they are displacements like the others.
    """
    steps = local.shape[1]
    weights = np.sqrt((local**2).sum(axis=(1, 2)))
    if len(local) < 3 or weights.sum() <= 0:
        return np.zeros((steps, 2))
    weights = weights / weights.sum()
    rates, radii = np.zeros((steps, 2)), np.zeros(steps)
    for t in range(steps):
        offsets = points[:, t] - weights @ points[:, t]  # (n, 2)
        moves = local[:, t] - weights @ local[:, t]
        spread = (weights[:, None, None] * offsets[:, :, None] * offsets[:, None, :]).sum(axis=0)
        radii[t] = math.sqrt(float(np.trace(spread)))
        cross = (weights[:, None, None] * moves[:, :, None] * offsets[:, None, :]).sum(axis=0)
        affine = cross @ np.linalg.inv(spread + np.eye(2) * (NOISE_FLOOR**2 + 1e-3 * np.trace(spread)))
        rates[t] = ((affine[0, 0] + affine[1, 1]) / 2, (affine[1, 0] - affine[0, 1]) / 2)
    return rates * radii.mean()


@dataclass(frozen=True)
class Comparison:
    """One video's motion against one reference clip's: the score and its parts."""

    score: float  # S = a_g S_g + a_l S_l + a_d S_d, in [-1, 1]
    global_score: float  # S_g: the camera (whole-scene) motion's similarity
    local_score: float  # S_l: the tracks' own motion's similarity (best matches)
    deformation_score: float  # S_d: the moving things' growth and turn's similarity
    shares: tuple[float, float, float]  # (a_g, a_l, a_d): each part's share of both videos' motion
    offset: int = 0  # frames the shorter clip starts into the longer one


Motion = tuple[np.ndarray, np.ndarray, np.ndarray]  # (global, local, deformation) of :func:`motion_parts`


def motion_parts(tracks: Tracks) -> Motion:
    """A video's motion as compared: ``(global (f - 1, 2), local (n, f - 1, 2), deformation (f - 1, 2))``."""
    camera, local = split_motion(tracks)
    return camera, local, deformation(tracks.points, local)


def compare_motion(video: Motion, reference: Motion) -> Comparison:
    """:class:`Comparison` of two equally long motions from :func:`motion_parts`."""
    (camera, local, shape), (camera_ref, local_ref, shape_ref) = video, reference
    global_score = float(similarity(camera, camera_ref))
    deformation_score = float(similarity(shape, shape_ref))
    weight, weight_ref = _top_motion(local), _top_motion(local_ref)
    noise = NOISE_FLOOR * math.sqrt(len(camera))
    if weight + weight_ref <= noise:
        local_score = 1.0  # neither has local motion: they agree
    else:
        local_score = (weight * _best_matches(local, local_ref) + weight_ref * _best_matches(local_ref, local)) / (
            weight + weight_ref)
    energies = np.array([np.linalg.norm(camera) + np.linalg.norm(camera_ref), weight + weight_ref,
                         np.linalg.norm(shape) + np.linalg.norm(shape_ref)])
    shares = energies / energies.sum() if energies.sum() > 0 else np.full(3, 1 / 3)
    score = float(shares @ np.array([global_score, local_score, deformation_score]))
    return Comparison(score, global_score, local_score, deformation_score, tuple(float(a) for a in shares))


def _windows(motion: Motion, steps: int) -> list[Motion]:
    """Every run of ``steps`` consecutive steps of a motion."""
    camera, local, shape = motion
    return [(camera[i:i + steps], local[:, i:i + steps], shape[i:i + steps]) for i in range(len(camera) - steps + 1)]


def compare_tracks(tracks: Tracks, reference: Tracks) -> Comparison:
    """The best :class:`Comparison` of two videos' tracks over time offsets (none when equally long)."""
    video, ref = motion_parts(tracks), motion_parts(reference)
    steps = min(len(video[0]), len(ref[0]))
    if len(video[0]) > steps:
        options = [(i, compare_motion(window, ref)) for i, window in enumerate(_windows(video, steps))]
    else:
        options = [(i, compare_motion(video, window)) for i, window in enumerate(_windows(ref, steps))]
    offset, best = max(options, key=lambda option: option[1].score)
    return Comparison(best.score, best.global_score, best.local_score, best.deformation_score, best.shares, offset)


@dataclass(frozen=True)
class MotionScore:
    """A video's motion fidelity to a set of reference clips: the best match and every clip's score."""

    score: float  # the best reference's S, in [-1, 1] (1 = the same motion, ~0 still, -1 reversed)
    best: int  # index of the best-matching reference clip
    comparison: Comparison  # against that clip
    per_reference: tuple[float, ...]  # S against each reference clip
    tracks: int  # complete tracks of the video

    def as_dict(self) -> dict[str, float]:
        """The scores, as eval reports and training logs write them."""
        return {"motion_score": self.score, "motion_global": self.comparison.global_score,
                "motion_local": self.comparison.local_score, "motion_deformation": self.comparison.deformation_score}


def reference_tracks(references: Sequence[np.ndarray], tracker: Tracker | str | os.PathLike[str] | None = None,
                     ) -> list[Tracks]:
    """Tracks of each reference clip (computed once, for scoring many videos against them).

    Clips with fewer than ``MIN_TRACKS`` complete tracks (nothing to follow: a plain
    object on a plain background seen edge-on, say) are left out; if none is left,
    MotionScoreError.
    """
    tracker = _resolve_tracker(tracker)
    tracks = [track_points(frames, tracker) for frames in references]
    usable = [track for track in tracks if len(track.points) >= MIN_TRACKS]
    if not usable:
        raise MotionScoreError(f"none of the {len(tracks)} reference clip(s) has {MIN_TRACKS} or more points that can be "
                               f"tracked through every frame, so their motion is unknown; give clips with visible "
                               f"texture" if tracks else
                               "the motion score needs at least one reference clip (the training videos), got none")
    return usable


def motion_score(frames: np.ndarray, references: Sequence[np.ndarray] | Sequence[Tracks],
                 tracker: Tracker | str | os.PathLike[str] | None = None) -> MotionScore:
    """How well the motion of ``frames`` ``(f, h, w, 3)`` uint8 matches that of the reference clips.

    ``references``: clips as frame arrays, or their :func:`reference_tracks` (the same
    ``tracker``'s). A video with no trackable point scores as a still one.
    """
    refs = list(references)
    if not refs or not isinstance(refs[0], Tracks):
        refs = reference_tracks(refs, tracker)
    tracks = track_points(frames, tracker)
    comparisons = [compare_tracks(tracks, ref) for ref in refs]
    best = int(np.argmax([c.score for c in comparisons]))
    return MotionScore(score=comparisons[best].score, best=best, comparison=comparisons[best],
                       per_reference=tuple(c.score for c in comparisons), tracks=len(tracks.points))


MAX_REFERENCE_FRAMES = 48  # frames of each reference video tracked (its first ones)


def folder_references(folder: str | os.PathLike[str], tracker: Tracker | str | os.PathLike[str] | None = None,
                      ) -> list[Tracks]:
    """:func:`reference_tracks` of a folder of training videos (video files and frame folders, as `lamp train` reads).

    Each video's first ``MAX_REFERENCE_FRAMES`` frames are tracked.
    """
    from ..video_io import VIDEO_SUFFIXES, read_video, video_entries

    folder = Path(folder)
    if not folder.is_dir():
        raise MotionScoreError(f"reference clips {folder} is not a folder; give the folder of training videos")
    clips = [read_video(entry, fit=_fit_to_max_side, stop_after=MAX_REFERENCE_FRAMES)[0]
             for entry in video_entries(folder)]
    if not clips:
        raise MotionScoreError(f"reference clips {folder} holds no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders")
    return reference_tracks([clip for clip in clips if len(clip) >= 3], tracker)


def _fit_to_max_side(frame: np.ndarray) -> np.ndarray:
    """A decoded frame brought within ``MAX_SIDE`` (the tracker works at that size anyway): bounded memory."""
    import cv2

    h, w = frame.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return frame
    scale = MAX_SIDE / max(h, w)
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


MOTION_METRICS = ("motion_score", "motion_global", "motion_local", "motion_deformation")


def motion_report(videos: Sequence[tuple[np.ndarray, str]], names: Sequence[str],
                  references: Sequence[list[Tracks]], sets: Sequence[str]) -> dict:
    """Motion scores of ``(frames, motion label)`` videos against their reference clips: per video, and per motion.

    ``references[i]`` / ``sets[i]``: video i's reference tracks and the folder they came from.
    """
    rows = []
    for (frames, motion), name, refs, folder in zip(videos, names, references, sets):
        rows.append({"name": name, "motion": motion, "training_set": folder, **motion_score(frames, refs).as_dict()})
    motions = {}
    for motion in dict.fromkeys(row["motion"] for row in rows):
        values = np.array([[row[key] for key in MOTION_METRICS] for row in rows if row["motion"] == motion])
        motions[motion] = {key: {"mean": float(values[:, i].mean()), "std": float(values[:, i].std()),
                                 "count": float(len(values))} for i, key in enumerate(MOTION_METRICS)}
    return {"metrics": list(MOTION_METRICS), "motions": motions, "videos": rows}


def motion_report_to_markdown(report: dict) -> str:
    """The ``motion`` part of an eval report as two markdown tables (per motion, per video)."""
    metrics = report["metrics"]
    lines = ["Motion fidelity to the training clips (-1..1: 1 the same motion, ~0 none, -1 reversed; "
             "docs/motion-score.md; per motion: mean ± std over its videos).", "",
             f"| motion | videos | {' | '.join(metrics)} |", "|---|---:|" + "---:|" * len(metrics)]
    for motion, summary in report["motions"].items():
        cells = [f"{summary[key]['mean']:.3f} ± {summary[key]['std']:.3f}" for key in metrics]
        lines.append(f"| {motion} | {int(summary[metrics[0]]['count'])} | {' | '.join(cells)} |")
    lines += ["", f"| video | motion | training set | {' | '.join(metrics)} |", "|---|---|---|" + "---:|" * len(metrics)]
    for row in report["videos"]:
        cells = [f"{row[key]:.3f}" for key in metrics]
        lines.append(f"| {row['name']} | {row['motion']} | {row['training_set']} | {' | '.join(cells)} |")
    lines += [f"\n{text}" for text in report.get("notes", [])]
    return "\n".join(lines) + "\n"
