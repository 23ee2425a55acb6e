"""Typed configs: each key's value checked against its dataclass annotation.

Both halves' configs (``TrainConfig``, ``DetectConfig``) are dataclasses filled from YAML and flags;
YAML's ``epochs: many`` or ``lr: .nan`` must be a ConfigError naming the key and the file, not a crash
in the middle of a run. Ranges (and finiteness) are each config's own business; this checks types.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from benthos.errors import ConfigError

WANT = {str: "text", int: "a whole number", float: "a number", bool: "true or false", dict: "a mapping",
        list: "a list"}


def fits(value: Any, hint: Any) -> tuple[bool, str]:
    """(whether ``value`` fits the annotation ``hint``, what it should be, for people)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if value is None:
            return True, ""
        ok, want = fits(value, inner[0])
        return ok, f"{want} or null"
    origin = typing.get_origin(hint) or hint
    if origin is list:
        return (isinstance(value, list) and (not args or all(fits(v, args[0])[0] for v in value))), \
            f"a list of {WANT.get(args[0], 'values')}" if args else WANT[list]
    if origin is float:  # a whole number is a number; a bool is not
        return isinstance(value, (int, float)) and not isinstance(value, bool), WANT[float]
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool), WANT[int]
    return isinstance(value, origin), WANT.get(origin, getattr(origin, "__name__", str(origin)))


def short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_types(config: Any, source: str = "config") -> None:
    """Every field of the dataclass ``config`` holds a value of its declared type; else a ConfigError
    naming ``source``, the key, the value and what it should be."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        ok, want = fits(value, hints[f.name])
        if not ok:
            default = f.default if f.default is not dataclasses.MISSING else "empty"
            raise ConfigError(f"{source}: {f.name}: {short(value)} is not {want} (default: {default})")
