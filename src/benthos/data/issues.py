"""Problems found while reading data: recorded, summarised, and (on request) fatal.

Readers never crash on one bad file or row. They record a :class:`DataIssue` naming the
file (and line) and what was done about it, then carry on; ``on_error="stop"`` turns
the collected list into one :class:`~benthos.errors.DataError` before any training starts.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from benthos.errors import DataError

ON_ERROR = ("skip", "stop")


@dataclass
class DataIssue:
    """One thing skipped, clipped or ignored while reading data."""

    path: str             # file the problem is in (image, CSV, JSON or folder)
    line: int | None      # 1-based line/row in a CSV, or None
    problem: str          # what was wrong, for people
    action: str           # what was done: "skipped..." (fatal under on_error="stop"), "clipped", "dropped"
    kind: str = "other"   # short key used to count issues by type

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.problem} ({self.action})"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataIssue":
        return cls(**d)


def summarise_issues(issues: list[DataIssue]) -> str:
    """One line: how many issues of each kind, or 'no issues'."""
    if not issues:
        return "no issues"
    counts = Counter(i.kind for i in issues)
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.most_common())
    return f"{len(issues)} issue{'s' if len(issues) != 1 else ''}: {parts}"


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise DataError(f"on_error={on_error!r} is not a policy; use 'skip' (record and go on) or 'stop'.")


def raise_if_stopping(issues: list[DataIssue], on_error: str, source: str | Path, limit: int = 20) -> None:
    """With ``on_error="stop"``, raise one DataError listing the problems (skipped items only)."""
    fatal = [i for i in issues if i.action.startswith("skipped")]
    if on_error != "stop" or not fatal:
        return
    shown = "\n  ".join(str(i) for i in fatal[:limit])
    more = f"\n  ... and {len(fatal) - limit} more" if len(fatal) > limit else ""
    raise DataError(
        f"{len(fatal)} problem(s) in {source} (on_error='stop'):\n  {shown}{more}\n"
        "Fix or remove these files/rows, or pass on_error='skip' to leave them out."
    )
