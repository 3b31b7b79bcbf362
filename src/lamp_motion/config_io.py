"""Typed dataclass configs from YAML files plus ``key=value`` command-line overrides.

Unknown keys are rejected (with the closest known key suggested), values are checked
against the field's type, and the resolved config can be written back as YAML.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and the fix."""


class _Loader(yaml.SafeLoader):
    """YAML read as in YAML 1.2 where 1.1 surprises: only true/false are booleans (``mixed_precision: no``
    is the string "no") and ``3e-5`` is a float, not a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                              list("-+.0123456789"))


def _load_yaml(text: str, where: str) -> Any:
    """Parse ``text`` (plain data only: the loader is a SafeLoader); ``where`` names it in a syntax error."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where} is not valid YAML{position}: {problem}; fix the syntax (quote text that holds "
                          f"':', '[', '{{' or '#', and close every bracket)") from error


def _check_type(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(name, value, option)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{name}: invalid value {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        (item,) = typing.get_args(annotation) or (Any,)
        return [_check_type(f"{name}[{i}]", v, item) for i, v in enumerate(value)]
    if annotation is Any:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if annotation in (str, float) and not isinstance(value, annotation):
        raise ConfigError(f"{name} must be a {annotation.__name__}, got {value!r}")
    return value


def build_config(cls: type[T], values: dict[str, Any], source: str = "config") -> T:
    """Instantiate dataclass ``cls`` from a dict, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{source}: unknown key {key!r}{hint}")
    checked = {key: _check_type(key, value, hints[key]) for key, value in values.items()}
    try:
        return cls(**checked)
    except ValueError as error:  # __post_init__ validation
        raise ConfigError(f"{source}: {error}") from error


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["steps=100", "flip=false"]`` -> ``{"steps": 100, "flip": False}`` (values parsed as YAML)."""
    values = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value (e.g. steps=500)")
        values[key.strip()] = _load_yaml(raw, f"override {item!r}") if raw.strip() else None
    return values


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] | None = None) -> T:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = _load_yaml(path.read_text(encoding="utf-8", errors="replace"), f"config file {path}") or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of key: value lines")
        values.update(loaded)
    values.update(parse_overrides(overrides or []))
    return build_config(cls, values, source=str(path or "config"))


def config_to_yaml(config: Any) -> str:
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False)
