from __future__ import annotations

import numpy as np
import pytest

from benthos.ecology.taxonomy import Taxonomy, rank_metrics, read_taxonomy, rollup
from benthos.errors import DataError

HEAD = "label,phylum,class,order,family,genus,species\n"


def test_read_example_roundtrip(tmp_path):
    Taxonomy.example().write(tmp_path / "t.csv")
    t = read_taxonomy(tmp_path / "t.csv")
    assert t.rank_of("Asterias rubens") == "species" and t.name_of("sand") is None and not t.is_taxon("sand")
    assert t.ancestor("Ophiura ophiura", "class") == "Ophiuroidea"


def test_epithet_becomes_binomial(tmp_path):
    (tmp_path / "t.csv").write_text(HEAD + "star,Echinodermata,Asteroidea,Forcipulatida,Asteriidae,Asterias,rubens\n"
                                    "stars,Echinodermata,Asteroidea,,,,\n")
    t = read_taxonomy(tmp_path / "t.csv")
    assert t.name_of("star") == "Asterias rubens" and t.rank_of("stars") == "class"


@pytest.mark.parametrize("rows,match", [
    ("a,P,C,O,F,G,G s\nb,P,C,O,F2,G,G t\n", "line 3: genus 'G' is placed under 'F2' here but under 'F' on line 2"),
    ("a,P,X,,,,\nb,P,C,,,X,\n", "line 3: 'X' is a genus here but a class on line 2"),
    ("a,P,A,,,B,\nb,P,B,,,A,\n", r"cycle A -> B -> A"),
    ("a,P,C,,,,\na,P,D,,,,\n", "line 3: label 'a' already on line 2"),
])
def test_bad_taxonomies(tmp_path, rows, match):
    (tmp_path / "t.csv").write_text(HEAD + rows)
    with pytest.raises(DataError, match=match):
        read_taxonomy(tmp_path / "t.csv")


def test_unknown_and_missing_labels():
    t = Taxonomy.example()
    with pytest.raises(DataError, match=r"line 3: label 'Crossaster papposus' is not one of"):
        t.check_labels(["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "sand"])
    with pytest.raises(DataError, match="no row for 'Cancer pagurus'"):
        t.check_labels(t.labels + ["Cancer pagurus"])


def test_rollup_to_lowest_confident_rank():
    t = Taxonomy.example()
    p = np.array([[0.45, 0.45, 0.05, 0.05, 0.0],    # two sea stars: only the class is sure
                  [0.90, 0.05, 0.05, 0.0, 0.0],     # sure of the species
                  [0.40, 0.10, 0.40, 0.0, 0.10],    # echinoderm, not more
                  [0.2, 0.2, 0.2, 0.2, 0.2]])
    r = rollup(p, t.labels, t, threshold=0.8)
    assert [(x["name"], x["rank"]) for x in r] == [("Asteroidea", "class"), ("Asterias rubens", "species"),
                                                    ("Echinodermata", "phylum"), ("unresolved", "")]


def test_distance_and_rank_metrics():
    t = Taxonomy.example()
    assert t.distance("Asterias rubens", "Asterias rubens") == 0
    assert t.distance("Asterias rubens", "Crossaster papposus") == 4   # same class, different order
    assert t.distance("Asterias rubens", "Ophiura ophiura") == 5       # same phylum only
    assert t.distance("Asterias rubens", "Pagurus bernhardus") == 6    # unrelated
    c = np.zeros((5, 5), int)
    np.fill_diagonal(c, 10)
    c[0, 1] = 5   # Asterias taken for Crossaster: right class, wrong order
    m = {(x["metric"], x["rank"]): x["value"] for x in rank_metrics(c, t.labels, t)}
    assert m["accuracy", "label"] == pytest.approx(50 / 55)
    assert m["accuracy", "class"] == pytest.approx(1.0) and m["accuracy", "order"] == pytest.approx(40 / 45)
    assert m["taxonomic distance", "mean over errors"] == pytest.approx(4.0)
