"""Atomic file writes: a crash at any moment leaves either the old file or the new one."""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path``.

    The temporary file lives in the same folder so the rename is atomic on POSIX.
    """
    path = Path(path)
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


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return atomic_write(path, write)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
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
