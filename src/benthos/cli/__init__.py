"""Command-line interface: argument parsing and printing only, no logic of its own.

Training flags are derived from the typed configs (:func:`add_config_flags`), so every config key
is a flag of the same name in both halves (``--input-size``, ``--tta``, ``--tile-overlap``, ...);
names of earlier versions stay as aliases that print a one-line deprecation note (:data:`DEPRECATED`)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Callable, Mapping, Sequence


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device`` of the inference commands; ``benthos.cli.main`` checks it and passes it on."""
    parser.add_argument("--device", help="where inference runs: auto (a GPU if there is one), cpu, cuda, cuda:N, mps")


# flags of earlier versions, per command: they still work, rewritten to today's name with a note
DEPRECATED: dict[tuple[str, ...], dict[str, str]] = {}


def rewrite_deprecated(argv: Sequence[str]) -> list[str]:
    """``argv`` with the deprecated flags of its command (:data:`DEPRECATED`) renamed, one note each on
    stderr ("--overlap is deprecated; use --tile-overlap")."""
    argv = list(argv)
    words = [a for a in argv if not a.startswith("-")]
    table: dict[str, str] = {}
    for command, renames in DEPRECATED.items():
        if tuple(words[:len(command)]) == command:
            table.update(renames)
    out = []
    for a in argv:
        name, eq, value = a.partition("=")
        if name in table:
            print(f"benthos: note: {name} is deprecated; use {table[name]}", file=sys.stderr)
            new = table[name].split()  # a flag, or a flag and its value ("--tta none")
            out += new if len(new) > 1 else [new[0] + eq + value]
            continue
        out.append(a)
    return out


def _json_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a bare word, e.g. full_preact


class _KeyValues(argparse.Action):
    """Repeatable KEY=VALUE into one dict."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = dict(getattr(namespace, self.dest, None) or {})
        key, value = values
        current[key] = value
        setattr(namespace, self.dest, current)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, help: Mapping[str, str],
                     skip: Sequence[str] = (),
                     custom: Mapping[str, Callable[[argparse.ArgumentParser, str, str], None]] | None = None) -> None:
    """One flag per field of the dataclass ``cls`` (``--input-size`` for ``input_size``), typed as the
    field: true/false fields get ``--x/--no-x``, lists and mappings take JSON, ``dict`` fields named in
    ``custom`` are added by their function. Unset flags are left out of the parsed namespace (so a
    --config file's values stand)."""
    hints = typing.get_type_hints(cls)
    custom = custom or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        text = help.get(f.name, "")
        if f.name in custom:
            custom[f.name](parser, flag, text)
            continue
        kind = hints[f.name]
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        base = typing.get_origin(base) or base
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = f" (default: {default})" if default not in (None, "", dataclasses.MISSING) else ""
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=text + shown)
        elif base in (list, dict):
            parser.add_argument(flag, type=_json_value, default=argparse.SUPPRESS, metavar="JSON", help=text)
        else:
            parser.add_argument(flag, type=base if base in (int, float) else str, default=argparse.SUPPRESS,
                                help=(text + shown).strip())


def key_value_flag(parser: argparse.ArgumentParser, flag: str, text: str, dest: str) -> None:
    """A repeatable ``--flag KEY=VALUE`` collected into one dict, the config field ``dest``."""
    parser.add_argument(flag, dest=dest, action=_KeyValues, type=_key_value, metavar="KEY=VALUE",
                        default=argparse.SUPPRESS, help=text + " (repeatable)")


def config_values(args: argparse.Namespace, exclude: Sequence[str] = ()) -> dict:
    """The config keys the command line set (argparse leaves unset flags out: see add_config_flags)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "command", "config", *exclude)}


OUTSIDE_HELP = ("read images that an annotation file or manifest names outside its own folder (and --images): "
                "a ../ path or an absolute path elsewhere; by default each such record is skipped and named")


def add_outside_flag(parser: argparse.ArgumentParser) -> None:
    """``--allow-outside-paths`` of the commands that read annotation files (``args.allow_outside_paths``,
    passed to the readers' ``allow_outside``)."""
    parser.add_argument("--allow-outside-paths", action="store_true", help=OUTSIDE_HELP)
