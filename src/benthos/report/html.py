"""Small helpers to build one self-contained HTML page (no external assets, no JS needed)."""
from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benthos.runs.atomic import atomic_write_text

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2a33;background:#f6f8f9}
header{background:#0b3c5d;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:14px}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde3e7;border-radius:6px;padding:14px 20px;margin:18px 0}
h2{font-size:18px;margin:0 0 10px;color:#0b3c5d}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e3e8eb;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#eef3f6}
.note{color:#5b6b75;font-size:13px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
.gallery figure{margin:0;width:160px;font-size:12px}
.gallery img{width:160px;height:160px;object-fit:cover;border:1px solid #ccd}
.kpi{display:inline-block;margin:0 26px 8px 0} .kpi b{display:block;font-size:22px;color:#0b3c5d}
img.plot{max-width:100%}
details{margin:6px 0} summary{cursor:pointer;color:#0b3c5d;font-size:14px}
th[title]{text-decoration:underline dotted;cursor:help} th.l,td.l{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
.warn{background:#fff6e0;border-left:4px solid #e0a100;padding:6px 10px;font-size:13px}
table.kv th,table.kv td{text-align:left;vertical-align:top} table.kv th{background:none;font-weight:600;white-space:nowrap}
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "\u2014" if math.isnan(value) else f"{value:.{digits}f}"  # NaN: not defined (e.g. no boxes)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3,
          titles: Mapping[str, str] | None = None, left: Sequence[str] = ()) -> str:
    """An HTML table from a list of dicts (columns default to the first row's keys). ``titles``:
    a tooltip per column (e.g. its formula), shown when the pointer rests on the header; ``left``:
    text columns aligned left like the first one (numbers stay right-aligned)."""
    if not rows:
        return '<p class="note">(no rows)</p>'
    columns = list(columns or rows[0].keys())
    titles = titles or {}
    cls = {c: ' class="l"' if c in left else "" for c in columns}
    head = "".join(f'<th{cls[c]} title="{esc(titles[c])}">{esc(c)}</th>' if c in titles else f"<th{cls[c]}>{esc(c)}</th>"
                   for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{cls[c]}>{esc(fmt(r.get(c, ''), digits))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(items: Mapping[str, Any] | Iterable[tuple[str, Any]], digits: int = 3, missing: str = "\u2014") -> str:
    """A two-column key/value table (left-aligned, no header); None shows as ``missing``."""
    pairs = items.items() if isinstance(items, Mapping) else items
    body = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(missing if v is None else fmt(v, digits))}</td></tr>" for k, v in pairs
    )
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def kpis(items: Mapping[str, Any], digits: int = 3) -> str:
    return "".join(f'<span class="kpi"><b>{esc(fmt(v, digits))}</b>{esc(k)}</span>' for k, v in items.items())


def figure_png(fig: Any, alt: str = "plot", dpi: int = 110) -> str:
    """Embed a matplotlib figure as a base64 PNG and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def thumbnail(image: Any, size: int = 160, quality: int = 80) -> str:
    """Base64 JPEG data URI of a PIL image or image path, at most ``size`` px on a side."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            image = im.copy()
    else:
        image = image.convert("RGB")
        image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def gallery(items: Iterable[tuple[str, str]]) -> str:
    """items: (data URI, caption HTML-escaped here)."""
    figs = "".join(f'<figure><img src="{uri}" alt="{esc(cap)}"><figcaption>{esc(cap)}</figcaption></figure>' for uri, cap in items)
    return f'<div class="gallery">{figs}</div>'


def details(summary: str, body: str, open: bool = False) -> str:
    """A block the reader unfolds (long tables): ``summary`` is always shown."""
    return f"<details{' open' if open else ''}><summary>{esc(summary)}</summary>{body}</details>"


def section(title: str, body: str, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def page(title: str, sections: Sequence[str], subtitle: str = "") -> str:
    sub = f"<p>{esc(subtitle)}</p>" if subtitle else ""
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><header><h1>{esc(title)}</h1>{sub}</header><main>"
        + "".join(sections)
        + "</main></body></html>\n"
    )


def write_page(path: str | os.PathLike, title: str, sections: Sequence[str], subtitle: str = "") -> Path:
    return atomic_write_text(path, page(title, sections, subtitle))
