"""Evaluation metrics: CLIP alignment, consistency and diversity (the LAMP paper's Table 1)."""

from .clip_metrics import (
    DEFAULT_CLIP_MODEL,
    ClipModelError,
    ClipScorer,
    alignment_score,
    consistency_score,
    diversity_score,
    report_to_markdown,
)

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "ClipModelError",
    "ClipScorer",
    "alignment_score",
    "consistency_score",
    "diversity_score",
    "report_to_markdown",
]
