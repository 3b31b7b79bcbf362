"""Does the toy base model draw what it is asked? Colour and shape of generated stills.

:func:`classify` finds the object of a ``(h, w, 3)`` uint8 image and names its colour
and shape, without any learnt model:

- Background: the median colour of the one-pixel border. A pixel's *contrast* is its
  chroma distance from it (the length of ``pixel - background`` after removing the grey
  component), which ignores the brightness-only stripe texture of the toy backgrounds.
- Object: the largest 8-connected blob of pixels with at least half the peak contrast
  (mean of the 3 highest), which must reach ``MIN_CONTRAST`` and hold a core pixel
  (contrast >= 75% of the peak; else no object is found). Its *weights* are the
  contrasts over the blob's core contrast, clipped to [0, 1], on the blob grown by one
  pixel, so antialiased edges count fractionally.
- Colour: the named colour nearest (RGB) to the mean of the core pixels (contrast
  >= 75% of the peak).
- Shape: the nearest neighbours, in a standardised descriptor space, among rendered
  reference stills of every shape at random sizes, angles, places, colours and
  backgrounds. The descriptor is invariant to position, size and rotation: the
  magnitudes of the harmonics ``c_1..c_4`` of :func:`.metrics.moments` (an arrow has a
  strong ``c_1``, a triangle ``c_3``, a square ``c_4``) and the spread
  ``2 pi sum w |z|^2 / (sum w)^2`` (1 for a disc).

:func:`evaluate` samples every "a {colour} {shape}" prompt with a pipeline and scores
the samples. Run ``python tools/toy_base_quality.py`` to score a model folder
(default: the built-in one) and optionally save a grid of its samples.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from build_toy_base import random_scene

from lamp_motion.data.toy.scene import COLOURS, SHAPES, Scene, caption, draw
from lamp_motion.metrics.toy import MIN_CONTRAST, _chroma, _difference, _dilate, _heaviest_blob, moments

REFERENCE_STILLS = 800  # rendered stills in the shape classifier's reference set
NEIGHBOURS = 5  # k of the k-nearest-neighbour shape vote
_COLOUR_NAMES = tuple(COLOURS)
_COLOUR_VALUES = np.array([COLOURS[name] for name in _COLOUR_NAMES], dtype=np.float64)


@dataclass(frozen=True)
class Verdict:
    """What :func:`classify` sees in one image; colour and shape are None when no object is found."""

    colour: str | None
    shape: str | None

    @property
    def found(self) -> bool:
        return self.colour is not None


@dataclass(frozen=True)
class QualityReport:
    """Scores of generated samples: each accuracy is the share of all samples (not-found counts as wrong)."""

    colour_accuracy: float
    shape_accuracy: float
    found_rate: float
    samples: int
    shape_confusion: dict[str, dict[str, int]]  # asked shape -> seen shape (or "none") -> count


def segment(image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The object's weights ``(h, w)`` in [0, 1] and core mask, or None if the image shows no object."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a (h, w, 3) uint8 image, got {image.dtype} {image.shape}")
    contrast = np.linalg.norm(_chroma(_difference(image)), axis=-1)
    peak = float(np.sort(contrast, axis=None)[-3:].mean())
    if peak < MIN_CONTRAST:
        return None
    blob = _heaviest_blob(contrast >= 0.5 * peak, contrast)
    core = blob & (contrast >= 0.75 * peak)
    if not core.any():  # the peak pixels lie outside the heaviest blob: no one clear object
        return None
    weights = np.where(_dilate(blob, 1), np.clip(contrast / contrast[core].mean(), 0.0, 1.0), 0.0)
    return weights, core


def shape_descriptor(weights: np.ndarray) -> np.ndarray:
    """``(|c_1|, |c_2|, |c_3|, |c_4|, spread)`` of an object's weights: position, size and rotation invariant."""
    _, harmonics, spread = moments(weights)
    return np.array([*np.abs(harmonics), spread])


def random_still(rng: np.random.Generator, resolution: int = 32) -> tuple[Scene, np.ndarray]:
    """A random toy still like the base model's training data, and its rendering."""
    scene = random_scene(rng)
    return scene, draw(scene, resolution)


@functools.cache
def _reference(resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised descriptors, their shape indices, and the standardisation (mean, std)."""
    rng = np.random.default_rng(12345)
    descriptors, labels = [], []
    while len(labels) < REFERENCE_STILLS:
        scene, image = random_still(rng, resolution)
        found = segment(image)
        if found is not None:
            descriptors.append(shape_descriptor(found[0]))
            labels.append(SHAPES.index(scene.shape))
    features = np.stack(descriptors)
    mean, std = features.mean(axis=0), features.std(axis=0)
    return (features - mean) / std, np.array(labels), mean, std


def classify(image: np.ndarray) -> Verdict:
    """The colour and shape of the object in a toy still ``(h, w, 3)`` uint8."""
    found = segment(image)
    if found is None:
        return Verdict(None, None)
    weights, core = found
    colour = image[core].astype(np.float64).mean(axis=0)
    colour_name = _COLOUR_NAMES[int(np.argmin(np.linalg.norm(_COLOUR_VALUES - colour, axis=1)))]
    features, labels, mean, std = _reference(image.shape[0])
    distances = np.linalg.norm(features - (shape_descriptor(weights) - mean) / std, axis=1)
    votes = np.bincount(labels[np.argsort(distances)[:NEIGHBOURS]], minlength=len(SHAPES))
    return Verdict(colour_name, SHAPES[int(np.argmax(votes))])


def classifier_accuracy(count: int = 400, seed: int = 0, resolution: int = 32) -> tuple[float, float]:
    """(colour, shape) accuracy of :func:`classify` on rendered ground-truth stills."""
    rng = np.random.default_rng(seed)
    colour_hits = shape_hits = 0
    for _ in range(count):
        scene, image = random_still(rng, resolution)
        verdict = classify(image)
        colour_hits += verdict.colour == scene.colour
        shape_hits += verdict.shape == scene.shape
    return colour_hits / count, shape_hits / count


def prompts() -> list[tuple[str, str, str]]:
    """``(prompt, colour, shape)`` for every "a {colour} {shape}" combination."""
    return [(caption(Scene(shape=s, colour=c)), c, s) for c in COLOURS for s in SHAPES]


@torch.no_grad()
def generate(pipeline, seeds: range, steps: int, guidance: float, resolution: int = 32) -> np.ndarray:
    """Samples ``(len(seeds), len(prompts()), h, w, 3)`` uint8 of every prompt, one batch per seed."""
    texts = [text for text, _, _ in prompts()]
    rows = []
    for seed in seeds:
        generators = [torch.Generator().manual_seed(seed * 1000 + i) for i in range(len(texts))]
        images = pipeline(texts, height=resolution, width=resolution, num_inference_steps=steps,
                          guidance_scale=guidance, generator=generators, output_type="np").images
        rows.append(np.clip(np.rint(images * 255), 0, 255).astype(np.uint8))
    return np.stack(rows)


def score(samples: np.ndarray) -> QualityReport:
    """Score samples laid out as :func:`generate` returns them."""
    asked = prompts()
    confusion = {shape: {seen: 0 for seen in (*SHAPES, "none")} for shape in SHAPES}
    colour_hits = shape_hits = found = 0
    for row in samples:
        for image, (_, colour, shape) in zip(row, asked):
            verdict = classify(image)
            found += verdict.found
            colour_hits += verdict.colour == colour
            shape_hits += verdict.shape == shape
            confusion[shape][verdict.shape or "none"] += 1
    total = samples.shape[0] * samples.shape[1]
    return QualityReport(colour_hits / total, shape_hits / total, found / total, total, confusion)


def evaluate(pipeline, seeds: range = range(4), steps: int = 25, guidance: float = 5.0) -> QualityReport:
    """Generate every "a {colour} {shape}" prompt once per seed and score the samples."""
    return score(generate(pipeline, seeds, steps, guidance))


def main(argv: list[str] | None = None) -> None:
    from diffusers import StableDiffusionPipeline

    from lamp_motion.builtin import builtin_base_path
    from lamp_motion.video_io import write_contact_sheet

    parser = argparse.ArgumentParser(description="Score a toy base model's colour and shape accuracy.")
    parser.add_argument("--model", type=Path, default=builtin_base_path(), help="diffusers folder (default: built-in)")
    parser.add_argument("--seeds", type=int, default=8, help="samples per prompt")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--guidance", type=float, default=5.0, help="classifier-free guidance scale")
    parser.add_argument("--grid", type=Path, help="save a PNG grid of the first seeds' samples here")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    colour_truth, shape_truth = classifier_accuracy()
    print(f"classifier on rendered stills: colour {colour_truth:.1%}, shape {shape_truth:.1%}")
    pipeline = StableDiffusionPipeline.from_pretrained(args.model)
    pipeline.set_progress_bar_config(disable=True)
    samples = generate(pipeline, range(args.seeds), args.steps, args.guidance)
    report = score(samples)
    print(f"{report.samples} samples: colour {report.colour_accuracy:.1%}, shape {report.shape_accuracy:.1%}, "
          f"found {report.found_rate:.1%}")
    for shape, seen in report.shape_confusion.items():
        print(f"  asked {shape:8s} -> " + ", ".join(f"{name} {n}" for name, n in seen.items() if n))
    if args.grid:
        grid = samples[: min(4, args.seeds)].reshape(-1, *samples.shape[2:])  # rows of 24 prompts
        write_contact_sheet(args.grid, grid, columns=samples.shape[1], scale=2)
        print(f"saved {args.grid}")


if __name__ == "__main__":
    main()
