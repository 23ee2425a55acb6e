"""`benthos review`: a page where an expert confirms or corrects predictions, for the next training.

One self-contained HTML file (thumbnails embedded, no server, readable offline). For each image
or point the expert clicks "right" or types the right taxon (known taxa are offered; a new name
is allowed: a taxon the model does not know yet). Answers are stored in the browser's IndexedDB
as they are given, one record per item, so a reload, a second tab or a closed window loses
nothing (a page reloaded within milliseconds of an answer asks first), and the page's Download
button saves them as a CSV that ``benthos train`` reads as it is:
- image predictions: a manifest ``path,label,group`` (absolute paths);
- point predictions: a CoralNet CSV ``Name,Row,Column,Label`` (``Name`` an absolute path);
each with ``predicted,score,status`` columns beside (status ``right`` or ``corrected``). Only
the items answered are written. Least sure first by default: the answers that teach the model
most come first.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError
from benthos.report.html import CSS, esc, thumbnail
from benthos.runs.atomic import atomic_write_text

ORDERS = ("least-sure", "file")

REVIEW_CSS = """
.bar{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #dde3e7;padding:10px 28px;display:flex;
gap:16px;align-items:center;flex-wrap:wrap;font-size:14px}
.bar button{font-size:14px;padding:6px 12px;border-radius:4px;border:1px solid #0b3c5d;background:#0b3c5d;color:#fff;cursor:pointer}
.bar button.plain{background:#fff;color:#0b3c5d}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{margin:0;width:184px;font-size:12px;background:#fff;border:3px solid #dde3e7;border-radius:6px;padding:6px}
.card img{width:172px;height:172px;object-fit:cover;display:block}
.card.right{border-color:#2e8b57} .card.corrected{border-color:#e07b00}
.card .act{display:flex;gap:4px;margin-top:4px} .card .act input{width:100%;min-width:0;font-size:12px}
.card button.ok{font-size:12px;cursor:pointer;white-space:nowrap}
.card .name{overflow-wrap:anywhere;color:#5b6b75}
"""

SCRIPT = r"""
(function () {
  // Answers are kept per item (its path, and row and column for a point), not per card position,
  // under the id of the predictions file: a page written again (new predictions, another --limit or
  // order) shows the answers already given to the items it holds; others stay stored, unshown.
  // They live in the browser's IndexedDB, one record per item, each written in its own transaction:
  // a reload, a second tab or a page opened before another's last answer was stored never writes an
  // older set of answers over newer ones (localStorage, used before, could lose the last answer on a
  // quick reload; what it holds for this file is moved over once).
  const meta = JSON.parse(document.getElementById("review-meta").textContent);
  const LEGACY = "benthos-review:" + meta.id;
  const cards = Array.from(document.querySelectorAll(".card"));
  const byKey = new Map();  // an item listed twice is one answer
  cards.forEach(c => { if (!byKey.has(c.dataset.key)) byKey.set(c.dataset.key, c); });
  const keys = Array.from(byKey.keys());
  let answers = {}, pending = [], failed = "";
  function status(card, a) { return a.label === card.dataset.pred ? "right" : "corrected"; }

  function request(r) { return new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); }); }
  const db = new Promise((ok, no) => {
    if (!window.indexedDB) { no(new Error("this browser keeps no IndexedDB")); return; }
    const r = indexedDB.open("benthos-review", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("answers", {keyPath: ["page", "key"]}).createIndex("page", "page");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => no(r.error);
    r.onblocked = () => no(new Error("the answer store is blocked by another tab"));
  });
  function tx(mode, work) {  // resolves when the transaction is committed
    return db.then(d => new Promise((ok, no) => {
      const t = d.transaction("answers", mode), out = work(t.objectStore("answers"));
      t.oncomplete = () => ok(out); t.onerror = () => no(t.error); t.onabort = () => no(t.error);
    }));
  }
  function load() {
    return tx("readonly", s => { const got = []; request(s.index("page").getAll(meta.id)).then(v => got.push(...v)); return got; })
      .then(rows => { const out = {}; rows.forEach(r => { out[r.key] = {label: r.label}; }); return out; });
  }
  function migrate() {  // answers a page kept in localStorage, once
    let old = null;
    try { old = JSON.parse(localStorage.getItem(LEGACY) || "null"); } catch (e) { old = null; }
    if (!old || typeof old !== "object") return Promise.resolve();
    return tx("readwrite", s => Object.keys(old).forEach(k => {
      if (old[k] && old[k].label) request(s.get([meta.id, k])).then(v => { if (!v) s.put({page: meta.id, key: k, label: old[k].label}); });
    })).then(() => { try { localStorage.removeItem(LEGACY); } catch (e) {} });
  }
  let inflight = 0;  // answers not yet stored
  function track(p, write) {
    if (write) inflight += 1;
    const q = p.catch(e => { failed = "answers could not be stored in this browser (" + e + "): download them now"; count(); })
      .then(() => { if (write) inflight -= 1; });
    pending.push(q);
    return q;
  }
  // closing or reloading in the few milliseconds before an answer is stored asks first
  window.addEventListener("beforeunload", e => { if (inflight) { e.preventDefault(); e.returnValue = ""; } });

  function paint(card) {
    const a = answers[card.dataset.key];
    card.classList.toggle("right", !!a && status(card, a) === "right");
    card.classList.toggle("corrected", !!a && status(card, a) === "corrected");
    const input = card.querySelector("input");
    if (document.activeElement !== input) input.value = a && status(card, a) === "corrected" ? a.label : "";
  }
  function count() {
    let n = 0, right = 0;
    keys.forEach(k => {
      const a = answers[k];
      if (!a) return;
      n += 1;
      if (status(byKey.get(k), a) === "right") right += 1;
    });
    const other = Object.keys(answers).length - n;
    document.getElementById("progress").textContent = failed ||
      n + " of " + keys.length + " answered (" + right + " right, " + (n - right) + " corrected)"
      + (other ? "; " + other + " earlier answers are about items not on this page (kept, not downloaded)" : "");
  }
  function answer(card, label) {
    label = (label || "").trim();
    const k = card.dataset.key;
    if (!label) delete answers[k];
    else answers[k] = {label: label};
    cards.filter(c => c.dataset.key === k).forEach(paint); count();
    return track(tx("readwrite", s => label ? s.put({page: meta.id, key: k, label: label}) : s.delete([meta.id, k])), true);
  }
  function refresh() {  // what other tabs stored meanwhile; this page's own answers are stored already
    return track(Promise.all(pending).then(migrate).then(load).then(a => { answers = a; cards.forEach(paint); count(); }));
  }
  cards.forEach(card => {
    card.querySelector("button.ok").addEventListener("click", () => answer(card, card.dataset.pred));
    const input = card.querySelector("input");
    input.addEventListener("change", () => answer(card, input.value));
  });
  function field(v) { v = String(v); return /[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
  function csv() {
    const lines = [meta.columns.map(field).join(",")];
    const done = new Set();
    cards.forEach(card => {
      const a = answers[card.dataset.key];
      if (!a || done.has(card.dataset.key)) return;
      done.add(card.dataset.key);
      const item = meta.items[card.dataset.i];
      const row = meta.kind === "points"
        ? [item.path, item.row, item.column, a.label, item.predicted, item.score, status(card, a)]
        : [item.path, a.label, item.group, item.predicted, item.score, status(card, a)];
      lines.push(row.map(field).join(","));
    });
    return lines.join("\n") + "\n";
  }
  document.getElementById("download").addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([csv()], {type: "text/csv"}));
    const a = document.createElement("a");
    a.href = url; a.download = meta.download; document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  document.getElementById("clear").addEventListener("click", () => {
    if (!confirm("Forget every answer given for this predictions file (on this page or not)?")) return;
    answers = {}; cards.forEach(paint); count();
    track(tx("readwrite", s => request(s.index("page").getAllKeys(meta.id)).then(ks => ks.forEach(k => s.delete(k)))), true);
  });
  count();
  const ready = track(migrate().then(load).then(a => {
    Object.keys(answers).forEach(k => { a[k] = answers[k]; });  // anything answered while it loaded
    answers = a; cards.forEach(paint); count();
  }));
  window.addEventListener("focus", refresh);
  window.addEventListener("pageshow", e => { if (e.persisted) refresh(); });
  window.benthosReview = {
    csv: csv, answers: () => answers, answer: (i, label) => answer(cards[i], label), ready: ready, refresh: refresh,
    settled: () => Promise.all(pending),  // every answer given so far is stored
  };
})();
"""


def _resolve(image: str, root: Path) -> Path:
    """An image path as written by ``benthos predict``: as given (from where it ran), else beside the CSV."""
    p = Path(image)
    if p.is_absolute() or p.exists():
        return p.resolve()
    return (root / p).resolve() if (root / p).exists() else p.resolve()


def _thumbs(paths: list[Path], points: list[tuple[float, float] | None], patch_size: int) -> list[str]:
    """Thumbnails (data URIs), each photo decoded once; a point's patch with a cross at the point."""
    from PIL import Image, ImageDraw

    from benthos.data.images import crop_padded, load_image
    from benthos.data.regions import point_patch

    missing = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='160' height='160'>"
               "<rect width='160' height='160' fill='%23eee'/><text x='80' y='84' font-size='13' text-anchor='middle' "
               "fill='%23888'>cannot read</text></svg>")
    out = [missing] * len(paths)
    order = sorted(range(len(paths)), key=lambda i: str(paths[i]))
    last: tuple[Path, Image.Image | None] | None = None
    for i in order:
        p, pt = paths[i], points[i]
        if last is None or last[0] != p:
            try:  # whole images only need a thumbnail: large JPEGs decode at reduced scale
                last = (p, load_image(p, None if any(q is not None for q in points) else 176))
            except DataError:
                last = (p, None)
        im = last[1]
        if im is None:
            continue
        if pt is None:
            out[i] = thumbnail(im, size=176)
            continue
        patch = crop_padded(im, point_patch(p, "", "", pt[0], pt[1], patch_size).box)  # as training cuts it
        patch.thumbnail((176, 176))
        d, (w, h) = ImageDraw.Draw(patch), patch.size
        for colour, width in (("black", 3), ("yellow", 1)):  # the point, visible on light and dark ground
            d.line((w / 2 - 8, h / 2, w / 2 + 8, h / 2), fill=colour, width=width)
            d.line((w / 2, h / 2 - 8, w / 2, h / 2 + 8), fill=colour, width=width)
        out[i] = thumbnail(patch, size=176)
    return out


def write_review(predictions: str | os.PathLike, out: str | os.PathLike, limit: int | None = 400,
                 order: str = "least-sure", patch_size: int = 224) -> dict[str, Any]:
    """Write the review page for a ``benthos predict`` CSV (images or points); see the module doc.

    ``limit``: at most this many items (None: all); ``order``: "least-sure" (lowest score first)
    or "file" (as in the CSV). ``patch_size``: the side of a point's patch shown (the run's).
    Returns {"out", "items", "of", "kind", "shown" (what the page holds, in words), "download" (the
    answers' file name)}.
    """
    from benthos.ecology.predictions import read_predictions

    if order not in ORDERS:
        raise DataError(f"order '{order}': use one of {', '.join(ORDERS)}")
    if limit is not None and limit < 1:
        raise DataError(f"limit {limit}: give a number of items >= 1 (or no limit)")
    preds = read_predictions(predictions)
    if preds.kind == "detection":
        raise DataError(f"{predictions}: these are detections (boxes); `benthos review` takes the image or point "
                        "predictions of `benthos predict` (a review page for boxes is not built yet)")
    idx = np.argsort(preds.scores, kind="stable") if order == "least-sure" else np.arange(len(preds))
    idx = idx[:limit] if limit else idx
    paths = [_resolve(preds.images[i], preds.root) for i in idx]
    points = [tuple(preds.points[i]) if preds.points is not None else None for i in idx]
    thumbs = _thumbs(paths, points, patch_size)
    items, cards = [], []
    for k, (i, path, pt, uri) in enumerate(zip(idx, paths, points, thumbs)):
        i = int(i)
        top = np.argsort(-preds.probs[i])[:2] if preds.probs is not None else []
        alt = [f"{preds.classes[j]} {preds.probs[i][j]:.2f}" for j in top if preds.classes[j] != preds.labels[i]][:1]
        item = {"path": str(path), "predicted": preds.labels[i], "score": round(float(preds.scores[i]), 4)}
        where, key = path.name, str(path)
        if pt is not None:
            item.update(row=pt[0], column=pt[1])
            where += f" (row {pt[0]:g}, column {pt[1]:g})"
            key += f"|{pt[0]:.10g}|{pt[1]:.10g}"  # :g alone rounds to 6 digits: two points could share a key
        else:
            item["group"] = ""
        items.append(item)
        cards.append(
            f'<figure class="card" data-i="{k}" data-key="{esc(key)}" data-pred="{esc(preds.labels[i])}">'
            f'<img src="{uri}" alt="{esc(where)}">'
            f'<figcaption><div class="name">{esc(where)}</div>predicted <b>{esc(preds.labels[i])}</b> '
            f'{preds.scores[i]:.2f}' + (f' &middot; then {esc(alt[0])}' if alt else "") + "</figcaption>"
            '<div class="act"><button class="ok" type="button" title="the predicted taxon is right">&#10003; right</button>'
            '<input list="taxa" placeholder="or the right taxon" aria-label="the right taxon"></div></figure>')
    src = Path(predictions)
    digest = hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:16]  # answers are kept per predictions file
    kind = "points" if preds.kind == "points" else "images"
    columns = (["Name", "Row", "Column", "Label"] if kind == "points" else ["path", "label", "group"]) \
        + ["predicted", "score", "status"]
    meta = {"id": digest, "kind": kind, "columns": columns, "items": items, "download": f"{src.stem}_reviewed.csv"}
    taxa = "".join(f'<option value="{esc(c)}">' for c in preds.classes)
    shown = f"{len(items)} of {len(preds)} {'points' if kind == 'points' else 'images'}, " + \
        ("least sure first" if order == "least-sure" else "in file order")
    how = ("For each one, click <b>&#10003; right</b> if the predicted taxon is right, or type or pick the right "
           "taxon (a name the model does not know is fine). Answers are kept in this browser as you go. "
           "<b>Download</b> saves them as a CSV that <code>benthos train</code> reads"
           + (" (CoralNet format: Name, Row, Column, Label)." if kind == "points" else " (path, label, group).")
           + " Only answered items are written.")
    html = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Review: "
            f"{esc(src.name)}</title><style>{CSS}{REVIEW_CSS}</style></head><body>"
            f"<header><h1>Review predictions</h1><p>{esc(src)}: {esc(shown)}</p></header>"
            '<div class="bar"><span id="progress"></span><button id="download" type="button">Download answers (CSV)</button>'
            '<button id="clear" class="plain" type="button">Clear answers</button></div>'
            f'<main><section><p class="note">{how}</p><datalist id="taxa">{taxa}</datalist>'
            f'<div class="cards">{"".join(cards)}</div></section></main>'
            f'<script type="application/json" id="review-meta">{_json_for_html(meta)}</script>'
            f"<script>{SCRIPT}</script></body></html>\n")
    out = Path(out)
    atomic_write_text(out, html)
    return {"out": out, "items": len(items), "of": len(preds), "kind": kind, "shown": shown, "download": meta["download"]}


def _json_for_html(obj: Any) -> str:
    """JSON safe inside a <script> element (no closing tag or comment opener can appear)."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
