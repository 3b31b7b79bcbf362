"""Command-line flags generated from a settings dataclass's fields (:func:`lamp_motion.settings.setting`).

Flags that stand for a job's settings field without such metadata take ``default=GIVEN``
(argparse leaves them out when not given) and :func:`given` collects the ones given, so
the job's dataclass holds each default once.

A field's flag is its ``flag`` metadata, else ``--`` and its name with dashes; a boolean
that defaults to True is turned off by ``--no-...``; an optional boolean (None: the motion
file's value) gets both ``--...`` and ``--no-...``. Name, help and default come from the
field, so they are written once, in :mod:`lamp_motion.settings`.
"""

from __future__ import annotations

import argparse
from dataclasses import Field, fields

from ..settings import SamplingSettings

TYPES = {"int": int, "float": float}
GIVEN = argparse.SUPPRESS  # the default of a flag whose default is its settings field's: absent unless given


def given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """``names``' values that the command line gave (flags with ``default=GIVEN`` left out are absent)."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def flag_of(spec: Field) -> str:
    """The command-line flag of a settings field."""
    if spec.metadata.get("flag"):
        return spec.metadata["flag"]
    name = spec.name.replace("_", "-")
    return f"--no-{name}" if spec.default is True else f"--{name}"


def add_sampling_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, names: tuple[str, ...] | None = None,
                           given_only: bool = False) -> None:
    """Add a flag per SamplingSettings field that has one (or per such field in ``names``), with the field's default.

    ``given_only``: flags left out do not appear in the parsed arguments (the dataclass's
    defaults then apply when the settings are built)."""
    for spec in fields(SamplingSettings):
        if not spec.metadata["cli"] or (names is not None and spec.name not in names):
            continue
        default = argparse.SUPPRESS if given_only else spec.default
        if spec.default is True or spec.default is False:
            action = "store_false" if spec.default else "store_true"
            parser.add_argument(flag_of(spec), dest=spec.name, action=action, default=default, help=spec.metadata["help"])
            continue
        if str(spec.type) == "bool | None":  # --x / --no-x; neither: None (the motion file's value)
            parser.add_argument(flag_of(spec), dest=spec.name, action=argparse.BooleanOptionalAction, default=default,
                                help=spec.metadata["help"])
            continue
        kind = TYPES.get(str(spec.type).split(" | ")[0], str)
        options = {"metavar": flag_of(spec).lstrip("-").replace("-", "_").upper(), **spec.metadata["argparse"]}
        parser.add_argument(flag_of(spec), dest=spec.name, type=kind, default=default, help=spec.metadata["help"],
                            **options)


def sampling_from_args(args: argparse.Namespace) -> SamplingSettings:
    """The SamplingSettings of the parsed flags (fields without a flag, or left out with ``given_only``: the defaults)."""
    return SamplingSettings(**{spec.name: getattr(args, spec.name) for spec in fields(SamplingSettings)
                               if hasattr(args, spec.name)})
