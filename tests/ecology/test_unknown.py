from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benthos.ecology.predictions import Predictions
from benthos.ecology.unknown import calibrate, find_unknowns, load_features, write_review
from benthos.errors import DataError


def _world(rng, n_known=300, n_novel=12, with_novel=True):
    """Three known classes in a 5-D feature space; a novel taxon sits far from all of them."""
    centres = np.array([[0, 0, 0, 0, 0], [6, 0, 0, 0, 0], [0, 6, 0, 0, 0]], float)
    y = rng.integers(0, 3, n_known)
    feats = centres[y] + rng.normal(0, 1, (n_known, 5))
    if with_novel:
        feats = np.vstack([feats, np.array([0, 0, 9, 9, 0]) + rng.normal(0, 1, (n_novel, 5))])
    logits = -((feats[:, None, :2] - centres[None, :, :2]) ** 2).sum(-1) / 2
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    classes = ["a", "b", "c"]
    labels = [classes[k] for k in probs.argmax(1)]
    energy = -np.log(np.exp(logits).sum(1))
    preds = Predictions("classification", [f"img_{i:03d}.png" for i in range(len(feats))], labels, probs.max(1), classes,
                        probs=probs, energy=energy)
    return preds, feats


def test_distance_flags_and_clusters_the_novel_taxon(tmp_path):
    rng = np.random.default_rng(0)
    val, vfeat = _world(rng, with_novel=False)
    survey, feat = _world(rng, n_known=200, n_novel=12)
    cal = calibrate(val, "distance", keep=0.95, features=vfeat)
    assert np.mean(find_unknowns(val, cal, vfeat).flagged) == pytest.approx(0.05, abs=0.01)
    res = find_unknowns(survey, cal, feat)
    novel = np.arange(len(survey)) >= 200
    assert res.flagged[novel].all()                 # every novel organism is flagged
    assert res.flagged[~novel].mean() < 0.12        # few known ones are
    assert len(set(res.clusters[novel])) == 1       # and they form one candidate taxon
    s = res.summary()
    assert s["candidate_taxa"] >= 1 and s["richness_lower_bound_with_candidates"] == s["richness_known"] + s["candidate_taxa"]
    # a thumbnail comes from the image file when it exists
    survey.path = tmp_path / "preds.csv"
    Image.new("RGB", (32, 24), (200, 30, 30)).save(tmp_path / survey.images[205])
    paths = write_review(tmp_path / "review", survey, res)
    rows = paths["csv"].read_text().splitlines()
    assert rows[0].startswith("cluster,image") and len(rows) == 1 + res.flagged.sum()
    html = paths["html"].read_text()
    assert "data:image/jpeg;base64" in html and "image not found" in html and "Candidate taxon" in html


def test_energy_and_confidence_calibration(files):
    from benthos.ecology.predictions import read_predictions

    val = read_predictions(files / "val.csv")
    for score in ("energy", "confidence"):
        cal = calibrate(val, score, keep=0.9)
        kept = np.mean(find_unknowns(val, cal).flagged == 0)
        assert kept == pytest.approx(0.9, abs=0.03)
    with pytest.raises(DataError, match="at least 20"):
        calibrate(val.subset(np.arange(len(val)) < 5), "energy")


def test_features_file_checks(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((3, 4)))
    assert load_features(tmp_path / "f.npy", 3).shape == (3, 4)
    with pytest.raises(DataError, match=r"expected \(5, D\)"):
        load_features(tmp_path / "f.npy", 5)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickled"):
        load_features(tmp_path / "o.npy", 1)
