"""Biodiversity sections for the HTML report (built with ``benthos.report.html``).

Written for a biologist without a glossary: column headers in words (the symbol and formula in
a tooltip and a footnote), long tables folded away, every plot titled with its axes labelled,
the samples a plot leaves out named, and the counting threshold stated where counts are shown.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benthos.report import html as H

FOLD = 12          # tables longer than this are folded into <details>
MAX_CURVES = 8     # rarefaction curves drawn (the largest samples)
MAX_BARS = 40      # samples in the composition chart (the largest)
TOP_TAXA = 10      # taxa with their own colour in the composition chart; the rest are "other taxa"

# column header in words -> (key in diversity_by_sample's output, tooltip: symbol and formula)
DIVERSITY_COLUMNS = [
    ("taxa observed", "richness", "S: taxa with at least one individual in the sample"),
    ("Shannon index", "shannon", "H' = -sum p ln p (natural log); p: a taxon's share"),
    ("Gini-Simpson index", "simpson", "1 - sum p^2: chance that two individuals drawn at random are of different taxa"),
    ("effective taxa, Shannon", "hill_q1", "Hill number of order 1: exp(H'), the number of equally common taxa with the same Shannon index"),
    ("effective taxa, Simpson", "hill_q2", "Hill number of order 2: 1 / sum p^2, the number of equally common taxa with the same Simpson index"),
    ("evenness", "pielou", "Pielou's J' = H' / ln S: 1 when every taxon is equally common"),
]
DIGITS = {"hill_q1": 2, "hill_q2": 2, "chao1": 1, "ace": 1}  # effective and estimated numbers of taxa: fewer digits
INDIVIDUAL_COLUMNS = [
    ("sample coverage", "goods_coverage", "Good's coverage 1 - F1/n: share of the individuals that belong to taxa seen more than once (F1: taxa seen once)"),
    ("estimated taxa (Chao1)", "chao1", "bias-corrected Chao1 = S + F1(F1-1) / (2(F2+1)); F1, F2: taxa seen once, twice"),
    ("estimated taxa (ACE)", "ace", "abundance-based coverage estimator (Chao & Lee 1992), rare taxa: 10 individuals or fewer"),
]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


TEXT_COLUMNS = ("sample", "taxon", "level", "measure")


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None, digits: int = 3,
           titles: dict[str, str] | None = None) -> str:
    """A table that scrolls sideways when wide, its text columns aligned left."""
    return f'<div class="scroll">{H.table(rows, columns, digits, titles, left=TEXT_COLUMNS)}</div>'


def _fold(summary: str, body: str, n_rows: int) -> str:
    return H.details(summary, body) if n_rows > FOLD else body


def _names(names: list[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _footnote(cols: list[tuple[str, str, str]]) -> str:
    items = "".join(f"<li><b>{H.esc(name)}</b>: {H.esc(tip)}</li>" for name, _, tip in cols)
    return f'<ul class="note">{items}</ul>'


def composition_figure(counts: Any, points: bool = False) -> tuple[str, list[str]]:
    """Stacked bars: each sample's share of each taxon (the largest :data:`MAX_BARS` samples), and
    the names of the samples left out of the chart."""
    plt = _plt()
    totals = counts.counts.sum(1)
    order = np.argsort(-totals, kind="stable")
    shown = sorted(order[:MAX_BARS].tolist())
    left_out = [counts.samples[i] for i in order[MAX_BARS:]]
    taxon_totals = counts.counts.sum(0)
    top = [j for j in np.argsort(-taxon_totals, kind="stable")[:TOP_TAXA] if taxon_totals[j] > 0]
    rest = [j for j in range(len(counts.taxa)) if j not in top]
    share = counts.counts[shown] / np.maximum(totals[shown, None], 1) * 100.0
    height = max(2.6, 0.32 * len(shown) + 1.6)
    fig, ax = plt.subplots(figsize=(10, height))
    y = np.arange(len(shown))
    left = np.zeros(len(shown))
    cmap = plt.get_cmap("tab10")
    for k, j in enumerate(top):
        ax.barh(y, share[:, j], left=left, color=cmap(k % 10), label=counts.taxa[j], edgecolor="white", linewidth=0.4)
        left += share[:, j]
    if rest:
        other = share[:, rest].sum(1)
        ax.barh(y, other, left=left, color="#b8bfc4", label=f"other taxa ({len(rest)})", edgecolor="white", linewidth=0.4)
    ax.set_yticks(y, [counts.samples[i] for i in shown], fontsize=8)
    ax.set_ylim(len(shown) - 0.5, -0.5)  # first sample on top, no empty margin
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the sample's points (% cover)" if points else "share of the sample's individuals (%)")
    ax.set_ylabel("sample")
    ax.set_title("Composition: share of each taxon in each sample")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="taxon", title_fontsize=8)
    fig.tight_layout()
    return H.figure_png(fig, alt="composition of each sample (stacked bars)"), left_out


def _curve_figure(curves: dict[str, Any]) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    titles = ("Taxa (q = 0)", "Effective taxa, Shannon (q = 1)", "Effective taxa, Simpson (q = 2)")
    for idx, (name, c) in enumerate(curves.items()):
        color = f"C{idx}"
        for ax, key in zip(axes, ("q0", "q1", "q2")):
            m, v = c.m, c.values[key]
            inter, extra = m <= c.n, m >= c.n
            ax.plot(m[inter], v[inter], "-", color=color, label=name if key == "q0" else None)
            ax.plot(m[extra], v[extra], "--", color=color)
            ax.plot([c.n], [v[m == c.n][0]], "o", color=color)
            if key in c.lower:
                ax.fill_between(m, c.lower[key], c.upper[key], color=color, alpha=0.18, linewidth=0)
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("individuals sampled")
        ax.set_ylabel("number of taxa" if ax is axes[0] else "effective number of taxa")
    fig.suptitle("Rarefaction (solid line), observed sample (dot) and extrapolation (dashed) with 95% intervals", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=8, title="sample", title_fontsize=8, loc="upper left",
               bbox_to_anchor=(0.885, 0.9))
    return H.figure_png(fig, alt="rarefaction and extrapolation curves")


def _accumulation_figure(acc: dict[str, list[float]]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    k, s = np.array(acc["samples"]), np.array(acc["richness"])
    ax.plot(k, s, "-", label="mean over random orders of the samples")
    if acc.get("sd"):
        sd = np.array(acc["sd"])
        ax.fill_between(k, s - 1.96 * sd, s + 1.96 * sd, alpha=0.2, linewidth=0, label="95% range")
    ax.plot(k, acc["collector"], ":", label="in the order of the file")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Taxa found as samples are added")
    ax.set_xlabel("samples")
    ax.set_ylabel("taxa found")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return H.figure_png(fig, alt="species accumulation curve")


def _counted_section(counts: Any, counting: str | None, empty: list[str], points: bool) -> str:
    n = int(counts.counts.sum())
    unit = "points" if points else "individuals"
    kp = {f"{unit} counted": n, "samples": len(counts.samples) + len(empty),
          "taxa": int((counts.counts.sum(0) > 0).sum())}
    body = H.kpis(kp)
    if counting:
        body += f'<p><b>Counting threshold.</b> {H.esc(counting[0].upper() + counting[1:])}.</p>'
    elif points:
        body += ("<p>Every classified point is counted: these are shares of cover (percent of the points in a photo), "
                 "not individuals.</p>")
    else:
        body += "<p>Every prediction is counted (one label per image).</p>"
    if empty:
        body += (f'<p class="note">{len(empty)} samples have nothing counted and are left out of the tables and plots '
                 f"below: {H.esc(_names(empty))}.</p>")
    return H.section("What was counted", body, anchor="counted")


def _diversity_section(diversity: dict[str, dict[str, Any]], points: bool) -> str:
    cols = DIVERSITY_COLUMNS + ([] if points else INDIVIDUAL_COLUMNS)
    first = "points" if points else "individuals"
    rows = []
    depth_names: list[str] = []
    for name, d in diversity.items():
        r: dict[str, Any] = {"sample": name, first: d["n"]}
        for word, key, _ in cols:
            v = d.get(key)
            r[word] = "n/a" if v is None else v if isinstance(v, int) else f"{v:.{DIGITS.get(key, 3)}f}"
        if not points:
            lo, hi = d["chao1_ci"]
            r["Chao1 95% interval"] = f"{lo:.1f} - {hi:.1f}"
            for m, v in d.get("rarefied", {}).items():
                col = f"expected taxa in {m} individuals"
                if col not in depth_names:
                    depth_names.append(col)
                r[col] = f"{v:.1f}" if v is not None else "n/a"
        rows.append(r)
    titles = {word: tip for word, _, tip in cols}
    titles["Chao1 95% interval"] = "log-normal 95% interval of Chao1 (Chao 1987)"
    for col in depth_names:
        titles[col] = "Hurlbert's rarefaction: taxa expected among that many individuals drawn at random, to compare samples at equal effort"
    body = _fold(f"Diversity of {len(rows)} samples (unfold)", _table(rows, None, digits=3, titles=titles), len(rows))
    notes = [f"{name}: {why}" for name, d in diversity.items() for k, why in d.get("undefined", {}).items()]
    if notes:
        body += _fold(f"{len(notes)} values not defined (why)", '<ul class="note">' + "".join(
            f"<li>{H.esc(n)}</li>" for n in notes) + "</ul>", len(notes))
    foot = cols + ([("Chao1 95% interval", "", titles["Chao1 95% interval"])] if not points else []) + \
        [(c, "", titles[c]) for c in depth_names[:1]]
    body += _footnote(foot)
    if points:
        from benthos.ecology.diversity import POINTS_NOTE

        body += f'<p class="note">These are classified points, not individuals: {H.esc(POINTS_NOTE)}.</p>'
    return H.section("Diversity and richness", body, anchor="diversity")


def _curves_section(curves: dict[str, Any], accumulation: dict[str, list[float]] | None) -> str:
    order = sorted(curves, key=lambda s: -curves[s].n)
    drawn = {s: curves[s] for s in sorted(order[:MAX_CURVES], key=list(curves).index)}
    left_out = [s for s in curves if s not in drawn]
    body = _curve_figure(drawn)
    if left_out:
        body += (f'<p class="note">Curves are drawn for the {len(drawn)} largest of {len(curves)} samples, to keep them '
                 f"readable; not drawn: {H.esc(_names(left_out))}. Every sample is in the table below.</p>")
    rows = []
    names = {"q0": "taxa (q = 0)", "q1": "effective taxa, Shannon (q = 1)", "q2": "effective taxa, Simpson (q = 2)"}
    for name, c in curves.items():
        for k, a in c.asymptote.items():
            rows.append({"sample": name, "measure": names.get(k, k), "observed": a["observed"],
                         "estimated for the whole community": a["estimate"] if a["estimate"] is not None else "n/a",
                         "95% interval": (f"{a['lower']:.2f} - {a['upper']:.2f}" if a["lower"] is not None else "n/a")})
    titles = {"estimated for the whole community": "asymptotic estimate (Chao et al. 2014): Chao1 for q = 0, "
                                                   "Chao, Wang & Jost (2013) for q = 1, unbiased Simpson for q = 2"}
    body += _fold(f"Observed and estimated diversity of {len(curves)} samples (unfold)",
                  _table(rows, digits=2, titles=titles), len(rows))
    body += ('<p class="note">Chao et al. (2014) rarefaction below the sample size (solid line), extrapolation to twice '
             f"the sample (dashed) and bootstrap 95% intervals (shaded, {next(iter(curves.values())).nboot} replicates), "
             "as in iNEXT.</p>")
    if accumulation and len(accumulation["samples"]) > 1:
        body += _accumulation_figure(accumulation)
    return H.section("Rarefaction and extrapolation", body, anchor="rarefaction")


def _correction_section(corrections: Any, points: bool) -> str:
    if isinstance(corrections, tuple):
        corrections, warnings = corrections
    else:
        warnings = []
    unit = " (% cover)" if points else ""
    method_names = {"acc": "corrected with the confusion matrix (ACC)", "em": "corrected for a changed mix (EM)"}
    rows, drows = [], []
    for c in corrections:
        for r in c.rows():
            row: dict[str, Any] = {"sample": r["sample"], "taxon": r["taxon"], f"as predicted{unit}": r["naive"]}
            for m in c.corrected:
                ci = f" ({r[m + '_lower']:.1f} - {r[m + '_upper']:.1f})" if r.get(m + "_lower") is not None else ""
                row[f"{method_names.get(m, m)}{unit}"] = f"{r[m]:.1f}{ci}"
            if "annotated" in r:
                row[f"annotated{unit}"] = r["annotated"]
            rows.append(row)
        for fig, word in (("richness", "taxa"), ("hill_q1", "effective taxa, Shannon"), ("hill_q2", "effective taxa, Simpson")) + (
                () if points else (("chao1", "estimated taxa (Chao1)"),)):
            d: dict[str, Any] = {"sample": c.sample, "measure": word}
            for method, vals in c.diversity.items():
                v = vals[fig]
                label = "as predicted" if method == "naive" else method_names.get(method, method)
                d[label] = f"{v['value']:.2f}" + (f" ({v['lower']:.2f} - {v['upper']:.2f})" if "lower" in v else "")
            drows.append(d)
    titles = {f"{method_names['acc']}{unit}": "adjusted classify-and-count: the totals that, passed through the held-out "
                                              "confusion matrix, best give the predicted ones",
              f"{method_names['em']}{unit}": "Saerens et al. (2002): re-estimates the mix of taxa from the softmax, "
                                             "assuming calibrated scores",
              f"as predicted{unit}": "counts of the predicted labels, uncorrected (naive)",
              f"annotated{unit}": "the same points' labels in the CoralNet CSV they were predicted from"}
    body = "".join(f'<p class="warn">{H.esc(w)}</p>' for w in warnings)
    what = "cover" if points else "counts"
    pooled = [r for r in rows if r["sample"] == "all"]
    body += f"<p>All samples together, {what} as predicted and corrected:</p>" + _table(pooled, digits=1, titles=titles)
    body += _table([r for r in drows if r["sample"] == "all"], digits=2)
    per = [r for r in rows if r["sample"] != "all"]
    if per:
        body += H.details(f"Corrected {what} per sample: {len(per)} rows (unfold)", _table(per, digits=1, titles=titles))
        dper = [r for r in drows if r["sample"] != "all"]
        body += H.details(f"Diversity per sample, as predicted and corrected: {len(dper)} rows (unfold)", _table(dper, digits=2))
    body += ('<p class="note">In brackets: bootstrap 95% intervals, resampling the predictions and the held-out examples '
             "behind the confusion matrix (a class with few test examples gets a wide interval). "
             + ("Cover is the percent of the sample's points. " if points else "") + "</p>")
    return H.section("Naive vs misclassification-corrected", body, anchor="correction")


def biodiversity_sections(counts: Any = None, cover: list[dict[str, Any]] | None = None, diversity: dict[str, dict[str, Any]] | None = None,
                          curves: dict[str, Any] | None = None, accumulation: dict[str, list[float]] | None = None,
                          corrections: Any = None, unknown: tuple[Any, Any] | None = None,
                          points: bool = False, counting: str | None = None, empty: list[str] | None = None) -> list[str]:
    """HTML sections: what was counted, composition, counts and cover per group, diversity, curves
    with intervals, naive vs corrected, unknown-taxa gallery.

    counts: CountTable; cover: rows from counts.percent_cover; diversity: diversity_by_sample (or
    diversity.point_measures) output; curves: sample -> rarefaction.Curve; corrections: a list of
    correction.Correction, or (that list, warnings); unknown: (Predictions, UnknownResult);
    counting: the counting threshold's line; empty: samples with nothing counted.
    Every argument is optional; absent ones give no section.
    ``points``: the rows are classified points (cover), not individuals: the tables say so and
    leave out the estimators that count individuals (Chao1, ACE, coverage, rarefaction).
    """
    out: list[str] = []
    if counts is not None:
        out.append(_counted_section(counts, counting, list(empty or []), points))
        fig, left_out = composition_figure(counts, points)
        if left_out:
            fig += (f'<p class="note">The chart shows the {MAX_BARS} largest of {len(counts.samples)} samples; not shown: '
                    f"{H.esc(_names(left_out))}. Every sample is in the table below.</p>")
        rows = counts.wide_rows()
        shown = rows[:200]
        body = _table(shown, ["sample", *counts.taxa, "total"])
        if len(rows) > 200:
            body += f'<p class="note">First 200 of {len(rows)} samples; all of them are in the CSV from `benthos ecology counts --wide`.</p>'
        what = "points" if points else "individuals"
        out.append(H.section("Composition", fig, anchor="composition"))
        out.append(H.section("Points per taxon" if points else "Counts per taxon",
                             _fold(f"{what.capitalize()} of each taxon in {len(rows)} samples (unfold)", body, len(rows)),
                             anchor="counts"))
    if cover:
        agg = [r for r in cover if r["level"] != "image"]
        words = {"level": "level", "sample": "sample", "taxon": "taxon", "points": "points", "cover": "cover (%)",
                 "cover_mean": "mean cover over photos (%)", "cover_sd": "standard deviation over photos",
                 "n_images": "photos", "annotated_cover": "annotated cover (%)",
                 "annotated_cover_mean": "annotated mean over photos (%)"}
        keys = [k for k in words if k in agg[0]] if agg else []
        table_rows = [{words[k]: r[k] for k in keys} for r in agg]
        titles = {"cover (%)": "points of the taxon / all points, pooled over the photos",
                  "mean cover over photos (%)": "mean of each photo's cover: photos are the replicates",
                  "annotated cover (%)": "the same points' labels in the CoralNet CSV they were predicted from"}
        body = _fold(f"Cover of {len(table_rows)} taxon-and-group rows (unfold)", _table(table_rows, digits=2, titles=titles),
                     len(table_rows))
        body += ('<p class="note">Cover: points of the taxon / all points (%), pooled; mean and standard deviation: over '
                 "photos, each photo's own cover.</p>")
        out.append(H.section("Percent cover", body, anchor="cover"))
    if diversity:
        out.append(_diversity_section(diversity, points))
    if curves:
        out.append(_curves_section(curves, accumulation))
    if corrections:
        out.append(_correction_section(corrections, points))
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
