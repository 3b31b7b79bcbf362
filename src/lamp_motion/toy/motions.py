"""The toy world's motions: how a start :class:`~lamp_motion.toy.scene.Scene` changes over a clip.

A motion maps a start scene, a few per-video parameters and a time ``t`` in ``[0, 1]``
(first to last frame of the clip) to the scene at that time. Each motion also knows
how to sample a random start scene and parameters that keep the object inside the
frame for the whole clip, with a speed that is constant within a video but varies
across videos.

Directions are as seen on screen: "up" is towards the top edge (decreasing ``y``) and
counter-clockwise is counter-clockwise on the displayed image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .scene import BACKGROUNDS, COLOURS, SHAPES, Scene, draw

MARGIN = 0.03  # the gap, as a fraction of the image side, kept between the object and the frame edge
TEXTURED_SHARE = 0.5  # the share of sampled scenes that get a striped background
TEXTURE_RANGE = (0.2, 0.8)  # the texture amplitude of a striped background

Params = dict[str, float]
# A start scene's geometry (x, y, size) and the motion's parameters.
Placement = tuple[dict[str, float], Params]


@dataclass(frozen=True)
class Motion:
    """One named motion: its prompt, how it moves a scene, and how to sample a start."""

    name: str  # registry key, e.g. "move_right"
    prompt: str  # the motion prompt, e.g. "moves right"
    defaults: Mapping[str, float]  # the parameters, each at the middle of its sampled range
    move: Callable[[Scene, Mapping[str, float], float], Scene]  # (start, params, t) -> scene at time t
    place: Callable[[np.random.Generator], Placement]  # a random in-frame start geometry and parameters
    shapes: tuple[str, ...] = SHAPES  # shapes on which the motion is visible

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

    def sample(
        self,
        rng: np.random.Generator,
        shape: str | None = None,
        colour: str | None = None,
        background: str | None = None,
    ) -> tuple[Scene, Params]:
        """A random start scene and parameters; content fields not given are drawn at random."""
        if shape is not None and shape not in self.shapes:
            raise ValueError(f"motion {self.name!r} cannot show shape {shape!r}; use one of {', '.join(self.shapes)}")
        if colour is not None and colour not in COLOURS:
            raise ValueError(f"unknown colour {colour!r}; use one of {', '.join(sorted(COLOURS))}")
        if background is not None and background not in BACKGROUNDS:
            raise ValueError(f"unknown background {background!r}; use one of {', '.join(sorted(BACKGROUNDS))}")
        geometry, params = self.place(rng)
        textured = rng.random() < TEXTURED_SHARE
        content = {
            "shape": shape or str(rng.choice(self.shapes)),
            "colour": colour or str(rng.choice(sorted(COLOURS))),
            "background": background or str(rng.choice(sorted(BACKGROUNDS))),
            "texture": float(rng.uniform(*TEXTURE_RANGE)) if textured else 0.0,
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

    def place(rng: np.random.Generator) -> Placement:
        size = _uniform(rng, 0.2, 0.3)
        d = _uniform(rng, *distance)
        x, y = _inside(rng, size / 2, d * ux), _inside(rng, size / 2, d * uy)
        return {"x": x, "y": y, "size": size}, {"distance": d}

    return Motion(name, prompt, {"distance": sum(distance) / 2}, move, place)


# Orbit: counter-clockwise on a circle of "radius", starting at "phase" degrees
# (counter-clockwise from the centre's right), turning "sweep" degrees over the clip.
def _orbit_move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
    radius, phase = params["radius"], math.radians(params["phase"])
    cx, cy = start.x - radius * math.cos(phase), start.y + radius * math.sin(phase)
    angle = phase + math.radians(params["sweep"]) * t
    return start.moved(x=cx + radius * math.cos(angle), y=cy - radius * math.sin(angle))


def _orbit_place(rng: np.random.Generator) -> Placement:
    size, radius = _uniform(rng, 0.2, 0.26), _uniform(rng, 0.16, 0.24)
    cx, cy = _inside(rng, radius + size / 2), _inside(rng, radius + size / 2)
    phase, sweep = _uniform(rng, 0.0, 360.0), _uniform(rng, 240.0, 360.0)
    x, y = cx + radius * math.cos(math.radians(phase)), cy - radius * math.sin(math.radians(phase))
    return {"x": x, "y": y, "size": size}, {"radius": radius, "phase": phase, "sweep": sweep}


# Grow and shrink: the size changes geometrically by "ratio" over the clip.
def _scaling(name: str, prompt: str, growing: bool) -> Motion:
    def move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
        exponent = t if growing else -t
        return start.moved(size=start.size * params["ratio"] ** exponent)

    def place(rng: np.random.Generator) -> Placement:
        ratio = _uniform(rng, 1.6, 2.2)
        if growing:
            size = _uniform(rng, 0.2, min(0.24, 0.5 / ratio))
            largest = size * ratio
        else:
            size = _uniform(rng, max(0.36, 0.2 * ratio), 0.48)
            largest = size
        return {"x": _inside(rng, largest / 2), "y": _inside(rng, largest / 2), "size": size}, {"ratio": ratio}

    return Motion(name, prompt, {"ratio": 1.9}, move, place)


# Rotate: counter-clockwise by "degrees" over the clip.
def _rotate_move(start: Scene, params: Mapping[str, float], t: float) -> Scene:
    return start.moved(angle=(start.angle + params["degrees"] * t) % 360.0)


def _rotate_place(rng: np.random.Generator) -> Placement:
    size = _uniform(rng, 0.36, 0.48)
    geometry = {"x": _inside(rng, size / 2), "y": _inside(rng, size / 2), "size": size}
    return geometry, {"degrees": _uniform(rng, 120.0, 270.0)}


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


def _bounce_place(rng: np.random.Generator) -> Placement:
    size = _uniform(rng, 0.2, 0.28)
    y = _uniform(rng, MARGIN + size / 2, 0.3)
    params = {"impact": _uniform(rng, 0.3, 0.45), "restitution": _uniform(rng, 0.55, 0.75)}
    return {"x": _inside(rng, size / 2), "y": y, "size": size}, params


_ALL: Sequence[Motion] = (
    _translation("move_right", "moves right", 1.0, 0.0, (0.3, 0.5)),
    _translation("move_left", "moves left", -1.0, 0.0, (0.3, 0.5)),
    _translation("move_up", "moves up", 0.0, -1.0, (0.3, 0.5)),
    _translation("move_down", "moves down", 0.0, 1.0, (0.3, 0.5)),
    _translation("diagonal", "moves diagonally", 1.0, 1.0, (0.35, 0.55)),
    Motion("orbit", "circles around", {"radius": 0.2, "phase": 180.0, "sweep": 300.0}, _orbit_move, _orbit_place),
    _scaling("grow", "grows", growing=True),
    _scaling("shrink", "shrinks", growing=False),
    # Circles look the same at every angle, so rotation uses the other shapes.
    Motion("rotate", "rotates", {"degrees": 195.0}, _rotate_move, _rotate_place, ("square", "triangle", "arrow")),
    Motion("bounce", "falls and bounces", {"impact": 0.375, "restitution": 0.65}, _bounce_move, _bounce_place),
)

MOTIONS: dict[str, Motion] = {motion.name: motion for motion in _ALL}


def get_motion(name: str) -> Motion:
    """The registered motion called ``name``; an unknown name raises ValueError listing the valid ones."""
    if name not in MOTIONS:
        raise ValueError(f"unknown motion {name!r}; choose one of {', '.join(MOTIONS)}")
    return MOTIONS[name]


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
