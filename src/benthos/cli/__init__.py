"""Command-line interface: argument parsing and printing only, no logic of its own."""
from __future__ import annotations

import argparse


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device`` of the inference commands; ``benthos.cli.main`` checks it and sets ``BENTHOS_DEVICE``
    for the command (read by ``benthos.infer.device.pick_device``)."""
    parser.add_argument("--device", help="where inference runs: auto (a GPU if there is one), cpu, cuda, cuda:N, mps")
