"""The files a dataset names: read as UTF-8 text, and kept inside their data folder.

An annotation file or manifest names images by path. A name that climbs out of the data folder
(``../../etc/passwd``) or an absolute path elsewhere would have benthos read files the user never
meant to give it (and ``data convert`` list them in its outputs), so such paths are refused (the
record is skipped and named) unless the user allows them: the readers' ``allow_outside=True``, which
``--allow-outside-paths`` on the command line passes.

"Inside" is decided on the path as written, joined to its folder and with ``..`` removed, or on the
path with symbolic links followed: a link inside the data folder to a photo archive elsewhere is the
user's own doing and stays allowed, and so does a data folder reached through a link.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from benthos.errors import DataError

def outside_allowed(allow_outside: bool = False) -> bool:
    return bool(allow_outside)


def _lexical(path: str | os.PathLike) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def _resolved(path: str | os.PathLike) -> Path | None:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        return None


def _under(p: Path | None, root: Path | None) -> bool:
    return p is not None and root is not None and (p == root or root in p.parents)


def is_inside(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """Whether ``path`` lies in one of ``roots``, as written (``..`` removed) or with links followed."""
    roots = list(roots)
    lex, real = _lexical(path), _resolved(path)
    return any(_under(lex, _lexical(r)) or _under(real, _resolved(r)) for r in roots)


def outside_problem(path: str | os.PathLike, roots: Iterable[str | os.PathLike], allow_outside: bool = False,
                    source: str | os.PathLike | None = None) -> str | None:
    """None when ``path`` may be read; else the problem, for a DataIssue naming the record."""
    roots = list(roots)
    if outside_allowed(allow_outside) or is_inside(path, roots):
        return None
    where = " or ".join(str(r) for r in dict.fromkeys(str(_lexical(r)) for r in roots))
    named = f" named in {Path(source).name}" if source else ""
    return (f"{path}{named} is outside the data folder ({where}); move it inside, or pass "
            "--allow-outside-paths (allow_outside=True) if you trust this file")


def is_file(path: str | os.PathLike) -> bool:
    """``Path.is_file`` that answers False, not an exception, for names no file can have
    (a NUL byte, a name too long)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The file as UTF-8 text (a leading BOM, as Excel writes, dropped), else a DataError naming the line.

    Not guessed as Latin-1 or another code page: a wrong guess changes file names and labels
    silently (``é`` read as ``Ã©``), and file names on disk would not match them anyway.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a {what}.") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or exc}).") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}; the {what} was probably saved as "
                        "Latin-1/Windows-1252, e.g. by Excel); save it as 'CSV UTF-8' (Excel: Save As > CSV UTF-8) "
                        "and try again.") from None
