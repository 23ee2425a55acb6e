"""A resumable record of finished work: long predictions survive a kill and continue where they stopped.

A journal is a JSON-lines file beside the output (``predictions.csv.partial.jsonl``). Its
first line says what produced the results (the run, its weights, the settings); every later
line is one finished item, keyed by ``"image"``. Finished items are written, flushed and fsync'd
once ``flush_every`` of them are waiting or ``flush_seconds`` after the first of them was added,
whichever comes first (a timer thread, so a slow next item does not hold them back): a kill loses
at most the last few seconds of work, and a Ctrl-C (or any exception leaving the ``with`` block)
nothing. Reopened with the same header, the finished items come back and only the rest is
computed; with another header (another run or other settings) the old journal is set aside and
the work starts again. The final output is written atomically from the journal, which is then removed.

One process at a time: a journal holds an OS lock (``flock``) on ``JOURNAL.lock`` while open, so a
second process given the same output is refused (naming the first one's pid) instead of repeating
its work and racing it for the files. The kernel drops the lock when its process ends however it
ends, so a crashed or killed job never leaves it stuck; the file itself may stay behind, harmless.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from benthos.errors import BenthosError

try:
    import fcntl
except ImportError:  # Windows: no flock; the journal then works unlocked
    fcntl = None

log = logging.getLogger(__name__)

SUFFIX = ".partial.jsonl"
LOCK_SUFFIX = ".lock"


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
    """Finished items of one long job, appended to ``path``; ``done`` holds those found on opening
    and those added since. Holds the job's lock from opening until :meth:`close`."""

    def __init__(self, path: str | os.PathLike, header: dict[str, Any], implied: dict[str, Any] | None = None,
                 *, flush_every: int = 256, flush_seconds: float = 2.0):
        """``implied``: header keys that journals written by older versions lack, each with the value
        such a journal was written with; an older journal resumes when it agrees on the rest.
        ``flush_every``, ``flush_seconds``: write waiting items once there are this many, or this long
        after the first of them was added. Raises BenthosError when another process holds the journal."""
        if flush_every < 1 or not flush_seconds > 0:
            raise ValueError("flush_every must be >= 1 and flush_seconds > 0")
        self.path = Path(path)
        self.header = json.loads(json.dumps(header))  # as it will read back (tuples -> lists)
        self.implied = {k: v for k, v in json.loads(json.dumps(implied or {})).items() if k in self.header}
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self.done: dict[str, dict] = {}
        self._fh = None
        self._lock_fd: int | None = None
        self._pending: list[dict] = []
        self._timer: threading.Timer | None = None
        self._mutex = threading.Lock()  # the timer thread and the caller both write
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._open()
        except BaseException:
            self._unlock()
            raise

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + LOCK_SUFFIX)

    def _lock(self) -> None:
        if fcntl is None:
            return
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _holder(fd)
                os.close(fd)
                raise BenthosError(
                    f"{self.path}: another process{holder} is working on this output now (it holds "
                    f"{self.lock_path.name}); wait for it to finish, or stop it, or write to another --out") from None
            # the holder may have finished and removed the file between our open and our lock: then
            # our lock is on a file nobody else will see, so take the one now at that path instead
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        # removed while still held, so a process waiting on the old file sees it gone (see _lock)
        self.lock_path.unlink(missing_ok=True)
        os.close(self._lock_fd)  # closing releases the flock
        self._lock_fd = None

    def _open(self) -> None:
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
        """Record finished items (each with an ``"image"`` key): durable at once when ``flush_every``
        are waiting, else within ``flush_seconds``. Callers may add one item at a time."""
        items = list(items)
        with self._mutex:
            if self._fh is None:
                raise ValueError(f"{self.path}: the journal is closed")
            for it in items:
                self.done[it["image"]] = it
            self._pending += items
            if len(self._pending) >= self.flush_every:
                self._flush_locked()
            elif self._pending and self._timer is None:
                self._timer = threading.Timer(self.flush_seconds, self.flush)
                self._timer.daemon = True  # a killed job loses these seconds, as documented; close() flushes
                self._timer.start()

    def flush(self) -> None:
        """Write and fsync the items waiting, now."""
        with self._mutex:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # harmless when called from the timer itself
            self._timer = None
        if self._pending and self._fh is not None:
            self._write(self._pending)
            self._pending = []

    def _write(self, lines: list[dict]) -> None:
        self._fh.write("".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self, remove: bool = False) -> None:
        """Write what is waiting, close the file and release the lock; ``remove`` once the final
        output has been written from it."""
        with self._mutex:
            self._flush_locked()
            if self._fh is not None:
                self._fh.close()
                self._fh = None
        if remove:
            self.path.unlink(missing_ok=True)
            self.path.with_name(self.path.name + ".old").unlink(missing_ok=True)
        self._unlock()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # dropped without close(): do not hold the lock until the process ends
        try:
            self.close()
        except Exception:
            pass


def _holder(fd: int) -> str:
    """' (pid 123 on host)' from a lock file written by :meth:`Journal._lock`, or '' when unreadable."""
    try:
        pid, _, host = os.pread(fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        return ""
    if not pid.isdigit():
        return ""
    return f" (pid {pid}{' on ' + host if host and host != socket.gethostname() else ''})"


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
