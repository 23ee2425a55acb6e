"""Command-line interface: argument parsing and printing only, no logic of its own."""
from __future__ import annotations

import argparse


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device`` of the inference commands; ``benthos.cli.main`` checks it and sets ``BENTHOS_DEVICE``
    for the command (read by ``benthos.infer.device.pick_device``)."""
    parser.add_argument("--device", help="where inference runs: auto (a GPU if there is one), cpu, cuda, cuda:N, mps")


OUTSIDE_HELP = ("read images that an annotation file or manifest names outside its own folder (and --images): "
                "a ../ path or an absolute path elsewhere; by default each such record is skipped and named")


def add_outside_flag(parser: argparse.ArgumentParser) -> None:
    """``--allow-outside-paths`` of the commands that read annotation files; ``benthos.cli.main`` sets
    ``BENTHOS_ALLOW_OUTSIDE_PATHS`` for the command (read by ``benthos.data.files``)."""
    parser.add_argument("--allow-outside-paths", action="store_true", help=OUTSIDE_HELP)
