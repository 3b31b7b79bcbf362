"""The web UI's calls into the library: the only module that runs the jobs.

Each function takes the job's settings object and a ``log`` callback and returns the
job's result (see :mod:`lamp_motion.jobs`); the handlers turn results into page content.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..training.config import TrainConfig
from ..training.hooks import TrainingHooks


def train(config: TrainConfig, hooks: TrainingHooks) -> Path:
    """Tune a motion with the validation check `lamp train` would use; returns the motion file."""
    from ..jobs import train as run

    return run(config, hooks=hooks).motion_file


def generate(settings, log: Callable[[str], None]):
    """``lamp_motion.jobs.generate``: a GenerateResult (``.videos``, ``.settings``)."""
    from ..jobs import generate as run

    return run(settings, log=log)


def edit(settings, log: Callable[[str], None]):
    """``lamp_motion.jobs.edit``: an EditResult (``.video``)."""
    from ..jobs import edit as run

    return run(settings, log=log)


def evaluate(settings, log: Callable[[str], None]):
    """``lamp_motion.jobs.evaluate``: an EvaluateResult (``.report``, ``.markdown``, ``.json_path``, ``.md_path``)."""
    from ..jobs import evaluate as run

    return run(settings, log=log)
