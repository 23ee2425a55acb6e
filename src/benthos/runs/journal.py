"""A resumable record of finished work: long predictions survive a kill and continue where they stopped.

A journal is a JSON-lines file beside the output (``predictions.csv.partial.jsonl``). Its
first line says what produced the results (the run, its weights, the settings); every later
line is one finished item, keyed by ``"image"``. Items are appended in batches, flushed and
fsync'd, so a kill loses at most the batch in flight. Reopened with the same header, the
finished items come back and only the rest is computed; with another header (another run or
other settings) the old journal is set aside and the work starts again. The final output is
written atomically from the journal, which is then removed.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".partial.jsonl"


class Progress:
    """Status lines for a long job ('512 / 10000 images (8.50 per s, about 19 min left)'),
    at most one every ``every_s`` seconds, and one at the end."""

    def __init__(self, total: int, already: int, say: Callable[[str], None] | None, every_s: float = 20.0,
                 unit: str = "images"):
        self.total, self.already, self.say, self.every_s, self.unit = total, already, say, every_s, unit
        self.t0 = self.last = time.time()

    def update(self, done_now: int) -> None:
        """``done_now``: items finished in this session (on top of ``already``)."""
        now, done = time.time(), self.already + done_now
        if self.say is None or (now - self.last < self.every_s and done < self.total):
            return
        self.last = now
        rate = done_now / max(now - self.t0, 1e-9)
        left = (self.total - done) / max(rate, 1e-9)
        eta = "done" if done >= self.total else (
            "under a minute left" if left < 60 else f"about {left / 60:.0f} min left")
        self.say(f"{done} / {self.total} {self.unit} ({rate:.2f} per s, {eta})")


class Journal:
    """Finished items of one long job, appended to ``path``; ``done`` holds those found on opening."""

    def __init__(self, path: str | os.PathLike, header: dict[str, Any], implied: dict[str, Any] | None = None):
        """``implied``: header keys that journals written by older versions lack, each with the value
        such a journal was written with; an older journal resumes when it agrees on the rest."""
        self.path = Path(path)
        self.header = json.loads(json.dumps(header))  # as it will read back (tuples -> lists)
        self.implied = {k: v for k, v in json.loads(json.dumps(implied or {})).items() if k in self.header}
        self.done: dict[str, dict] = {}
        self._fh = None
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            old_header, items, good_bytes = _read(self.path)
            if old_header is not None and {**self.implied, **old_header} == self.header:
                self.done = items
                with open(self.path, "r+b") as fh:  # drop a line torn by a kill mid-write
                    fh.truncate(good_bytes)
            else:
                stale = self.path.with_name(self.path.name + ".old")
                os.replace(self.path, stale)
                log.warning("%s was written by another run or with other settings; set aside as %s, starting again",
                            self.path, stale.name)
        fresh = not self.path.is_file()
        self._fh = open(self.path, "a", encoding="utf-8")
        if fresh:
            self._write([self.header])

    def remaining(self, items: Sequence, say: Callable[[str], None] | None = None, unit: str = "images") -> list:
        """``items`` (paths, or other keys) not finished yet, in order; says so through ``say`` when resuming."""
        todo = [it for it in items if str(it) not in self.done]
        if say and len(todo) < len(items):
            say(f"resuming: {len(items) - len(todo)} of {len(items)} {unit} already predicted ({self.path})")
        return todo

    def add(self, items: Iterable[dict]) -> None:
        """Append finished items (each with an ``"image"`` key) and make them durable."""
        items = list(items)
        for it in items:
            self.done[it["image"]] = it
        self._write(items)

    def _write(self, lines: list[dict]) -> None:
        self._fh.write("".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self, remove: bool = False) -> None:
        """Close the file; ``remove`` once the final output has been written from it."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if remove:
            self.path.unlink(missing_ok=True)
            self.path.with_name(self.path.name + ".old").unlink(missing_ok=True)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read(path: Path) -> tuple[dict | None, dict[str, dict], int]:
    """(header, items by image, bytes of complete lines). A torn or garbled line ends the read."""
    header, items, good = None, {}, 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                obj = json.loads(raw)
            except ValueError:
                break
            if header is None:
                header = obj
            elif isinstance(obj, dict) and "image" in obj:
                items[obj["image"]] = obj
            else:
                break
            good += len(raw)
    return header, items, good
