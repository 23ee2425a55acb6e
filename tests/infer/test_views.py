"""The adaptive test-time views: same views as PyTorch's, the rule applied and fitted as documented,
and the non-finite guard."""
import numpy as np
import pytest
import torch

from benthos.data import Sample
from benthos.errors import BenthosError
from benthos.infer.predict import check_finite, tta_views
from benthos.infer.views import ViewRule, adaptive_logits, first_margin, score_batch, view_arrays
from benthos.train.views import SAFETY, fit_view_rule


@pytest.mark.parametrize("mode", ["dihedral", "flip", "none"])
def test_numpy_views_are_the_torch_views(mode):
    x = np.random.default_rng(0).random((2, 3, 5, 7), dtype=np.float32)
    ours, theirs = view_arrays(x, mode), tta_views(torch.from_numpy(x), mode)
    assert len(ours) == len(theirs) and all(np.array_equal(a, b.numpy()) for a, b in zip(ours, theirs))


def _forward(x: np.ndarray) -> np.ndarray:
    """A toy model that sees orientation: logits from the mean of the top-left and bottom-right pixels."""
    return np.stack([x[:, 0, 0, 0] * 4, x[:, 0, -1, -1] * 4, np.zeros(len(x))], 1).astype(np.float32)


def test_score_batch_all_views_is_their_mean():
    x = np.random.default_rng(1).random((4, 1, 3, 3), dtype=np.float32)
    logits, n = score_batch(_forward, x, ViewRule("dihedral"))
    assert n == 32
    np.testing.assert_allclose(logits, np.mean([_forward(v) for v in view_arrays(x, "dihedral")], 0), rtol=1e-6)
    one, n = score_batch(_forward, x, ViewRule("none"))
    assert n == 4 and np.array_equal(one, _forward(x))


def test_adaptive_rescores_only_the_unsure():
    x = np.random.default_rng(2).random((16, 1, 3, 3), dtype=np.float32)
    first = _forward(x)
    margin = first_margin(first)
    cut = float(np.median(margin))
    logits, n = score_batch(_forward, x, ViewRule("dihedral", cut))
    unsure = margin < cut
    assert 0 < unsure.sum() < 16 and n == 16 + 7 * unsure.sum()
    full = np.mean([_forward(v) for v in view_arrays(x, "dihedral")], 0)
    np.testing.assert_allclose(logits[unsure], full[unsure], rtol=1e-6)
    assert np.array_equal(logits[~unsure], first[~unsure])
    views = np.stack([_forward(v) for v in view_arrays(x, "dihedral")])
    np.testing.assert_allclose(adaptive_logits(views, cut), logits, rtol=1e-6)
    # margin 1 re-scores everything, margin 0 nothing
    assert score_batch(_forward, x, ViewRule("dihedral", 1.0))[1] == 16 * 8
    assert score_batch(_forward, x, ViewRule("dihedral", 0.0))[1] == 16


def test_fitted_margin_covers_every_disagreement_on_validation():
    rng = np.random.default_rng(3)
    views = rng.normal(0, 2, (8, 200, 5)).astype(np.float32)
    labels = views.mean(0).argmax(1)
    rec = fit_view_rule(views, labels, "dihedral")
    first, full = views[0], views.mean(0)
    differ = first.argmax(1) != full.argmax(1)
    assert differ.any()
    assert rec["margin"] == pytest.approx(min(1.0, first_margin(first)[differ].max() * SAFETY), abs=1e-4)
    # the rule then gives every validation image the all-view label
    assert (adaptive_logits(views, rec["margin"]).argmax(1) == full.argmax(1)).all()
    assert rec["val_accuracy_adaptive"] == rec["val_accuracy_all_views"] == 1.0
    assert rec["extra_views_fraction"] == pytest.approx((first_margin(first) < rec["margin"]).mean(), abs=1e-4)
    assert rec["n"] == 200 and rec["mode"] == "dihedral" and rec["temperature"] > 0


def test_fit_when_one_view_always_agrees_scores_no_extra_views():
    views = np.tile(np.array([[[3.0, 0.0], [0.0, 2.0]]], np.float32), (8, 1, 1))
    rec = fit_view_rule(views, np.array([0, 1]), "dihedral")
    assert rec["extra_views_fraction"] == 0.0 and rec["margin"] < 1e-3


def test_non_finite_outputs_stop_with_the_file_named():
    samples = [Sample(path=f"/photos/{i}.jpg", label="a") for i in range(3)]
    check_finite(np.zeros((3, 2)), samples, "m (torch)")
    bad = np.zeros((3, 2))
    bad[1, 0] = np.nan
    bad[2, 1] = np.inf
    with pytest.raises(BenthosError, match=r"non-finite .* for 2 of 3 images .* /photos/1\.jpg") as exc:
        check_finite(bad, samples, "m (onnx)")
    assert "\n" not in str(exc.value)
