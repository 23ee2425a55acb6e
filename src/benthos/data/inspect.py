"""``benthos data inspect``: what is in a dataset and what is wrong with it."""
from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from pathlib import Path

from benthos.data import images as _images
from benthos.data.readers import load_classification
from benthos.errors import DataError


def inspect_dataset(path: str | os.PathLike, format: str | None = None,
                    images: str | os.PathLike | None = None, **opts) -> dict:
    """Read a dataset and report counts, imbalance, sizes, modes, unreadable files and duplicates.

    Each distinct file is read once: hashed (for duplicates) and decoded (to find
    truncation). Returns one JSON-ready dict.
    """
    data = load_classification(path, format, images, check_images=False, **opts)
    counts = data.counts()
    nonzero = [n for n in counts.values() if n]
    files = list(dict.fromkeys(s.path for s in data.samples))
    sizes: Counter = Counter()
    modes: Counter = Counter()
    by_hash: dict[str, list[str]] = defaultdict(list)
    unreadable: list[dict] = []
    for p in files:
        try:
            blob = p.read_bytes()
        except OSError as exc:
            unreadable.append({"path": str(p), "problem": str(exc)})
            continue
        by_hash[hashlib.sha256(blob).hexdigest()].append(str(p))
        try:
            with _images._open(p) as im:  # bomb limit, empty file, header
                sizes[im.size] += 1
                modes[im.mode] += 1
                im.load()
        except DataError as exc:
            unreadable.append({"path": str(p), "problem": str(exc).removeprefix(f"{p}: ")})
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            unreadable.append({"path": str(p), "problem": f"cannot decode ({exc})"})
    labels_of: dict[str, set] = defaultdict(set)
    for s in data.samples:
        labels_of[str(s.path)].add(s.label)
    duplicates = [{"files": ps, "labels": sorted(set().union(*(labels_of[q] for q in ps)))}
                  for ps in by_hash.values() if len(ps) > 1]
    widths = sorted(w for (w, _), n in sizes.items() for _ in range(n))
    heights = sorted(h for (_, h), n in sizes.items() for _ in range(n))
    return {
        "path": str(Path(path).resolve()),
        "source": data.source,
        "samples": len(data.samples),
        "files": len(files),
        "classes": counts,
        "imbalance_ratio": round(max(nonzero) / min(nonzero), 3) if nonzero else None,
        "image_sizes": {
            "min": [widths[0], heights[0]] if widths else None,
            "median": [widths[len(widths) // 2], heights[len(heights) // 2]] if widths else None,
            "max": [widths[-1], heights[-1]] if widths else None,
            "most_common": [{"size": list(s), "count": n} for s, n in sizes.most_common(5)],
        },
        "modes": dict(modes.most_common()),
        "unreadable": unreadable,
        "duplicates": duplicates,
        "issues": [i.to_dict() for i in data.issues],
    }


def format_report(r: dict) -> str:
    """The inspect result as a readable table."""
    out = [f"{r['path']}  ({r['source']}: {r['samples']} samples from {r['files']} files, "
           f"{len(r['classes'])} classes)", ""]
    total = max(r["samples"], 1)
    width = max([len("class")] + [len(c) for c in r["classes"]])
    out.append(f"{'class':<{width}}  {'count':>7}  {'share':>6}")
    for c, n in sorted(r["classes"].items(), key=lambda kv: -kv[1]):
        out.append(f"{c:<{width}}  {n:>7}  {100 * n / total:>5.1f}%")
    out.append("")
    out.append(f"imbalance ratio (largest / smallest class): {r['imbalance_ratio']}")
    sz = r["image_sizes"]
    if sz["min"]:
        fmt = lambda s: f"{s[0]}x{s[1]}"  # noqa: E731
        out.append(f"image sizes: min {fmt(sz['min'])}, median {fmt(sz['median'])}, max {fmt(sz['max'])}")
    out.append("modes: " + (", ".join(f"{m} {n}" for m, n in r["modes"].items()) or "-"))
    out.append(f"unreadable files: {len(r['unreadable'])}")
    out += [f"  {u['path']}: {u['problem']}" for u in r["unreadable"]]
    out.append(f"duplicate sets (same bytes): {len(r['duplicates'])}")
    for d in r["duplicates"][:20]:
        clash = "  <- different labels!" if len(d["labels"]) > 1 else ""
        out.append(f"  {' = '.join(d['files'])}{clash}")
    out.append(f"issues while reading: {len(r['issues'])}")
    for i in r["issues"][:30]:
        where = f"{i['path']}:{i['line']}" if i["line"] is not None else i["path"]
        out.append(f"  {where}: {i['problem']} ({i['action']})")
    if len(r["issues"]) > 30:
        out.append(f"  ... and {len(r['issues']) - 30} more (use --json for all)")
    return "\n".join(out)
