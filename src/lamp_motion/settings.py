"""Generation settings, each written once: its name, default, command-line flag, help and page label.

:class:`SamplingSettings` is how the video model samples (size, steps, guidance, shared
noise, AdaIN, histogram matching, negative prompt). The jobs, :class:`~lamp_motion.pipelines.lamp_pipeline.LampPipeline`,
the CLI (flags generated from :func:`setting` metadata) and the web UI (labels) use it.
A field left None is resolved once against a motion file by :meth:`SamplingSettings.resolve`:
the motion's recorded value, else the paper's (the field's ``fallback``). Resolution
validates every value once, with a :class:`~lamp_motion.errors.SettingError` naming the
field, and says where each value came from (the settings JSON's ``setting_sources``).

Python names say which steps they mean: ``sampling_steps`` here (the flag ``--steps``,
the JSON's ``steps``); training steps are ``TrainConfig.steps``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from .errors import SettingError


def setting(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None, label: str | None = None,
            record: str | None = None, recorded: tuple[str, str] | None = None, fallback: Any = None, cli: bool = True,
            **argparse: Any) -> Any:
    """A settings field with what the CLI and the UI need to show it.

    ``flag``: its command-line flag (default: ``--`` and the name with dashes; a boolean that
    defaults to True gets ``--no-...``); ``label``: its field label in the web UI; ``record``:
    its key in the settings JSON (default: the name); ``recorded``: ``(part, key)`` of the motion
    file's value used when the field is None (part "trained": the training size, "generation":
    the recorded generation settings); ``fallback``: the paper's value when the motion file
    records none; ``cli``: False for a setting without a flag. Other keywords (``metavar``,
    ``choices``, ``nargs``, ``type``) go to argparse.
    """
    metadata = {"help": help, "flag": flag, "label": label, "record": record, "recorded": recorded,
                "fallback": fallback, "cli": cli, "argparse": argparse}
    return field(default=default, metadata=metadata)


MAX_MOTION_SCALE = 3.0  # the largest motion scale accepted: three times the learnt branches


class MotionRecord(Protocol):
    """What resolution reads from a motion (a MotionFile, a LampMotionAdapter, a LampPipeline)."""

    trained_size: Mapping[str, int | None]  # height, width, num_frames
    generation: Mapping[str, int | float | bool]  # steps, guidance, frame_init


# The largest generation one request may ask for, in `lamp generate`, `lamp edit`, Python and the web page alike: beyond
# them a single video holds the device for hours. A motion file's recorded sizes and steps are held to the same ranges.
MAX_FRAMES = 1024  # frames of one video (a video longer than the motion's window chains windows: 64 of 16 frames)
MAX_SIDE = 2048  # height and width in pixels
MAX_SAMPLING_STEPS = 1000  # DDIM steps (a base's schedule has 1000 training timesteps; the paper samples 50)


@dataclass(frozen=True)
class SamplingSettings:
    """How the video model samples; None: the motion file's value, else the paper's (see :meth:`resolve`)."""

    frames: int | None = setting(None, "frames per video (default: the motion's window, else 16; more than the window "
                                       "chains windows)", label="Frames", recorded=("trained", "num_frames"), fallback=16)
    height: int | None = setting(None, "video height (default: the motion's training size, else 320)", label="Height",
                                 recorded=("trained", "height"), fallback=320)
    width: int | None = setting(None, "video width (default: the motion's training size, else 512)", label="Width",
                                recorded=("trained", "width"), fallback=512)
    sampling_steps: int | None = setting(None, "DDIM steps (default: the motion file's setting, else the paper's 50)",
                                         flag="--steps", label="Steps", record="steps", recorded=("generation", "steps"),
                                         fallback=50)
    guidance: float | None = setting(None, "classifier-free guidance scale, <= 1: off (default: the motion file's "
                                           "setting, else the paper's 12.5)", label="Guidance",
                                     recorded=("generation", "guidance"), fallback=12.5)
    # Guidance's two UNet passes (unconditional, then conditional) one after the other instead of one pass on a
    # batch of 2 videos: the same video up to rounding, with less memory and a slower step (docs/performance.md).
    sequential_guidance: bool = setting(False, "run guidance's two UNet passes one after the other: less memory, "
                                               "slower steps", label="Sequential guidance")
    # One negative prompt, or (Python only) one per prompt.
    negative_prompt: str | list[str] | None = setting(None, "negative prompt (default: none)", label="Negative prompt")
    shared_noise: float = setting(0.2, "shared-noise weight alpha (0 = off)", label="Shared noise")
    # Weight of the motion layers' branches at run time (VideoUNet.set_motion_scale): 1 the learnt motion,
    # 0 the still first frame, between and above a weaker or stronger motion (docs/api.md, Motion scale).
    motion_scale: float = setting(1.0, f"strength of the learnt motion, 0..{MAX_MOTION_SCALE:g}: 1 as learnt, 0 a still "
                                       f"video of frame 1 (default: 1)", label="Motion scale", metavar="X")
    # True: the default AdaINSchedule; False: off; or a lamp_motion.pipelines.postprocess.AdaINSchedule.
    adain: Any = setting(True, "turn latent AdaIN off", label="AdaIN")
    histogram_matching: bool = setting(True, "turn pixel histogram matching off", label="Histogram matching")
    # Start frames 2..N from frame 1's mean latent noised to the first step (LampPipeline's frame_init_latents);
    # a training config's sample_frame_init, recorded in the motion file.
    frame_init: bool | None = setting(None, "start later frames from frame 1's mean colour (default: as the motion "
                                            "file records; off where it records nothing)", label="Frame init",
                                      recorded=("generation", "frame_init"), fallback=False)

    def resolve(self, motion: MotionRecord | None = None, given_by: str = "settings") -> ResolvedSampling:
        """Every None field filled from ``motion`` (its recorded value), else the paper's; checked once.

        Sources: ``given_by`` for a given value, "motion file" for a recorded one, "default"
        for the paper's. Raises SettingError naming the first field that cannot be used.
        """
        recorded = {"trained": dict(motion.trained_size) if motion else {},
                    "generation": dict(motion.generation) if motion else {}}
        values, sources = {}, {}
        for spec in fields(self):
            value, where = getattr(self, spec.name), spec.metadata["recorded"]
            if where is None:
                continue
            stored = recorded[where[0]].get(where[1])
            if value is not None:
                sources[spec.name] = given_by
            elif stored is not None:
                values[spec.name], sources[spec.name] = stored, "motion file"
            else:
                values[spec.name], sources[spec.name] = spec.metadata["fallback"], "default"
        resolved = replace(self, **values)
        resolved.check()
        window = recorded["trained"].get("num_frames") or FALLBACKS["frames"]
        return ResolvedSampling(resolved, window, sources)

    def check(self) -> None:
        """A SettingError naming the first field whose value cannot be used (None fields pass)."""
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and (value <= 0 or value % 8):
                raise SettingError(f"{{{name}}}={value} must be a positive multiple of 8; try {max(8, round(value / 8) * 8)}",
                                   name)
            if value is not None and value > MAX_SIDE:
                raise SettingError(f"{{{name}}}={value} is over the limit of {MAX_SIDE} pixels", name)
        if self.frames is not None and self.frames < 2:
            raise SettingError(f"{{frames}}={self.frames}: a video needs at least 2 frames (frame 1 is the given first "
                               f"frame)", "frames")
        if self.frames is not None and self.frames > MAX_FRAMES:
            raise SettingError(f"{{frames}}={self.frames} is over the limit of {MAX_FRAMES} frames per video; make a "
                               f"shorter one, or continue a video from its last frame as the next one's first frame",
                               "frames")
        if self.sampling_steps is not None and self.sampling_steps < 1:
            raise SettingError(f"{{sampling_steps}}={self.sampling_steps} must be at least 1", "sampling_steps")
        if self.sampling_steps is not None and self.sampling_steps > MAX_SAMPLING_STEPS:
            raise SettingError(f"{{sampling_steps}}={self.sampling_steps} is over the limit of {MAX_SAMPLING_STEPS} "
                               f"(the paper samples 50)", "sampling_steps")
        if self.guidance is not None and not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise SettingError(f"{{guidance}}={self.guidance} must be a number >= 0 (1 or less turns guidance off; the "
                               f"paper uses 12.5)", "guidance")
        if not 0 <= self.shared_noise <= 1:
            raise SettingError(f"{{shared_noise}}={self.shared_noise} must be in [0, 1] (the paper uses 0.2)",
                               "shared_noise")
        scale = self.motion_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= MAX_MOTION_SCALE:
            raise SettingError(f"{{motion_scale}}={scale} must be a number from 0 to {MAX_MOTION_SCALE:g} (0: a still "
                               f"video of frame 1, 1: the learnt motion)", "motion_scale")

    def unresolved(self) -> list[str]:
        """The fields still None that resolution fills in (empty once resolved)."""
        return [spec.name for spec in fields(self) if spec.metadata["recorded"] and getattr(self, spec.name) is None]

    def changed(self) -> dict[str, Any]:
        """The fields set to other than their defaults, by their settings-JSON keys."""
        return {record_key(spec): getattr(self, spec.name) for spec in fields(self)
                if getattr(self, spec.name) != spec.default}


@dataclass(frozen=True)
class ResolvedSampling:
    """Sampling settings with every value filled in, the motion's window, and where each value came from."""

    values: SamplingSettings  # no field None but negative_prompt
    window: int  # frames the motion was trained on (else 16): the longest one pass of the model makes
    sources: Mapping[str, str]  # field name -> given_by, "motion file" or "default"

    def record(self) -> dict[str, Any]:
        """The settings JSON's entries: each value by its JSON key, the window, and ``setting_sources``: where the
        recorded generation settings a command line can give (steps, guidance, frame_init) came from."""
        entries = {record_key(spec): getattr(self.values, spec.name) for spec in fields(self.values)}
        entries["adain"] = bool(entries["adain"])
        sources = {record_key(spec): self.sources[spec.name] for spec in fields(self.values)
                   if (spec.metadata["recorded"] or ("",))[0] == "generation" and spec.metadata["cli"]}
        return {**entries, "window": self.window, "setting_sources": sources}


MAX_FPS = 100  # a gif's frame time is a whole number of hundredths of a second: faster, and mp4, gif and JSON disagree


def frame_rate_problem(fps: object) -> str | None:
    """What is wrong with ``fps`` as a frame rate (a number above 0, at most MAX_FPS; nan and inf are refused), or None.

    The one rule: :func:`check_frame_rate` (the jobs) and the CLI's ``--fps`` (at parse time) use it."""
    if isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps <= MAX_FPS:
        return None
    shown = f"{fps:g}" if isinstance(fps, (int, float)) else repr(fps)
    return (f"{shown} is not a frame rate; give frames per second above 0 and at most {MAX_FPS} (a gif stores "
            f"frame times in hundredths of a second), e.g. 8")


def check_frame_rate(fps: float | None, optional: bool = False) -> None:
    """A SettingError naming ``fps`` unless it is a frame rate, or None when ``optional``."""
    problem = None if fps is None and optional else frame_rate_problem(fps)
    if problem:
        raise SettingError(f"{{fps}}: {problem}", "fps")


def record_key(spec: dataclasses.Field) -> str:
    """A field's key in the settings JSON."""
    return spec.metadata.get("record") or spec.name


FALLBACKS = {spec.name: spec.metadata["fallback"] for spec in fields(SamplingSettings) if spec.metadata["recorded"]}
# The sampling fields' labels in the web UI, for SettingError.render.
LABELS = {spec.name: spec.metadata["label"] for spec in fields(SamplingSettings)}
# Older Python keyword names of sampling settings.
ALIASES = {"steps": "sampling_steps"}


def takes_sampling_keywords(cls: type) -> type:
    """Let the dataclass ``cls``, which has a ``sampling: SamplingSettings`` field, also take the sampling settings as
    keywords of its own (``frames=``, ``sampling_steps=``, the older ``steps=``, ...), as before they had a class."""
    init = cls.__init__
    names = {spec.name for spec in fields(SamplingSettings)}

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        given = {ALIASES.get(key, key): kwargs.pop(key) for key in list(kwargs) if ALIASES.get(key, key) in names}
        if given:
            kwargs["sampling"] = replace(kwargs.get("sampling", SamplingSettings()), **given)
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls
