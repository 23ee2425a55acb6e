"""Small CSV helpers shared by the ecology modules: row numbers for errors, atomic writes."""
from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benthos.errors import DataError
from benthos.runs.atomic import atomic_write_text


def read_csv(path: str | os.PathLike, required: Sequence[str] = (), what: str = "CSV",
             check_header: Callable[[list[str]], None] | None = None) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a CSV into (header, [(line number, row dict)]); line 1 is the header, checked before the rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path of the {what}.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); save the {what} as UTF-8 CSV.") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: the file is empty; expected a {what} with a header line.") from None
    if check_header is not None:
        check_header(header)
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: line 1: missing column(s) {', '.join(missing)} in header {','.join(header)}; expected a {what} with columns {','.join(required)}.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path}: line 1: duplicate column(s) {', '.join(dupes)}.")
    rows = []
    for line, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise DataError(f"{path}: line {line}: {len(values)} fields but the header has {len(header)}; fix or remove the row.")
        rows.append((line, {h: v.strip() for h, v in zip(header, values)}))
    return header, rows


def parse_float(value: str, path: Any, line: int, column: str) -> float:
    """A finite float from a CSV cell, or a DataError naming the row."""
    try:
        x = float(value)
    except ValueError:
        raise DataError(f"{path}: line {line}: column '{column}' is '{value}', not a number.") from None
    if not math.isfinite(x):
        raise DataError(f"{path}: line {line}: column '{column}' is '{value}', not a finite number.")
    return x


def to_csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in columns])
    return buf.getvalue()


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Write dict rows as CSV atomically."""
    return atomic_write_text(path, to_csv_text(rows, columns))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # enough digits to round-trip figures, not 17 noisy ones
        return f"{value:.6g}"
    return str(value)


def finite_or_none(x: Any) -> float | None:
    """JSON-safe float: NaN/inf become None (callers give the reason)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def text_table(rows: Sequence[Sequence[Any]], header: Sequence[str], right: Sequence[bool] | None = None) -> str:
    """Rows as aligned plain text for a terminal: text left-aligned, numbers right-aligned."""
    cells = [[str(h) for h in header]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]
    if right is None:
        right = [j > 0 for j in range(len(header))]
    lines = []
    for r in cells:
        parts = [v.rjust(w) if rt else v.ljust(w) for v, w, rt in zip(r, widths, right)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
