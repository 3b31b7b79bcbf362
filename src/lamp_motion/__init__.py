"""LAMP: learn a motion pattern from a few videos, then generate new videos with it.

Tensor layout at every module boundary of this package: video tensors are
``(b, c, f, h, w)`` (batch, channels, frames, height, width).

The public names load on first use (``import lamp_motion`` stays light)::

    from lamp_motion import GenerateSettings, generate, train
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it.
_PUBLIC = {
    "train": "jobs.train", "TrainResult": "jobs.train", "TrainConfig": "training.config",
    "generate": "jobs.generate", "GenerateSettings": "jobs.generate", "GenerateResult": "jobs.generate",
    "GeneratedVideo": "jobs.common",
    "edit": "jobs.edit", "EditSettings": "jobs.edit", "EditResult": "jobs.edit",
    "evaluate": "jobs.evaluate", "EvaluateSettings": "jobs.evaluate", "EvaluateResult": "jobs.evaluate",
    "run_suite": "jobs.evaluate", "SuiteSettings": "jobs.evaluate",
    "run_demo": "jobs.demo", "DemoSettings": "jobs.demo", "DemoResult": "jobs.demo",
    "LampPipeline": "pipelines.lamp_pipeline", "VideoUNet": "models.video_unet", "MotionOptions": "models.video_unet",
    "LampMotionAdapter": "models.adapter",
    "SettingError": "errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lamp_motion' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    globals()[name] = value
    return value
