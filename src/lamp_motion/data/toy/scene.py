"""Drawing of the toy world's scenes: one coloured shape on a plain or textured background.

Everything the toy world shows goes through :func:`draw`, so the still images that
train the built-in base model and the frames of the synthetic motion videos look
alike. Images are ``uint8`` arrays of shape ``(h, w, 3)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

# Object colours: names used in prompts -> RGB. Chosen to be far apart in RGB so that
# colour segmentation of a generated frame is unambiguous.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 40),
    "purple": (150, 50, 200),
    "orange": (245, 140, 30),
}

# Background colours: dark or pale greys and tints, never close to an object colour.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 24),
    "grey": (110, 110, 110),
    "white": (235, 235, 235),
    "navy": (25, 30, 70),
}

# More backgrounds for sets that look like a user's (one family of plain pale or dark
# backgrounds). Kept apart from BACKGROUNDS, which the built-in base model was trained
# on and default sets deal from, so that neither changes. Every one is at least 80
# (0-255 chroma length) from every object colour, as tracking needs (tests check it).
EXTRA_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "off_white": (240, 236, 228),
    "pale_blue": (200, 220, 240),
    "beige": (225, 210, 180),
    "dark_green": (25, 60, 35),
    "dark_brown": (60, 40, 25),
}
ALL_BACKGROUNDS: dict[str, tuple[int, int, int]] = {**BACKGROUNDS, **EXTRA_BACKGROUNDS}  # what draw accepts

# Background families: a set of one family looks like one user's videos.
BACKGROUND_FAMILIES: dict[str, tuple[str, ...]] = {
    "pale": ("white", "off_white", "pale_blue", "beige"),
    "dark": ("black", "navy", "dark_green", "dark_brown"),
}

# Shapes. "arrow" (an isosceles wedge) is the one without rotational symmetry, so that
# rotation is visible; the others are symmetric under some rotations.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "arrow")


@dataclass(frozen=True)
class Scene:
    """One frame's content, in resolution-independent units.

    Positions and sizes are fractions of the image side, so one scene draws the same
    at 32 px and at 64 px.
    """

    shape: str = "circle"  # one of SHAPES
    colour: str = "red"  # one of COLOURS
    background: str = "black"  # one of ALL_BACKGROUNDS
    texture: float = 0.0  # 0 = plain background; >0 = amplitude of a soft stripe texture (0..1)
    x: float = 0.5  # object centre, fraction of width (0 = left edge)
    y: float = 0.5  # object centre, fraction of height (0 = top edge)
    size: float = 0.3  # object diameter, fraction of the shorter image side
    angle: float = 0.0  # rotation in degrees, counter-clockwise

    def moved(self, **changes: float) -> "Scene":
        """A copy with some fields changed (used by motions frame by frame)."""
        return replace(self, **changes)


def _shape_vertices(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Polygon vertices (pixel coordinates) of a non-circular shape of radius r."""
    if shape == "square":
        base = [45.0, 135.0, 225.0, 315.0]
        radii = [r] * 4
    elif shape == "triangle":
        base = [90.0, 210.0, 330.0]
        radii = [r] * 3
    elif shape == "arrow":
        # A wedge pointing along +x (at angle 0): long tip, two short back corners.
        base = [0.0, 140.0, 220.0]
        radii = [r, 0.8 * r, 0.8 * r]
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    points = []
    for deg, rad in zip(base, radii):
        a = math.radians(deg + angle)
        # Image y grows downwards, so a counter-clockwise angle subtracts from y.
        points.append((cx + rad * math.cos(a), cy - rad * math.sin(a)))
    return points


TEXTURE_CONTRAST = 40.0  # 0-255 swing of the stripes at texture 1


def stripes(height: int, width: int) -> np.ndarray:
    """The background texture's pattern ``(h, w)`` in -1..1: soft diagonal stripes that do not move with the object."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.sin((xx + yy) * (2 * math.pi / max(height, width) * 4))


def _background(scene: Scene, height: int, width: int) -> np.ndarray:
    colour = np.array(ALL_BACKGROUNDS[scene.background], dtype=np.float32)
    image = np.broadcast_to(colour, (height, width, 3)).copy()
    if scene.texture > 0:
        image += (scene.texture * TEXTURE_CONTRAST) * stripes(height, width)[..., None]
    return image


def draw(scene: Scene, height: int = 32, width: int | None = None, supersample: int = 16) -> np.ndarray:
    """Render ``scene`` as an ``(height, width, 3)`` uint8 image (antialiased).

    Pillow rounds shape coordinates to whole pixels of the ``supersample``-times larger
    mask, so positions and sizes are quantised to ``1 / supersample`` pixel; 16 keeps
    slow motions (a third of a pixel per frame at 32 px) moving at an even speed.
    """
    width = height if width is None else width
    if scene.colour not in COLOURS:
        raise ValueError(f"unknown colour {scene.colour!r}; expected one of {sorted(COLOURS)}")
    if scene.background not in ALL_BACKGROUNDS:
        raise ValueError(f"unknown background {scene.background!r}; expected one of {sorted(ALL_BACKGROUNDS)}")
    s = supersample
    mask = Image.new("L", (width * s, height * s), 0)
    pen = ImageDraw.Draw(mask)
    cx, cy = scene.x * width * s, scene.y * height * s
    r = 0.5 * scene.size * min(height, width) * s
    if scene.shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        pen.polygon(_shape_vertices(scene.shape, cx, cy, r, scene.angle), fill=255)
    alpha = np.asarray(mask.resize((width, height), Image.Resampling.BOX), dtype=np.float32)[..., None] / 255.0
    image = _background(scene, height, width)
    image = image * (1.0 - alpha) + np.array(COLOURS[scene.colour], dtype=np.float32) * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def caption(scene: Scene) -> str:
    """The still-image prompt the base model is trained with: "a {colour} {shape}"."""
    return f"a {scene.colour} {scene.shape}"
