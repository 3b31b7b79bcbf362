"""The library's jobs, each a function of a settings dataclass that returns a result object.

The CLI (``lamp ...``) and the web UI are thin faces on these: they map their inputs onto
the settings, call one function and show its result. Errors name the setting (field
name); see :class:`lamp_motion.errors.SettingError`.
"""

from .common import GeneratedVideo
from .demo import DemoResult, DemoSettings, run_demo
from .edit import EditResult, EditSettings, edit
from .evaluate import EvaluateResult, EvaluateSettings, SuiteSettings, evaluate, run_suite
from .generate import GenerateResult, GenerateSettings, generate
from .merge import MergeResult, MergeSettings, merge
from .train import TrainResult, train

__all__ = ["DemoResult", "DemoSettings", "EditResult", "EditSettings", "EvaluateResult", "EvaluateSettings",
           "GenerateResult", "GenerateSettings", "GeneratedVideo", "MergeResult", "MergeSettings", "SuiteSettings",
           "TrainResult", "edit", "evaluate", "generate", "merge", "run_demo", "run_suite", "train"]
