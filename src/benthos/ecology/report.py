"""Biodiversity sections for the HTML report (built with ``benthos.report.html``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benthos.report import html as H


def _curve_figure(curves: dict[str, Any], max_samples: int = 8) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for idx, (name, c) in enumerate(list(curves.items())[:max_samples]):
        color = f"C{idx}"
        for ax, key, title in zip(axes, ("q0", "q1", "q2"), ("q = 0 (richness)", "q = 1 (exp Shannon)", "q = 2 (inverse Simpson)")):
            m, v = c.m, c.values[key]
            inter, extra = m <= c.n, m >= c.n
            ax.plot(m[inter], v[inter], "-", color=color, label=name if key == "q0" else None)
            ax.plot(m[extra], v[extra], "--", color=color)
            ax.plot([c.n], [v[m == c.n][0]], "o", color=color)
            if key in c.lower:
                ax.fill_between(m, c.lower[key], c.upper[key], color=color, alpha=0.18, linewidth=0)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("individuals")
    axes[0].set_ylabel("diversity (effective number of taxa)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return H.figure_png(fig, alt="rarefaction and extrapolation curves")


def _accumulation_figure(acc: dict[str, list[float]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    k, s = np.array(acc["samples"]), np.array(acc["richness"])
    ax.plot(k, s, "-", label="expected (random order)")
    if acc.get("sd"):
        sd = np.array(acc["sd"])
        ax.fill_between(k, s - 1.96 * sd, s + 1.96 * sd, alpha=0.2, linewidth=0)
    ax.plot(k, acc["collector"], ":", label="in file order")
    ax.set_xlabel("samples")
    ax.set_ylabel("taxa")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return H.figure_png(fig, alt="species accumulation curve")


def biodiversity_sections(counts: Any = None, cover: list[dict[str, Any]] | None = None, diversity: dict[str, dict[str, Any]] | None = None,
                          curves: dict[str, Any] | None = None, accumulation: dict[str, list[float]] | None = None,
                          corrections: list[Any] | None = None, unknown: tuple[Any, Any] | None = None,
                          points: bool = False) -> list[str]:
    """HTML sections: counts and cover per group, curves with intervals, naive vs corrected, unknown-taxa gallery.

    counts: CountTable; cover: rows from counts.percent_cover; diversity: diversity_by_sample output;
    curves: sample -> rarefaction.Curve; corrections: list of correction.Correction; unknown: (Predictions, UnknownResult).
    Every argument is optional; absent ones give no section.
    ``points``: the rows are classified points (cover), not individuals: the tables say so and
    leave out the estimators that count individuals (Chao1, ACE, coverage, rarefaction).
    """
    out: list[str] = []
    if counts is not None:
        rows = counts.wide_rows()
        body = H.table(rows[:200], ["sample", *counts.taxa, "total"])
        if len(rows) > 200:
            body += f'<p class="note">First 200 of {len(rows)} samples.</p>'
        out.append(H.section("Points per taxon" if points else "Counts per taxon", body, anchor="counts"))
    if cover:
        agg = [r for r in cover if r["level"] != "image"]
        body = H.table(agg, ["level", "sample", "taxon", "points", "cover", "cover_mean", "cover_sd", "n_images"], digits=2)
        body += '<p class="note">cover: points of the taxon / all points (%); cover_mean and cover_sd: over images.</p>'
        out.append(H.section("Percent cover", body, anchor="cover"))
    if diversity:
        keys = ["n", "richness", "shannon", "simpson", "hill_q1", "hill_q2", "pielou"]
        if not points:
            keys += ["goods_coverage", "chao1", "ace"]
        rows = []
        for name, d in diversity.items():
            r = {"sample": name, **{k: d.get(k) if d.get(k) is not None else "n/a" for k in keys}}
            if not points:
                lo, hi = d["chao1_ci"]
                r["chao1 95% CI"] = f"{lo:.1f} - {hi:.1f}"
                for m, v in d.get("rarefied", {}).items():
                    r[f"rarefied to {m}"] = v if v is not None else "n/a"
            rows.append(r)
        notes = "".join(f"<li>{H.esc(name)}: {H.esc(k)}: {H.esc(why)}</li>" for name, d in diversity.items()
                        for k, why in d.get("undefined", {}).items() if not points or k in keys)
        body = H.table(rows, None, digits=3) + (f'<ul class="note">{notes}</ul>' if notes else "")
        if points:
            body += ('<p class="note">These are classified points, not individuals: n is the number of points, '
                     "and the indices describe the shares of cover. Richness estimators (Chao1, ACE), sample "
                     "coverage and rarefaction assume counted individuals and are left out.</p>")
        out.append(H.section("Diversity and richness", body, anchor="diversity"))
    if curves:
        rows = []
        for name, c in curves.items():
            for k, a in c.asymptote.items():
                rows.append({"sample": name, "order": k, "observed": a["observed"],
                             "estimated": a["estimate"] if a["estimate"] is not None else "n/a",
                             "95% lower": a["lower"] if a["lower"] is not None else "n/a",
                             "95% upper": a["upper"] if a["upper"] is not None else "n/a"})
        body = _curve_figure(curves) + H.table(rows, digits=2) + (
            '<p class="note">Chao et al. (2014) rarefaction (solid), extrapolation to twice the sample (dashed) and '
            f"bootstrap 95% intervals (shaded, {next(iter(curves.values())).nboot} replicates), as in iNEXT.</p>")
        if accumulation and len(accumulation["samples"]) > 1:
            body += _accumulation_figure(accumulation)
        out.append(H.section("Rarefaction and extrapolation", body, anchor="rarefaction"))
    if corrections:
        rows, drows = [], []
        for c in corrections:
            rows.extend(c.rows())
            for fig in ("richness", "hill_q1", "hill_q2") + (() if points else ("chao1",)):
                r: dict[str, Any] = {"sample": c.sample, "figure": fig}
                for method, vals in c.diversity.items():
                    v = vals[fig]
                    r[method] = v["value"]
                    if "lower" in v:
                        r[f"{method} 95%"] = f"{v['lower']:.2f} - {v['upper']:.2f}"
                drows.append(r)
        body = (H.table(drows, digits=2) + H.table(rows, digits=1) +
                '<p class="note">naive: counts of predicted labels. acc: adjusted classify-and-count with the held-out '
                "confusion matrix. em: Saerens et al. (2002) prior-shift EM. Intervals: bootstrap over predictions and "
                "the held-out confusion matrix.</p>")
        out.append(H.section("Naive vs misclassification-corrected", body, anchor="correction"))
    if unknown is not None:
        from benthos.ecology.unknown import gallery_html

        preds, res = unknown
        s = res.summary()
        body = H.kpis({"flagged": s["n_flagged"], "candidate taxa": s["candidate_taxa"],
                       "richness incl. candidates (lower bound)": s["richness_lower_bound_with_candidates"]})
        body += gallery_html(preds, res)
        out.append(H.section("Unknown taxa: review queue", body, anchor="unknown"))
    return out


def write_report(path: str | os.PathLike, sections: list[str], title: str = "Biodiversity report", subtitle: str = "") -> Path:
    """Standalone HTML page of the given sections."""
    return H.write_page(path, title, sections, subtitle=subtitle)
