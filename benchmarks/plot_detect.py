"""Accuracy-vs-cost figure of the detector benchmark, drawn from its table of measured rows.

    python benchmarks/plot_detect.py benchmarks/results/detect_grouped.csv --out docs/img/detect_accuracy_cost.png

The CSV holds one row per measured run, copied from what ``bench_detect.py`` printed (and
quoted in docs/bench_detect.md): the runs' folders are not kept, so the table is the record
the figure is redrawn from. Columns: label, detector, date, AP50_cls, AP_cls, mAP, params_M,
GMACs, s_per_frame, train_min, and s_per_frame_max where latency was measured more than once
(drawn as a range). Points are numbered; the legend names them.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

FAMILY_COLOURS = {"fasterrcnn": "tab:blue", "yolo": "tab:red", "fcos": "tab:green", "retinanet": "tab:purple",
                  "ssd": "tab:orange"}


def read_rows(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    numeric = ("AP50_cls", "AP_cls", "mAP", "params_M", "GMACs", "s_per_frame", "train_min", "s_per_frame_max")
    for line, r in enumerate(rows, start=2):
        for key in numeric:
            value = (r.get(key) or "").strip()
            try:
                r[key] = float(value) if value else None
            except ValueError:
                raise SystemExit(f"{path}, line {line}: {key} is {value!r}, not a number") from None
        if r["AP50_cls"] is None or r["s_per_frame"] is None:
            raise SystemExit(f"{path}, line {line}: AP50_cls and s_per_frame are required")
    return rows


def plot(rows: list[dict], path: str | Path, cls: str = "brittle_star", target: float | None = 0.50,
         budget_s: float | None = 1.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, key) = plt.subplots(1, 2, figsize=(10.5, 5), dpi=120, gridspec_kw={"width_ratios": [1.35, 1]})
    xmax = max(1.1, max(r["s_per_frame_max"] or r["s_per_frame"] for r in rows) * 1.15)
    if budget_s:
        ax.axvline(budget_s, color="0.5", ls="--", lw=0.8)
        ax.annotate(f"{budget_s:g} s budget", (budget_s, 0.01), xytext=(-4, 0), textcoords="offset points",
                    ha="right", fontsize=7, color="0.4")
    if target:
        ax.axhline(target, color="tab:red", ls=":", lw=0.8)
        ax.annotate(f"target AP50 {target:g}", (0.01, target), xytext=(0, 3), textcoords="offset points",
                    fontsize=7, color="tab:red")
    lines = [f"    run: AP50 {cls}, training time", ""]
    for i, r in enumerate(rows, start=1):
        family = next((f for f in FAMILY_COLOURS if r["detector"].startswith(f)), None)
        colour = FAMILY_COLOURS.get(family, "0.3")
        x, y = r["s_per_frame"], r["AP50_cls"]
        if r.get("s_per_frame_max"):
            ax.plot([x, r["s_per_frame_max"]], [y, y], color=colour, lw=1.5, alpha=0.6)
        ax.scatter(x, y, s=20 + 12 * (r["GMACs"] or 0), color=colour, alpha=0.55, edgecolors="none")
        ax.annotate(str(i), (x, y), ha="center", va="center", fontsize=7)
        lines.append(f"{i:>2}  {r['label']}: {y:.3f}, {r['train_min']:.0f} min")
    ax.set_xlabel("CPU seconds per 640x640 frame (2 threads, batch 1)")
    ax.set_ylabel(f"AP50, {cls} (held-out video hours)")
    ax.set_title("Accuracy vs cost (marker area ~ GMACs per frame)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, max(max(r["AP50_cls"] for r in rows) * 1.1, (target or 0) * 1.08))
    key.axis("off")
    key.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=7.5, family="monospace",
             transform=key.transAxes)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, alpha=0.6, label=f) for f, c in FAMILY_COLOURS.items()]
    key.legend(handles=handles, loc="lower left", fontsize=7, frameon=False, ncol=3,
               title="family", title_fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", help="CSV of measured rows (benchmarks/results/detect_grouped.csv)")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--class", dest="cls", default="brittle_star")
    ap.add_argument("--target", type=float, default=0.50, help="AP50 target line (0: none)")
    args = ap.parse_args()
    rows = read_rows(args.table)
    plot(rows, args.out, args.cls, target=args.target or None)
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
