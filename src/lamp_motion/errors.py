"""Errors that name a setting, so that each face of the library (Python, CLI, UI) can name it its own way;
:class:`TrainingError`, the error training stops with; and :class:`JobStopped`, a job stopped on request.

A library function names a setting by its field name (``num_videos``); the CLI shows the
flag (``--num-videos``), the web UI its field label. The message is written once, with
``{name}`` where each setting is named::

    raise SettingError("{num_videos}=0 must be at least 1", "num_videos")
    str(error)                                       # "num_videos=0 must be at least 1"
    error.render({"num_videos": "--num-videos"})     # "--num-videos=0 must be at least 1"
"""

from __future__ import annotations

from collections.abc import Mapping


class SettingError(ValueError):
    """A setting (or several) with a value that cannot be used; the message says what to change."""

    def __init__(self, template: str, *settings: str):
        self.template = template
        self.settings = settings
        super().__init__(self.render())

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The message with each setting named as ``names`` says (default: its field name)."""
        return name_settings(self.template, names, *self.settings)

    def __str__(self) -> str:
        return self.render()


def name_settings(template: str, names: Mapping[str, str] | None, *settings: str) -> str:
    """``template`` with ``{setting}`` replaced by ``names[setting]`` (default: the setting's own name)."""
    names = names or {}
    for setting in settings:
        template = template.replace("{" + setting + "}", names.get(setting, setting))
    return template


class TrainingError(RuntimeError):
    """Training stopped; the message says why and what was kept."""


class JobStopped(Exception):
    """A job stopped because it was asked to (a front end's cancel button); the message says what was kept."""
