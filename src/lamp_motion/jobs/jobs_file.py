"""A jobs file (``lamp generate --jobs FILE.yaml``): a YAML list of videos made in one load.

Each entry is a mapping; a key left out takes the command line's value (or GenerateSettings'
default), so only ``prompt`` is needed, and only where no ``--prompt`` is given::

    - prompt: a red circle moves right
      seed: 3
      num_videos: 2                       # seeds 3 and 4
    - prompt: a blue square moves right
      image: first.png                    # paths as on the command line: relative to the current folder
      motion: outputs/other/motion.safetensors
      frames: 8
      steps: 10

The keys are :data:`ENTRY_KEYS` and every sampling setting by its settings-JSON name (``steps``,
``guidance``, ``frames``, ``height``, ``width``, ``negative_prompt``, ``shared_noise``, ``adain``,
``histogram_matching``, ...). What loads models (``base``, ``t2i``, ``device``, ``dtype``,
``compile``) is the command line's, for every entry. Every entry is checked before any model
loads: a :class:`JobsFileError` names the entry (counted from 1) and its key.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from pathlib import Path

import yaml

from ..errors import SettingError
from ..settings import ALIASES, SamplingSettings, record_key
from .common import Log
from .generate import GenerateResult, GenerateSettings
from .many_videos import check_video, make_videos

# Per-video keys besides the sampling settings, with the types a YAML value may have.
ENTRY_KEYS = {"prompt": (str,), "image": (str,), "image_prompt": (str,), "motion": (str,), "seed": (int,),
              "num_videos": (int,), "overlap": (int,), "fps": (int, float), "t2i_steps": (int,),
              "t2i_guidance": (int, float)}
_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "Any": (bool,)}
_WANTED = {(int,): "a whole number", (int, float): "a number", (bool,): "true or false", (str,): "text"}
# Sampling settings a command line can give: settings-JSON key (and field name, and older names) -> field name.
SAMPLING_KEYS = {key: spec.name for spec in fields(SamplingSettings) if spec.metadata["cli"]
                 for key in (record_key(spec), spec.name)}
SAMPLING_KEYS.update({old: new for old, new in ALIASES.items() if new in SAMPLING_KEYS.values()})


class JobsFileError(SettingError):
    """A jobs file, or one of its entries, that cannot be used; the message names the entry and key."""


def load_jobs(path: str | os.PathLike[str], defaults: GenerateSettings, given_by: str = "settings") -> list[GenerateSettings]:
    """One GenerateSettings per video of the jobs file at ``path`` (an entry's ``num_videos`` gives seeds
    ``seed, seed + 1, ...``), each checked as :func:`~lamp_motion.jobs.many_videos.check_video` checks it."""
    entries = _read(Path(path))
    names = {field_name: key for key, field_name in SAMPLING_KEYS.items() if key != field_name}
    videos, images = [], {}
    for number, entry in enumerate(entries, 1):
        where = f"{path}, entry {number} of {len(entries)}"
        settings = _entry_settings(entry, defaults, where)
        for i in range(settings.num_videos):
            video = replace(settings, seed=settings.seed + i if isinstance(settings.seed, int) else settings.seed,
                            num_videos=1)
            try:
                check_video(video, given_by, images)
            except (ValueError, FileNotFoundError) as error:
                message = error.render(names) if isinstance(error, SettingError) else str(error)
                raise JobsFileError(f"{where}: {message}") from error
            videos.append(video)
    return videos


def generate_jobs_file(path: str | os.PathLike[str], defaults: GenerateSettings, log: Log | None = print,
                       given_by: str = "settings") -> GenerateResult:
    """Make every video of the jobs file at ``path`` in one load (``defaults``: the settings the entries leave out,
    and those that load models); written as :func:`~lamp_motion.jobs.generate.generate_jobs` writes them."""
    made = make_videos(defaults, load_jobs(path, defaults, given_by), log, given_by)
    return GenerateResult(videos=made.videos)


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        raise JobsFileError(f"jobs file {path} does not exist; give a YAML list of videos, e.g. "
                            f"\"- prompt: a red circle moves right\"")
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise JobsFileError(f"jobs file {path} is not valid YAML: {error}") from error
    if not isinstance(entries, list) or not entries:
        raise JobsFileError(f"jobs file {path} must be a non-empty YAML list of videos, e.g. "
                            f"\"- prompt: a red circle moves right\"")
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise JobsFileError(f"{path}, entry {number} of {len(entries)}: {entry!r} is not a mapping of settings; "
                                f"write it as \"- prompt: ...\"")
    return entries


def _entry_settings(entry: dict, defaults: GenerateSettings, where: str) -> GenerateSettings:
    """``defaults`` with the entry's keys set; a JobsFileError names a key that is unknown or of the wrong type."""
    own, sampling = {}, {}
    sampling_types = {spec.name: _TYPES.get(str(spec.type).split(" | ")[0], (str,)) for spec in fields(SamplingSettings)}
    for key, value in entry.items():
        if key in ENTRY_KEYS:
            kinds, target = ENTRY_KEYS[key], own
        elif key in SAMPLING_KEYS:
            kinds, target = sampling_types[SAMPLING_KEYS[key]], sampling
        else:
            known = sorted({*ENTRY_KEYS, *(k for k, name in SAMPLING_KEYS.items() if k not in ALIASES)})
            raise JobsFileError(f"{where}: unknown key {key!r}; an entry takes {', '.join(known)}")
        if value is None or isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
            raise JobsFileError(f"{where}: {key}={value!r} must be {_WANTED[kinds]}")
        target[SAMPLING_KEYS.get(key, key)] = value
    if own.get("num_videos", defaults.num_videos) < 1:
        raise JobsFileError(f"{where}: num_videos={own.get('num_videos', defaults.num_videos)} must be at least 1")
    if "prompt" not in own and not defaults.prompt:
        raise JobsFileError(f"{where}: give its prompt (\"prompt: a horse runs in the snow\"), or --prompt for "
                            f"every entry")
    if "motion" not in own and defaults.motion is None:
        raise JobsFileError(f"{where}: give its motion file (\"motion: outputs/run/motion.safetensors\"), or "
                            f"--motion for every entry")
    return replace(defaults, **own, sampling=replace(defaults.sampling, **sampling))
