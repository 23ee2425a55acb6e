"""Errors meant for people.

Anything a user can cause (a bad path, an unknown model name, a corrupt file) raises
:class:`BenthosError` with a message that says what was wrong, where, and what to do.
The CLI prints that message on one line and exits with status 2, never a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenthosError(Exception):
    """A problem with the user's input or environment, explained in the message."""

    exit_code = 2


class DataError(BenthosError):
    """Bad or unreadable input data (images, annotations, manifests)."""


class ConfigError(BenthosError):
    """A configuration key or value that cannot be used."""


class WeightsError(BenthosError):
    """Weights that cannot be found, read or matched to the architecture."""


def closest(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Format 'did you mean' hints for an unknown name."""
    matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not matches:
        return ""
    return " Did you mean: " + ", ".join(matches) + "?"
