"""classification_metrics and evaluate_by_name against sklearn and hand-worked examples."""
import json

import numpy as np
import pytest
from sklearn import metrics as skm

from benthos.errors import DataError
from benthos.evaluate import classification_metrics, evaluate_by_name, expected_calibration_error, reliability_bins

CLASSES = ["algae", "coral", "sand", "sponge", "urchin", "tunicate"]


def _random(n=200, c=6, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 2
    y = rng.integers(0, c, size=n)
    logits[np.arange(n), y] += 1.5  # better than chance, not perfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_matches_sklearn():
    y, probs = _random()
    m = classification_metrics(y, probs, CLASSES)
    pred = probs.argmax(1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["top_k"].keys() == {"top1", "top3", "top5"}
    assert m["top_k"]["top1"] == pytest.approx(m["accuracy"])
    assert m["top_k"]["top3"] == pytest.approx(skm.top_k_accuracy_score(y, probs, k=3))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(6))
    for i, name in enumerate(CLASSES):
        pc = m["per_class"][name]
        assert (pc["precision"], pc["recall"], pc["f1"], pc["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert m["n"] == 200 and m["classes"] == CLASSES
    assert sum(b["count"] for b in m["reliability"]) == 200 and len(m["reliability"]) == 15


def test_json_ready_without_nan():
    y, probs = _random(n=30)
    y[:] = np.where(y == 5, 0, y)  # "tunicate" absent: undefined recall must be None, not NaN
    probs[:, 4] = 0
    probs /= probs.sum(1, keepdims=True)  # "urchin" never predicted: undefined precision
    m = classification_metrics(y, probs, CLASSES)
    text = json.dumps(m, allow_nan=False)  # raises on NaN/inf and on numpy types
    assert json.loads(text) == m
    assert m["per_class"]["urchin"]["precision"] is None
    assert m["per_class"]["tunicate"]["recall"] is None and m["per_class"]["tunicate"]["support"] == 0
    assert "tunicate" not in m["classes_present"]


def test_hand_computed_ece():
    # two bins over [0,1]: (0, .5] holds conf .4 (wrong), (.5, 1] holds .6 (right), .8 (right), .9 (wrong)
    conf = np.array([0.4, 0.6, 0.8, 0.9])
    correct = np.array([0, 1, 1, 0])
    bins = reliability_bins(conf, correct, n_bins=2)
    assert [b["count"] for b in bins] == [1, 3]
    assert bins[1]["confidence"] == pytest.approx(2.3 / 3) and bins[1]["accuracy"] == pytest.approx(2 / 3)
    # ECE = 1/4 * |0 - .4| + 3/4 * |2/3 - 2.3/3| = .1 + .075
    assert expected_calibration_error(bins) == pytest.approx(0.175)


def test_ece_through_classification_metrics():
    # binary; top-1 confidences .9 (right), .9 (wrong), .7 (right), .6 (right)
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.3], [0.4, 0.6]])
    y = np.array([0, 0, 0, 1])
    m = classification_metrics(y, probs, ["a", "b"], n_bins=10)
    # bins (.8,.9]: conf .9 acc .5 n=2; (.6,.7]: conf .7 acc 1; (.5,.6]: conf .6 acc 1
    assert m["ece"] == pytest.approx((2 * 0.4 + 0.3 + 0.4) / 4)
    assert m["top_k"] == {"top1": 0.75}  # k=3, 5 >= n_classes are left out
    edge = [b for b in m["reliability"] if b["count"]]
    # a confidence on an edge falls in the lower bin: (lo, hi]
    assert [b["count"] for b in edge] == [1, 1, 2]
    assert [b["hi"] for b in edge] == pytest.approx([0.6, 0.7, 0.9])


def test_subset_and_unknown_labels():
    _, probs = _random(n=8)
    labels = ["coral", "coral", "sand", "sand", "kelp", "kelp", "Coral", "sand"]
    m = evaluate_by_name(labels, probs, CLASSES)
    assert m["unknown_labels"] == {"Coral": 1, "kelp": 2} and m["n_unknown"] == 3
    assert m["n"] == 5 and m["classes_present"] == ["coral", "sand"]
    assert len(m["confusion_matrix"]) == 6 and all(len(r) == 6 for r in m["confusion_matrix"])
    known = [0, 1, 2, 3, 7]
    y = np.array([1, 1, 2, 2, 2])
    pred = probs[known].argmax(1)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, labels=[1, 2], average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx(float((pred == y).mean()))


def test_no_known_label_says_what_model_knows():
    _, probs = _random(n=3)
    with pytest.raises(DataError, match=r"model knows: algae, coral.*Did you mean: coral"):
        evaluate_by_name(["corall", "kelp", "kelp"], probs, CLASSES)


@pytest.mark.parametrize(
    "y, probs, match",
    [
        (np.array([0, 1]), np.ones((2, 5)) / 5, "shape"),
        (np.array([0]), np.ones((2, 6)) / 6, "must match"),
        (np.array([0, 9]), np.ones((2, 6)) / 6, "class indices"),
        (np.array([0, 1]), np.full((2, 6), 3.0), "logits"),
        (np.array([], dtype=int), np.ones((0, 6)), "no samples"),
    ],
)
def test_bad_input_is_a_data_error(y, probs, match):
    with pytest.raises(DataError, match=match):
        classification_metrics(y, probs, CLASSES)
