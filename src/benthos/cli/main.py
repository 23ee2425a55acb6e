"""The ``benthos`` command. A thin layer: every command calls the Python API.

Each ``benthos <group>`` lives in its own module under ``benthos.cli`` with a
``register(subparsers)`` function; handlers import heavy libraries (torch) lazily so
``benthos --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from benthos import __version__
from benthos.errors import BenthosError


# module name under benthos.cli -> registers one or more top-level commands
COMMAND_MODULES = ["models", "cost", "data", "train", "evaluate", "predict", "export", "report", "detect", "ecology"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benthos",
        description="Deep learning for benthic taxonomy: classify, detect and count seafloor organisms.",
    )
    parser.add_argument("--version", action="version", version=f"benthos {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"benthos.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benthos.cli.{name}":
                continue  # subsystem not installed in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from benthos.cli import rewrite_deprecated

    parser = build_parser()
    args = parser.parse_args(rewrite_deprecated(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "device", None):  # --device of the inference commands: a bad name stops here
            from benthos.infer.device import pick_device

            pick_device(args.device)
        result = args.func(args)
    except BenthosError as exc:
        print(f"benthos: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a folder where a file should go, no permission, a full disk: say so, no traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"benthos: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = getattr(args, "on_interrupt", None)
        print("benthos: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `benthos models list | head` closes the pipe early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
