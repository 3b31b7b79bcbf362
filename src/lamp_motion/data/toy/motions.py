"""The toy world's motions: how a start :class:`~lamp_motion.data.toy.scene.Scene` changes over a clip.

A motion maps a start scene, a few per-video parameters and a time ``t`` in ``[0, 1]``
(first to last frame of the clip) to the scene at that time. Each motion also knows
how to sample a random start scene and parameters that keep the object inside the
frame for the whole clip, with a speed that is constant within a video but varies
across videos. A :class:`Variation` narrows or shifts what is sampled (object sizes,
speed), for sets that look like a user's rather than as varied as possible.

Directions are as seen on screen: "up" is towards the top edge (decreasing ``y``) and
counter-clockwise is counter-clockwise on the displayed image. Besides the registered
:data:`MOTIONS`, ``move_deg_<DEG>`` (e.g. ``move_deg_30``, prompt "moves at 30
degrees") is a translation at ``DEG`` degrees counter-clockwise from "right" (90 =
up), in fractions of width and height as the positions are (the same angle on screen
for square frames); :func:`get_motion` builds it on the fly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .scene import ALL_BACKGROUNDS, BACKGROUNDS, COLOURS, SHAPES, Scene, draw

MARGIN = 0.03  # the gap, as a fraction of the image side, kept between the object and the frame edge
FIT = 1.0 - 2.0 * MARGIN  # the most an object's extent plus its travel may span along x or y
TEXTURED_SHARE = 0.5  # the share of sampled scenes that get a striped background
TEXTURE_RANGE = (0.2, 0.8)  # the texture amplitude of a striped background
# The texture amplitude of "strong": the shifted style a fine-tune of the built-in base learns
# (tools/build_toy_base.py --texture strong; benchmarks/bench_motion_delta.py).
STRONG_TEXTURE_RANGE = (0.9, 1.0)
# Background texture choices: TEXTURED_SHARE striped, all plain, all striped, all striped at STRONG_TEXTURE_RANGE.
TEXTURES = ("mixed", "none", "striped", "strong")
MIN_SIZE = 0.1  # the least object size a Variation may ask for (about 3 px at 32 px, what tracking needs)
LARGEST_GROWN = 0.5  # the largest size "grow" reaches
SMALLEST_SHRUNK = 0.2  # the smallest size "shrink" reaches
LATEST_IMPACT = 0.8  # the latest time "bounce" may hit the floor, so that a rebound shows
DIRECTION_PREFIX = "move_deg_"  # name prefix of the translations at any angle, e.g. "move_deg_30"

Params = dict[str, float]
# A start scene's geometry (x, y, size) and the motion's parameters.
Placement = tuple[dict[str, float], Params]
SizeRange = tuple[float, float]  # (least, largest) object size, fractions of the shorter image side


@dataclass(frozen=True)
class Variation:
    """How sampled clips vary beyond their content; the defaults are each motion's own ranges."""

    size_range: SizeRange | None = None  # the object's size at the clip's start; None = the motion's own range
    speed_scale: float = 1.0  # multiplies the speed: travel (translations), sweep (orbit), turn (rotate),
    # the log of the size ratio (grow, shrink) and one over the time to the first impact (bounce)


@dataclass(frozen=True)
class Motion:
    """One named motion: its prompt, how it moves a scene, and how to sample a start."""

    name: str  # registry key, e.g. "move_right"
    prompt: str  # the motion prompt, e.g. "moves right"
    defaults: Mapping[str, float]  # the parameters, each at the middle of its sampled range
    move: Callable[[Scene, Mapping[str, float], float], Scene]  # (start, params, t) -> scene at time t
    # (rng, size range, speed scale) -> a random in-frame start geometry and parameters
    place: Callable[[np.random.Generator, SizeRange, float], Placement]
    sizes: SizeRange  # the start sizes it samples by default
    # (size range, speed scale) -> why some clip would leave the frame (or not show the motion), None if none would
    misfit: Callable[[SizeRange, float], str | None]
    shapes: tuple[str, ...] = SHAPES  # shapes on which the motion is visible
    direction: tuple[float, float] | None = None  # translations: the unit vector (x, y down) of travel

    def scenes(self, start: Scene, num_frames: int, params: Mapping[str, float] | None = None) -> list[Scene]:
        """The scene of every frame: frame ``i`` is at time ``i / (num_frames - 1)``."""
        if num_frames < 2:
            raise ValueError(f"a clip needs at least 2 frames, got num_frames={num_frames}")
        values = self.resolve(params)
        return [self.move(start, values, i / (num_frames - 1)) for i in range(num_frames)]

    def resolve(self, params: Mapping[str, float] | None) -> Params:
        """The defaults updated with ``params``; unknown parameter names raise ValueError."""
        values = dict(self.defaults)
        unknown = sorted(set(params or {}) - set(values))
        if unknown:
            raise ValueError(f"motion {self.name!r} has no parameter(s) {unknown}; its parameters are {sorted(values)}")
        values.update(params or {})
        return values

    def size_range(self, variation: Variation) -> SizeRange:
        """The start sizes ``variation`` asks for, raising ValueError unless every sampled clip stays in frame."""
        low, high = self.sizes if variation.size_range is None else variation.size_range
        speed = variation.speed_scale
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed scale must be a positive number, got {speed}")
        if not MIN_SIZE <= low <= high <= FIT:
            raise ValueError(f"size range must be LO,HI with {MIN_SIZE} <= LO <= HI <= {FIT:g} (fractions of the "
                             f"image side), got {low:g},{high:g}")
        problem = self.misfit((low, high), speed)
        if problem is not None:
            raise ValueError(f"motion {self.name!r} with sizes {low:g}-{high:g} and speed scale {speed:g}: {problem}")
        return low, high

    def sample(
        self,
        rng: np.random.Generator,
        shape: str | None = None,
        colour: str | None = None,
        background: str | None = None,
        texture: str = "mixed",
        variation: Variation = Variation(),
    ) -> tuple[Scene, Params]:
        """A random start scene and parameters; content fields not given are drawn at random.

        ``texture`` is one of :data:`TEXTURES`; ``variation`` sets the sizes and speed.
        """
        if shape is not None and shape not in self.shapes:
            raise ValueError(f"motion {self.name!r} cannot show shape {shape!r}; use one of {', '.join(self.shapes)}")
        if colour is not None and colour not in COLOURS:
            raise ValueError(f"unknown colour {colour!r}; use one of {', '.join(sorted(COLOURS))}")
        if background is not None and background not in ALL_BACKGROUNDS:
            raise ValueError(f"unknown background {background!r}; use one of {', '.join(sorted(ALL_BACKGROUNDS))}")
        if texture not in TEXTURES:
            raise ValueError(f"unknown texture {texture!r}; use one of {', '.join(TEXTURES)}")
        geometry, params = self.place(rng, self.size_range(variation), variation.speed_scale)
        striped = rng.random() < TEXTURED_SHARE  # drawn for every choice, so the draws after it do not depend on it
        if texture != "mixed":
            striped = texture in ("striped", "strong")
        amplitudes = STRONG_TEXTURE_RANGE if texture == "strong" else TEXTURE_RANGE
        content = {
            "shape": shape or str(rng.choice(self.shapes)),
            "colour": colour or str(rng.choice(sorted(COLOURS))),
            "background": background or str(rng.choice(sorted(BACKGROUNDS))),  # the base model's four
            "texture": float(rng.uniform(*amplitudes)) if striped else 0.0,
            "angle": float(rng.uniform(0.0, 360.0)),
        }
        content.update(geometry)
        return Scene(**content), params


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _inside(rng: np.random.Generator, radius: float, shift: float = 0.0) -> float:
    """A coordinate that keeps an object of ``radius`` in frame at it and at it + ``shift``."""
    return _uniform(rng, MARGIN + radius + max(0.0, -shift), 1.0 - MARGIN - radius - max(0.0, shift))


# Translations: a straight path of length "distance" (fraction of the image side).
def _translation(name: str, prompt: str, dx: float, dy: float, distance: tuple[float, float]) -> Motion:
    norm = math.hypot(dx, dy)
    ux, uy = dx / norm, dy / norm

    def move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
        d = params["distance"] * t
        return start.moved(x=start.x + d * ux, y=start.y + d * uy)

    def place(rng: np.random.Generator, sizes: SizeRange, speed: float) -> Placement:
        size = _uniform(rng, *sizes)
        d = _uniform(rng, distance[0] * speed, distance[1] * speed)
        x, y = _inside(rng, size / 2, d * ux), _inside(rng, size / 2, d * uy)
        return {"x": x, "y": y, "size": size}, {"distance": d}

    def misfit(sizes: SizeRange, speed: float) -> str | None:
        extent = sizes[1] + distance[1] * speed * max(abs(ux), abs(uy))
        if extent <= FIT:
            return None
        return (f"the object plus its travel (up to {distance[1] * speed:g} of the side) spans up to {extent:.3g} "
                f"of the frame, more than {FIT:g}; lower the speed scale or the sizes")

    return Motion(name, prompt, {"distance": sum(distance) / 2}, move, place, (0.2, 0.3), misfit,
                  direction=(ux, uy))


def translation_at(degrees: float) -> Motion:
    """The translation ``move_deg_<DEG>`` at ``degrees`` counter-clockwise from "right" (90 = up), prompt "moves at DEG degrees".

    The angle is taken modulo 360 and rounded to 0.01 degree, so that the name says
    exactly what the motion does; its travel is that of "move_right".
    """
    if not math.isfinite(degrees):
        raise ValueError(f"a direction must be a finite angle in degrees, got {degrees}")
    angle = round(degrees % 360.0, 2) % 360.0
    text = f"{angle:g}"
    radians = math.radians(angle)
    return _translation(f"{DIRECTION_PREFIX}{text}", f"moves at {text} degrees", math.cos(radians),
                        -math.sin(radians), (0.3, 0.5))


# Orbit: counter-clockwise on a circle of "radius", starting at "phase" degrees
# (counter-clockwise from the centre's right), turning "sweep" degrees over the clip.
ORBIT_RADII = (0.16, 0.24)  # the sampled orbit radii, fractions of the image side


def _orbit_move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
    radius, phase = params["radius"], math.radians(params["phase"])
    cx, cy = start.x - radius * math.cos(phase), start.y + radius * math.sin(phase)
    angle = phase + math.radians(params["sweep"]) * t
    return start.moved(x=cx + radius * math.cos(angle), y=cy - radius * math.sin(angle))


def _orbit_place(rng: np.random.Generator, sizes: SizeRange, speed: float) -> Placement:
    size, radius = _uniform(rng, *sizes), _uniform(rng, *ORBIT_RADII)
    cx, cy = _inside(rng, radius + size / 2), _inside(rng, radius + size / 2)
    phase, sweep = _uniform(rng, 0.0, 360.0), _uniform(rng, 240.0 * speed, 360.0 * speed)
    x, y = cx + radius * math.cos(math.radians(phase)), cy - radius * math.sin(math.radians(phase))
    return {"x": x, "y": y, "size": size}, {"radius": radius, "phase": phase, "sweep": sweep}


def _orbit_misfit(sizes: SizeRange, speed: float) -> str | None:
    if 2 * ORBIT_RADII[1] + sizes[1] <= FIT:
        return None
    return f"an orbit of radius up to {ORBIT_RADII[1]} needs sizes of at most {FIT - 2 * ORBIT_RADII[1]:.3g}"


# Grow and shrink: the size changes geometrically by "ratio" over the clip.
def _scaling(name: str, prompt: str, growing: bool, sizes: SizeRange) -> Motion:
    ratios = (1.6, 2.2)  # the sampled ratios at speed scale 1; a speed scale k raises them to the power k

    def move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
        exponent = t if growing else -t
        return start.moved(size=start.size * params["ratio"] ** exponent)

    def place(rng: np.random.Generator, sizes: SizeRange, speed: float) -> Placement:
        ratio = _uniform(rng, ratios[0] ** speed, ratios[1] ** speed)
        if growing:
            size = _uniform(rng, sizes[0], min(sizes[1], LARGEST_GROWN / ratio))
            largest = size * ratio
        else:
            size = _uniform(rng, max(sizes[0], SMALLEST_SHRUNK * ratio), sizes[1])
            largest = size
        return {"x": _inside(rng, largest / 2), "y": _inside(rng, largest / 2), "size": size}, {"ratio": ratio}

    def misfit(sizes: SizeRange, speed: float) -> str | None:
        most = ratios[1] ** speed
        if growing and sizes[0] * most > LARGEST_GROWN:
            return (f"growing up to {most:.3g}x, an object must start at most {LARGEST_GROWN / most:.3g} of the side "
                    f"to end at most {LARGEST_GROWN}; lower the sizes or the speed scale")
        if not growing and sizes[1] < SMALLEST_SHRUNK * most:
            return (f"shrinking up to {most:.3g}x, an object must start at {SMALLEST_SHRUNK * most:.3g} of the side or "
                    f"more to end at least {SMALLEST_SHRUNK}; raise the sizes or lower the speed scale")
        return None

    return Motion(name, prompt, {"ratio": 1.9}, move, place, sizes, misfit)


# Rotate: counter-clockwise by "degrees" over the clip.
def _rotate_move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
    return start.moved(angle=(start.angle + params["degrees"] * t) % 360.0)


def _rotate_place(rng: np.random.Generator, sizes: SizeRange, speed: float) -> Placement:
    size = _uniform(rng, *sizes)
    geometry = {"x": _inside(rng, size / 2), "y": _inside(rng, size / 2), "size": size}
    return geometry, {"degrees": _uniform(rng, 120.0 * speed, 270.0 * speed)}


def _always_fits(sizes: SizeRange, speed: float) -> str | None:
    """Rotation keeps the object in its circle: any size range and speed fit."""
    return None


# Bounce: dropped from rest, hits the floor (the bottom edge less the margin) at time
# "impact", and rebounds each time with the speed times "restitution".
def bounce_height(start: Scene, params: Mapping[str, float], t: float) -> float:
    """The object's ``y`` at time ``t`` of a bounce that starts at rest at ``start.y``."""
    floor = 1.0 - MARGIN - start.size / 2
    impact, restitution = params["impact"], params["restitution"]
    gravity = 2.0 * (floor - start.y) / impact**2
    if t <= impact:
        return start.y + 0.5 * gravity * t**2
    elapsed, speed = t - impact, gravity * impact * restitution
    while speed > 1e-6 and elapsed > 2.0 * speed / gravity:
        elapsed -= 2.0 * speed / gravity
        speed *= restitution
    return floor - max(0.0, speed * elapsed - 0.5 * gravity * elapsed**2)


def _bounce_move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
    return start.moved(y=bounce_height(start, params, t))


BOUNCE_TOP = 0.3  # the lowest start height (y) of "bounce", fraction of the image height
IMPACTS = (0.3, 0.45)  # the sampled times of the first impact at speed scale 1; a speed scale k divides them by k


def _bounce_place(rng: np.random.Generator, sizes: SizeRange, speed: float) -> Placement:
    size = _uniform(rng, *sizes)
    y = _uniform(rng, MARGIN + size / 2, BOUNCE_TOP)
    params = {"impact": _uniform(rng, IMPACTS[0] / speed, IMPACTS[1] / speed), "restitution": _uniform(rng, 0.55, 0.75)}
    return {"x": _inside(rng, size / 2), "y": y, "size": size}, params


def _bounce_misfit(sizes: SizeRange, speed: float) -> str | None:
    if MARGIN + sizes[1] / 2 > BOUNCE_TOP:
        return f"a bounce starts above {BOUNCE_TOP} of the height, so sizes must be at most {2 * (BOUNCE_TOP - MARGIN):.3g}"
    if IMPACTS[1] / speed > LATEST_IMPACT:
        return (f"the object would first hit the floor as late as {IMPACTS[1] / speed:.3g} of the clip (at most "
                f"{LATEST_IMPACT} leaves room for a rebound); use a speed scale of {IMPACTS[1] / LATEST_IMPACT:.3g} or more")
    return None


_ALL: Sequence[Motion] = (
    _translation("move_right", "moves right", 1.0, 0.0, (0.3, 0.5)),
    _translation("move_left", "moves left", -1.0, 0.0, (0.3, 0.5)),
    _translation("move_up", "moves up", 0.0, -1.0, (0.3, 0.5)),
    _translation("move_down", "moves down", 0.0, 1.0, (0.3, 0.5)),
    _translation("diagonal", "moves diagonally", 1.0, 1.0, (0.35, 0.55)),
    Motion("orbit", "circles around", {"radius": 0.2, "phase": 180.0, "sweep": 300.0}, _orbit_move, _orbit_place,
           (0.2, 0.26), _orbit_misfit),
    _scaling("grow", "grows", growing=True, sizes=(0.2, 0.24)),
    _scaling("shrink", "shrinks", growing=False, sizes=(0.36, 0.48)),
    # Circles look the same at every angle, so rotation uses the other shapes.
    Motion("rotate", "rotates", {"degrees": 195.0}, _rotate_move, _rotate_place, (0.36, 0.48), _always_fits,
           ("square", "triangle", "arrow")),
    Motion("bounce", "falls and bounces", {"impact": 0.375, "restitution": 0.65}, _bounce_move, _bounce_place,
           (0.2, 0.28), _bounce_misfit),
)

MOTIONS: dict[str, Motion] = {motion.name: motion for motion in _ALL}


def get_motion(name: str) -> Motion:
    """The registered motion called ``name``, or the translation ``move_deg_<DEG>``; else ValueError listing the valid ones."""
    if name in MOTIONS:
        return MOTIONS[name]
    angle = re.fullmatch(rf"{DIRECTION_PREFIX}(-?\d+(?:\.\d+)?)", name)
    if angle is None:
        raise ValueError(f"unknown motion {name!r}; choose one of {', '.join(MOTIONS)}, or {DIRECTION_PREFIX}<DEG> "
                         f"(a translation at DEG degrees: 0 = right, 90 = up)")
    return translation_at(float(angle.group(1)))


def render_clip(
    motion_name: str,
    start_scene: Scene,
    num_frames: int,
    height: int = 32,
    width: int | None = None,
    params: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Draw the clip of ``motion_name`` from ``start_scene`` as ``(f, h, w, 3)`` uint8.

    ``params`` are the motion's parameters (see ``MOTIONS[name].defaults``); missing
    ones take their default values.
    """
    scenes = get_motion(motion_name).scenes(start_scene, num_frames, params)
    return np.stack([draw(scene, height, width) for scene in scenes])
