"""A label set's taxonomy: ranks per label, roll-up to the lowest confident rank, per-rank metrics.

Taxonomy CSV: ``label,phylum,class,order,family,genus,species`` (``kingdom`` optional), names as
in WoRMS. Blank cells are allowed (a label identified to class only leaves the lower ranks
blank). A row with every rank blank marks a label that is not a taxon (sand, rock, shadow):
it is kept out of Darwin Core and out of the taxonomic roll-up.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError, closest
from benthos.ecology.tables import read_csv, write_csv

ALL_RANKS = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]


@dataclass
class Taxonomy:
    """Lineage (one name or None per rank, highest rank first) of every label."""

    ranks: list[str]
    lineage: dict[str, list[str | None]]
    lines: dict[str, int]
    path: Path | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.lineage)

    def is_taxon(self, label: str) -> bool:
        return any(self.lineage[label])

    def rank_of(self, label: str) -> str | None:
        """Lowest rank with a name (the rank the label identifies to)."""
        filled = [r for r, n in zip(self.ranks, self.lineage[label]) if n]
        return filled[-1] if filled else None

    def name_of(self, label: str) -> str | None:
        """Scientific name at the label's own rank."""
        names = [n for n in self.lineage[label] if n]
        return names[-1] if names else None

    def ancestor(self, label: str, rank: str) -> str | None:
        return self.lineage[label][self.ranks.index(rank)]

    def distance(self, a: str, b: str) -> int:
        """Ranks between a wrong answer and the truth: 0 same label, 1 siblings in a genus, ... len(ranks) unrelated."""
        if a == b:
            return 0
        la, lb = self.lineage[a], self.lineage[b]
        depth = max(_depth(la), _depth(lb))
        if depth == 0:
            return len(self.ranks)
        shared = -1
        for i, (x, y) in enumerate(zip(la, lb)):
            if x and x == y:
                shared = i
            elif x or y:
                break
        return max(depth - (shared + 1), 1) if shared >= 0 else len(self.ranks)

    def check_labels(self, classes: list[str], source: str = "the model's classes") -> None:
        """Every class has a taxonomy row and every row is a class, else a DataError naming the row."""
        where = self.path or "taxonomy"
        for label, line in self.lines.items():
            if label not in classes:
                raise DataError(f"{where}: line {line}: label '{label}' is not one of {source}.{closest(label, classes)} "
                                "Fix the name or remove the row.")
        missing = [c for c in classes if c not in self.lineage]
        if missing:
            raise DataError(f"{where}: no row for {', '.join(repr(m) for m in missing[:8])} (in {source}); add a row per class "
                            "(leave the ranks blank for a non-taxon such as sand).")

    def to_rows(self) -> list[dict[str, Any]]:
        return [dict(label=lb, **{r: n or "" for r, n in zip(self.ranks, lin)}) for lb, lin in self.lineage.items()]

    def write(self, path: str | os.PathLike) -> Path:
        return write_csv(path, self.to_rows(), ["label", *self.ranks])

    @classmethod
    def example(cls) -> Taxonomy:
        """Three echinoderms, a hermit crab and sand."""
        ranks = ALL_RANKS[1:]
        rows = {
            "Asterias rubens": ["Echinodermata", "Asteroidea", "Forcipulatida", "Asteriidae", "Asterias", "Asterias rubens"],
            "Crossaster papposus": ["Echinodermata", "Asteroidea", "Valvatida", "Solasteridae", "Crossaster", "Crossaster papposus"],
            "Ophiura ophiura": ["Echinodermata", "Ophiuroidea", "Ophiurida", "Ophiuridae", "Ophiura", "Ophiura ophiura"],
            "Pagurus bernhardus": ["Arthropoda", "Malacostraca", "Decapoda", "Paguridae", "Pagurus", "Pagurus bernhardus"],
            "sand": [None] * 6,
        }
        return cls(ranks, rows, {k: i + 2 for i, k in enumerate(rows)})


def _depth(lineage: list[str | None]) -> int:
    filled = [i for i, n in enumerate(lineage) if n]
    return filled[-1] + 1 if filled else 0


def read_taxonomy(path: str | os.PathLike) -> Taxonomy:
    """Read and check a taxonomy CSV: duplicate labels, a name at two ranks, two parents, cycles."""
    path = Path(path)
    header, rows = read_csv(path, required=["label"], what="taxonomy CSV (label,phylum,class,order,family,genus,species)")
    ranks = [r for r in ALL_RANKS if r in header]
    unknown_cols = [h for h in header if h not in ranks and h != "label"]
    if not ranks:
        raise DataError(f"{path}: line 1: no rank columns; expected some of {', '.join(ALL_RANKS)}.")
    if unknown_cols:
        raise DataError(f"{path}: line 1: unknown column(s) {', '.join(unknown_cols)}; rank columns are "
                        f"{', '.join(ALL_RANKS)}.{closest(unknown_cols[0], ALL_RANKS)}")
    lineage: dict[str, list[str | None]] = {}
    lines: dict[str, int] = {}
    for line, r in rows:
        label = r["label"]
        if not label:
            raise DataError(f"{path}: line {line}: empty label.")
        if label in lineage:
            raise DataError(f"{path}: line {line}: label '{label}' already on line {lines[label]}; one row per label.")
        names = [r[k] or None for k in ranks]
        if "species" in ranks and "genus" in ranks:
            g, s = names[ranks.index("genus")], names[ranks.index("species")]
            if s and g and " " not in s:
                names[ranks.index("species")] = f"{g} {s}"  # epithet only: make the binomial WoRMS uses
        lineage[label] = names
        lines[label] = line
    _check_tree(path, ranks, lineage, lines)
    return Taxonomy(ranks, lineage, lines, path)


def _check_tree(path: Path, ranks: list[str], lineage: dict[str, list[str | None]], lines: dict[str, int]) -> None:
    parent: dict[str, tuple[str, int]] = {}
    rank_at: dict[str, tuple[str, int]] = {}
    edges: dict[str, set[str]] = {}
    for label, names in lineage.items():
        line = lines[label]
        chain = [(r, n) for r, n in zip(ranks, names) if n]
        for (r1, n1), (r2, n2) in zip(chain, chain[1:]):
            edges.setdefault(n1, set()).add(n2)
        for r, n in chain:
            if n in rank_at and rank_at[n][0] != r:
                cyc = _find_cycle(edges)
                if cyc:
                    raise DataError(f"{path}: line {line}: the taxonomy has a cycle {' -> '.join(cyc)}; "
                                    "a taxon cannot be its own ancestor.")
                raise DataError(f"{path}: line {line}: '{n}' is a {r} here but a {rank_at[n][0]} on line {rank_at[n][1]}; "
                                "a name has one rank.")
            rank_at.setdefault(n, (r, line))
        for (r1, n1), (r2, n2) in zip(chain, chain[1:]):
            if n2 in parent and parent[n2][0] != n1:
                raise DataError(f"{path}: line {line}: {r2} '{n2}' is placed under '{n1}' here but under '{parent[n2][0]}' "
                                f"on line {parent[n2][1]}; each taxon has one parent.")
            parent.setdefault(n2, (n1, line))
    cyc = _find_cycle(edges)
    if cyc:
        raise DataError(f"{path}: the taxonomy has a cycle {' -> '.join(cyc)}; a taxon cannot be its own ancestor.")


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def rollup(probs: np.ndarray, classes: list[str], taxonomy: Taxonomy, threshold: float = 0.8) -> list[dict[str, Any]]:
    """Per prediction: the lowest rank whose summed probability passes ``threshold`` ("Asteroidea" when the species is uncertain)."""
    if not 0 < threshold <= 1:
        raise DataError(f"threshold {threshold} must be in (0, 1].")
    taxonomy.check_labels(classes)
    p = np.asarray(probs, float)
    levels = []
    for rank in reversed(taxonomy.ranks):
        names = [taxonomy.ancestor(c, rank) for c in classes]
        nodes = sorted({n for n in names if n})
        if not nodes:
            continue
        member = np.array([[n == node for node in nodes] for n in names], float)  # (K, nodes)
        levels.append((rank, nodes, p @ member))
    out = []
    for i in range(len(p)):
        j = int(p[i].argmax())
        if p[i, j] >= threshold:
            out.append(dict(name=taxonomy.name_of(classes[j]) or classes[j], rank=taxonomy.rank_of(classes[j]) or "label",
                            probability=float(p[i, j])))
            continue
        for rank, nodes, agg in levels:
            k = int(agg[i].argmax())
            if agg[i, k] >= threshold:
                out.append(dict(name=nodes[k], rank=rank, probability=float(agg[i, k])))
                break
        else:
            out.append(dict(name="unresolved", rank="", probability=float(p[i, j])))
    return out


def rank_metrics(confusion: np.ndarray, classes: list[str], taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Accuracy at every rank from a confusion matrix (rows true), plus mean taxonomic distance."""
    taxonomy.check_labels(classes)
    c = np.asarray(confusion, float)
    out = [dict(metric="accuracy", rank="label", value=float(np.trace(c) / c.sum()) if c.sum() else None, n=int(c.sum()))]
    for rank in reversed(taxonomy.ranks):
        anc = [taxonomy.ancestor(k, rank) for k in classes]
        rows = np.array([a is not None for a in anc])
        if not rows.any():
            continue
        same = np.array([[a is not None and a == b for b in anc] for a in anc])
        n = c[rows].sum()
        out.append(dict(metric="accuracy", rank=rank, value=float((c * same).sum() / n) if n else None, n=int(n)))
    dist = np.array([[taxonomy.distance(a, b) for b in classes] for a in classes], float)
    wrong = c.sum() - np.trace(c)
    out.append(dict(metric="taxonomic distance", rank="mean over all", value=float((c * dist).sum() / c.sum()) if c.sum() else None,
                    n=int(c.sum())))
    out.append(dict(metric="taxonomic distance", rank="mean over errors", value=float((c * dist).sum() / wrong) if wrong else 0.0,
                    n=int(wrong)))
    return out
