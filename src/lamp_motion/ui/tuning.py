"""A tuning run for the web UI: its config from the page's fields, run in a background thread.

The thread reports progress through :class:`~lamp_motion.training.hooks.TrainingHooks`;
:meth:`TuneJob.stop` asks the loop to stop after the current step with a checkpoint
(as Ctrl-C does in `lamp train`), so a cancelled run can be continued later.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from ..config_io import load_config
from ..jobs.demo import toy_config
from ..jobs.train import train
from ..training.config import TrainConfig
from ..training.hooks import TrainingHooks


def template(base: str | None) -> TrainConfig:
    """The config a tuning starts from: the toy motion config on the built-in base, else the paper's settings."""
    if base is None:
        return load_config(TrainConfig, toy_config("move_right"))
    return TrainConfig(base=base, validate_every=0)


def defaults(base: str | None) -> dict[str, int]:
    """The page's starting values for ``base``: steps, frames, height, width, validation interval."""
    config = template(base)
    every = config.validate_every or max(1, config.steps // 4)
    return dict(steps=config.steps, frames=config.num_frames, height=config.height, width=config.width,
                validate_every=every)


def tune_config(base: str | None, data: Path, output_dir: Path, prompt: str, steps: int, frames: int, height: int,
                width: int, validate_every: int, resume: bool) -> TrainConfig:
    """The training config of one run (ValueError naming the field for a bad value)."""
    start = template(base)
    prompts = start.validation_prompts if base is None or validate_every <= 0 else [prompt]
    return dataclasses.replace(start, data=str(data), output_dir=str(output_dir), prompt=prompt, steps=int(steps),
                               num_frames=int(frames), height=int(height), width=int(width),
                               validate_every=int(validate_every), validation_prompts=prompts,
                               checkpoint_every=max(0, start.checkpoint_every),
                               resume="latest" if resume else None, tensorboard=False)


class TuneJob:
    """One training run in a thread; read its fields for progress."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.hooks = TrainingHooks(on_step=self._on_step, on_validation=self._on_validation)
        self.total = config.steps
        self.step = 0
        self.loss: float | None = None
        self.validation: Path | None = None  # the latest validation video
        self.outcome: str | None = None  # "done", "stopped" or "failed" once the thread ends
        self.message = ""
        self.motion_file: Path | None = None
        self._first: tuple[int, float] | None = None  # (step, time) of the first step seen, for the rate
        self._last = 0.0  # time of the latest step
        self._thread = threading.Thread(target=self._run, name="lamp-ui-tune", daemon=True)

    def start(self) -> "TuneJob":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current step, keeping a checkpoint."""
        self.hooks.stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True once the run has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def seconds_left(self) -> float | None:
        if self._first is None or self.step <= self._first[0]:
            return None
        rate = (time.monotonic() - self._first[1]) / (self.step - self._first[0])
        return rate * (self.total - self.step)

    def status(self) -> str:
        """One line of Markdown: step, loss, time left, or how the run ended."""
        if self.outcome == "done":
            return f"**done**: {self.step} steps; motion file `{self.motion_file}`"
        if self.outcome == "stopped":
            return f"**stopped**: {self.message}"
        if self.outcome == "failed":
            return f"**failed**: {self.message}"
        if self.step == 0:
            return "loading the base model and the videos ..."
        left = self.seconds_left()
        eta = f"about {left:.0f} s left" if left is not None else "time left: measuring"
        if self.hooks.stop.is_set():
            eta += "; stopping after this step"
        elif time.monotonic() - self._last > 5:
            eta += f"; {time.monotonic() - self._last:.0f} s since the last step: validation videos or saving"
        return f"step {self.step}/{self.total}, loss {self.loss:.4f}, {eta}"

    def _on_step(self, step: int, total: int, loss: float) -> None:
        if self._first is None:
            self._first = (step, time.monotonic())
        self.step, self.total, self.loss, self._last = step, total, loss, time.monotonic()

    def _on_validation(self, step: int, paths: list[Path]) -> None:
        if paths:
            self.validation = paths[0]

    def _run(self) -> None:
        try:
            self.motion_file = train(self.config, hooks=self.hooks).motion_file
            self.outcome = "done"
        except KeyboardInterrupt as interrupt:
            self.outcome, self.message = "stopped", str(interrupt) or "stopped"
        except Exception as error:  # shown on the page; the page stays up
            self.outcome, self.message = "failed", f"{type(error).__name__}: {error}"
