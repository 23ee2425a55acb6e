from __future__ import annotations

import json

import numpy as np
import pytest

from benthos.ecology.correction import (Evaluation, adjusted_count, correct_predictions, correct_sample, em_priors,
                                        read_evaluation, round_preserving)
from benthos.ecology.predictions import read_predictions
from benthos.errors import DataError


def _simulate(truth, rates, rng):
    return np.concatenate([rng.choice(len(truth), size=t, p=rates[i]) for i, t in enumerate(truth)])


def test_acc_recovers_a_rare_taxon_the_naive_count_misses():
    # the rare taxon (index 2) is taken for the common one 40% of the time
    classes = ["common", "medium", "rare", "sand"]
    rates = np.array([[0.93, 0.04, 0.02, 0.01], [0.05, 0.90, 0.02, 0.03], [0.40, 0.05, 0.55, 0.00], [0.02, 0.03, 0.00, 0.95]])
    ev = Evaluation(classes, np.round(rates * 1000).astype(int))
    truth = np.array([2000, 700, 200, 500])
    rng = np.random.default_rng(0)
    naive_err, acc_err = [], []
    for _ in range(5):
        lab = _simulate(truth, rates, rng)
        naive = np.bincount(lab, minlength=4)
        acc = adjusted_count(naive, ev.rates)
        naive_err.append(abs(naive[2] - truth[2]))
        acc_err.append(abs(acc[2] - truth[2]))
        assert acc.sum() == pytest.approx(truth.sum())
    assert np.mean(naive_err) > 30 and np.mean(acc_err) < 15  # naive: 0.55*200 + 2%*2000 + 2%*700 = 164
    c = correct_sample(lab, ev, methods=("acc",), nboot=100, seed=1)
    assert c.lower["acc"][2] <= truth[2] <= c.upper["acc"][2]
    assert c.naive[2] < 0.9 * truth[2]  # the naive count is biased low
    d = c.diversity
    assert d["acc"]["hill_q2"]["lower"] <= d["acc"]["hill_q2"]["value"] <= d["acc"]["hill_q2"]["upper"]
    true_q2 = 1 / ((truth / truth.sum()) ** 2).sum()
    assert abs(d["acc"]["hill_q2"]["value"] - true_q2) < abs(d["naive"]["hill_q2"]["value"] - true_q2)


def test_em_recovers_shifted_priors():
    # calibrated posteriors of 1-D Gaussian classes trained with equal priors, applied to a shifted survey
    rng = np.random.default_rng(1)
    means, train = np.array([0.0, 2.0, 4.0]), np.ones(3) / 3
    test = np.array([0.70, 0.25, 0.05])
    y = rng.choice(3, size=4000, p=test)
    x = rng.normal(means[y], 1.0)
    post = np.exp(-((x[:, None] - means) ** 2) / 2) * train
    post /= post.sum(1, keepdims=True)
    naive = np.bincount(post.argmax(1), minlength=3) / len(y)
    em = em_priors(post, train)
    truth = np.bincount(y, minlength=3) / len(y)
    assert np.abs(em - truth).max() < 0.02 < np.abs(naive - truth).max()
    ev = Evaluation(["a", "b", "c"], np.diag([100, 100, 100]), train_priors=train)
    c = correct_sample(post.argmax(1), ev, probs=post, methods=("em",), nboot=20)
    assert c.corrected["em"] / len(y) == pytest.approx(em, abs=1e-6)
    assert c.lower["em"][2] <= truth[2] * len(y) <= c.upper["em"][2]


def test_correct_predictions_per_group_and_label_set(files):
    preds = read_predictions(files / "preds.csv")
    ev = read_evaluation(files / "evaluation.json")
    groups = [im.split("/")[0] for im in preds.images]
    res = correct_predictions(preds, ev, groups, nboot=10)
    assert [r.sample for r in res] == ["station_1", "station_2", "all"]
    json.dumps([r.to_dict() for r in res], allow_nan=False)
    other = Evaluation(["a", "b", "c", "d"], np.eye(4, dtype=int) * 10)
    with pytest.raises(DataError, match="another label set"):
        correct_predictions(preds, other)
    dets = read_predictions(files / "dets.csv")
    with pytest.raises(DataError, match="is not in the evaluation"):
        correct_predictions(dets, Evaluation(["Asterias rubens", "x"], np.eye(2, dtype=int)))


def test_bad_evaluation(tmp_path):
    (tmp_path / "e.json").write_text(json.dumps({"classes": ["a", "b"], "confusion_matrix": [[1, 2, 3], [1, 2, 3]]}))
    with pytest.raises(DataError, match="shape"):
        read_evaluation(tmp_path / "e.json")
    (tmp_path / "e.json").write_text(json.dumps({"classes": ["a", "b"], "confusion_matrix": [[1, -2], [1, 2]]}))
    with pytest.raises(DataError, match=r"confusion_matrix\[0\]\[1\]"):
        read_evaluation(tmp_path / "e.json")
    (tmp_path / "e.json").write_text("{")
    with pytest.raises(DataError, match="line 1: not valid JSON"):
        read_evaluation(tmp_path / "e.json")
    with pytest.raises(DataError, match="benthos evaluate"):
        read_evaluation(tmp_path / "missing")


def test_round_preserving():
    r = round_preserving(np.array([1.4, 1.4, 1.2, 0.0]))
    assert r.sum() == 4 and r.tolist() == [2, 1, 1, 0]


def _width(c, method="acc"):
    return float((c.upper[method] - c.lower[method]).sum())


def test_intervals_widen_with_a_smaller_evaluation_set():
    ev = Evaluation.example()  # 100 held-out examples per class
    small = Evaluation(ev.classes, np.array([[9, 1, 0, 0], [1, 8, 0, 1], [3, 0, 6, 1], [0, 0, 0, 10]]))  # 10 per class
    rng = np.random.default_rng(0)
    lab = _simulate(np.array([60, 50, 20, 30]), ev.rates, rng)
    big_c = correct_sample(lab, ev, methods=("acc",), nboot=200, seed=3)
    small_c = correct_sample(lab, small, methods=("acc",), nboot=200, seed=3)
    assert _width(small_c) > 1.5 * _width(big_c)  # about twice as wide (seeded)


def test_a_tiny_perfect_matrix_is_not_taken_as_certain():
    # 3 test examples per class, all right: a plain bootstrap gives intervals of zero width
    ev = Evaluation(["a", "b", "c"], np.diag([3, 3, 3]))
    lab = np.array([0] * 20 + [1] * 10 + [2] * 5)
    c = correct_sample(lab, ev, methods=("acc",), nboot=200, seed=0)
    assert all(hi - lo > 1.0 for lo, hi in zip(c.lower["acc"], c.upper["acc"]))
    assert c.corrected["acc"] == pytest.approx([20, 10, 5])  # the estimate itself is the matrix's


def test_warnings_small_classes_other_data_and_disagreement(files):
    from benthos.ecology.tasks import correction_warnings

    ev = Evaluation(["a", "b"], np.array([[40, 10], [2, 3]]), data="survey_2023.csv")
    assert ev.small_classes() == {"b": 5}
    rates = np.array([[0.9, 0.1], [0.1, 0.9]])
    probs = np.tile([0.95, 0.05], (200, 1))  # the softmax says: all 'a'
    lab = np.array([0] * 100 + [1] * 100)      # but half are labelled 'b'
    c = correct_sample(lab, Evaluation(["a", "b"], np.round(rates * 500).astype(int)), probs, nboot=50, seed=0)
    assert c.disagreements() == ["a", "b"]
    warnings = correction_warnings([c], ev)
    assert any("few held-out examples" in w and "b (5)" in w for w in warnings)
    assert any("measured on survey_2023.csv, not on the run's held-out test split" in w for w in warnings)
    assert any("acc and em disagree beyond their 95% intervals for a, b" in w for w in warnings)


def test_points_are_corrected_as_percent_cover(files):
    preds = read_predictions(files / "points.csv")
    ev = read_evaluation(files / "evaluation.json")
    res = correct_predictions(preds, ev, nboot=20)
    rows = res[-1].rows()
    assert all(r["unit"] == "% cover" for r in rows)
    assert sum(r["naive"] for r in rows) == pytest.approx(100) and sum(r["acc"] for r in rows) == pytest.approx(100)
    assert all(0 <= r["acc_lower"] <= r["acc"] + 1e-9 and r["acc_upper"] <= 100 for r in rows)


def test_a_run_folder_means_its_own_test_evaluation(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "evaluation_other.json").write_text(json.dumps({"classes": ["a"], "confusion_matrix": [[1]]}))
    with pytest.raises(DataError, match=r"run/evaluation\.json: not found"):
        read_evaluation(run)  # the evaluation on other data is never taken for the run's own
    (run / "evaluation.json").write_text(json.dumps({"classes": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]],
                                                     "data": "the run's held-out 'test' split"}))
    assert read_evaluation(run).classes == ["a", "b"]
