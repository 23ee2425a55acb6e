"""Atomic file writes: a crash at any moment leaves either the old file or the new one.

A path that names a stream or a device (``/dev/stdout``, a FIFO, ``/proc/self/fd/1``) is written
in place: renaming a temporary file over it would replace the link or device with a regular file
and the reader at the other end would get nothing. A symbolic link to a regular file keeps being
a link: its target is replaced atomically.
"""
from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path``.

    The temporary file lives in the same folder so the rename is atomic on POSIX. A stream or
    device (:func:`is_stream`) is written in place by ``write(path)``; a symbolic link's target is
    replaced, the link kept.
    """
    path = Path(path)
    if is_stream(path):
        write(str(path))
        return path
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600 files; give the result the usual permissions (umask applied)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def is_stream(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a stream or device rather than a file to replace: an existing FIFO,
    socket or device, or a process's file descriptor (``/dev/stdout``, ``/dev/fd/N``, anything
    under /proc) or a link leading through one (``/dev/stdout`` -> ``/proc/self/fd/1`` -> wherever
    the shell sent the output, which may be a regular file)."""
    p = Path(os.path.abspath(path))
    for _ in range(40):  # the kernel's own limit on links followed
        if p.parts[1:2] == ("proc",) or p.parts[1:3] in (("dev", "fd"), ("dev", "stdout"), ("dev", "stderr")):
            return True
        if not p.is_symlink():
            break
        p = Path(os.path.abspath(p.parent / os.readlink(p)))
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def own_fd(path: str | os.PathLike) -> int | None:
    """The descriptor of this process that ``path`` names (``/dev/stdout`` -> 1, ``/dev/fd/N``,
    ``/proc/self/fd/N``), else None. Writing through it shares the shell's file offset, so text
    sent to ``/dev/stdout`` lands in order with what the program prints, even when the shell
    redirected stdout to a file."""
    p = os.path.abspath(path)
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if p in named:
        return named[p]
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        if p.startswith(prefix) and p[len(prefix):].isdigit():
            return int(p[len(prefix):])
    return None


def _write_stream(path: str | os.PathLike, data: bytes) -> Path:
    import sys

    fd = own_fd(path)
    if fd is None:
        with open(path, "ab") as fh:  # a FIFO or device; append: never truncate what a redirect holds
            fh.write(data)
        return Path(path)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # what was printed before comes first
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    if is_stream(path):
        return _write_stream(path, text.encode("utf-8"))

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return atomic_write(path, write)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    if is_stream(path):
        return _write_stream(path, data)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def json_text(obj: Any, indent: int | None = 2) -> str:
    """``obj`` as strict JSON text: NaN and infinities as null, numpy values and paths as plain JSON."""
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False, default=_json_default)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON null), through dicts, lists, tuples and numpy.

    Strict JSON readers (browsers, ``jq``, ``json.dumps(allow_nan=False)``) refuse NaN; metrics
    are undefined (NaN) when, e.g., a class has no boxes in the evaluated images.
    """
    if hasattr(value, "tolist"):
        value = value.tolist()  # numpy scalars and arrays
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _json_default(o: Any) -> Any:
    # numpy scalars/arrays and paths turn up in metrics and configs
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")
