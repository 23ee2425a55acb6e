"""The counting threshold: fitted so that counts on the validation images equal the annotations."""
from pathlib import Path

import numpy as np
import pytest

from benthos.data.detection import DetectionData, DetectionRecord
from benthos.detect.counting import (count_boxes, expected_count, fit_count_threshold, run_threshold,
                                     unbiased_threshold)
from benthos.errors import DataError
from benthos.runs.threshold import CountThreshold, from_record


def test_unbiased_threshold_keeps_as_many_boxes_as_animals():
    assert unbiased_threshold(np.array([0.9, 0.2, 0.8, 0.7]), 2) == pytest.approx(0.75)
    assert unbiased_threshold(np.array([0.9, 0.8]), 5, floor=0.05) == pytest.approx(0.8)  # too few boxes: all count
    assert unbiased_threshold(np.array([0.4]), 0) > 0.4  # nothing annotated: nothing counts


def _data(rng, n_images=40, per_image=(3, 1)):
    """Images with boxes of two classes; class 0 common, class 1 rare."""
    records, preds = [], {}
    for i in range(n_images):
        boxes, labels = [], []
        for k, n in enumerate(per_image):
            for j in range(n):
                x = 20 * j + 100 * k
                boxes.append([x, 10, x + 15, 25])
                labels.append(k)
        boxes = np.array(boxes, np.float32)
        records.append(DetectionRecord(Path(f"/x/{i}.jpg"), i + 1, 400, 100, boxes, np.array(labels, np.int64)))
        # the detector finds every animal (scores 0.5-1) and adds as many false boxes (scores 0-0.6)
        fp = np.array([[300 + 5 * j, 60, 310 + 5 * j, 70] for j in range(len(boxes))], np.float32)
        preds[i + 1] = {"boxes": np.concatenate([boxes, fp]), "labels": np.concatenate([labels, labels]),
                        "scores": np.concatenate([rng.uniform(0.5, 1, len(boxes)), rng.uniform(0, 0.6, len(boxes))])}
    return DetectionData(["common", "rare"], records, []), preds


def test_fitted_threshold_counts_right_on_its_images_and_records_what_it_rests_on():
    data, preds = _data(np.random.default_rng(0))
    fitted = fit_count_threshold(data, preds)
    t = run_threshold({"count_threshold": fitted})
    counted = np.sum([count_boxes(p["labels"], p["scores"], data.categories, t) for p in preds.values()], axis=0)
    assert counted.tolist() == [120, 40]  # each class (>= 30 boxes) has its own threshold: exactly right here
    assert fitted["annotated"] == 160 and set(t.per_class) == {"common", "rare"}
    assert fitted["annotated_per_class"] == {"common": 120, "rare": 40}
    assert fitted["recall_ceiling"] == 1.0 and 0.4 < fitted["f1_optimal"]["default"] < 0.7
    assert "fitted on the run's 40 validation images" in t.describe()


def test_per_class_threshold_needs_enough_boxes():
    data, preds = _data(np.random.default_rng(1), n_images=20, per_image=(3, 1))  # 60 and 20 boxes
    assert set(fit_count_threshold(data, preds, min_class_boxes=30)["per_class"]) == {"common"}
    assert fit_count_threshold(data, preds, min_class_boxes=61)["per_class"] == {}


def test_classes_without_their_own_threshold_share_one_fitted_on_them():
    # common: 60 animals (its own threshold); rare: 20, whose boxes score lower than common's: a threshold
    # fitted on every box would count far fewer rare animals than there are
    data, preds = _data(np.random.default_rng(3), n_images=20, per_image=(3, 1))
    for p in preds.values():
        p["scores"] = np.where(p["labels"] == 1, p["scores"] * 0.5, p["scores"])
    fitted = fit_count_threshold(data, preds, min_class_boxes=30)
    t = run_threshold({"count_threshold": fitted})
    counted = np.sum([count_boxes(p["labels"], p["scores"], data.categories, t) for p in preds.values()], axis=0)
    assert set(t.per_class) == {"common"} and counted.tolist() == [60, 20]  # right in total and per class
    everything = unbiased_threshold(np.concatenate([p["scores"] for p in preds.values()]), 80)
    assert t.default < everything  # the rare class's own level, not the pooled one
    # too few animals outside the classes with their own threshold: the threshold fitted on every box
    data, preds = _data(np.random.default_rng(3), n_images=8, per_image=(4, 1))  # 32 and 8 animals
    fitted = fit_count_threshold(data, preds, min_class_boxes=30)
    scores = np.concatenate([p["scores"] for p in preds.values()])
    assert fitted["default"] == pytest.approx(unbiased_threshold(scores, 40))


def test_expected_count_from_calibrated_scores():
    data, preds = _data(np.random.default_rng(2))
    fitted = fit_count_threshold(data, preds)
    scores = np.concatenate([p["scores"] for p in preds.values()])
    mean, lo, hi = expected_count(scores, fitted["score_calibration"], fitted["recall_ceiling"])
    assert lo < mean < hi and abs(mean - 160) < 25  # the same images: close to the truth, with an interval
    half = expected_count(scores[: len(scores) // 2], fitted["score_calibration"], fitted["recall_ceiling"])
    assert half[0] < mean
    assert np.isnan(expected_count(scores, None, 1.0)[0])


def test_a_recorded_threshold_is_read_back_and_a_damaged_one_is_named():
    t = CountThreshold(0.42, {"a": 0.5}, "record", "fitted")
    again = from_record(t.to_dict(), "x/run.json")
    assert (again.default, again.of("a"), again.of("b"), again.source) == (0.42, 0.5, 0.42, "fitted")
    with pytest.raises(DataError, match="x/run.json: count_threshold.default is 'high'"):
        from_record({"default": "high"}, "x/run.json")
    old = run_threshold({})  # a run trained before thresholds were fitted: 0.5, and it says so
    assert old.default == 0.5 and "trained before thresholds were fitted" in old.describe()
    with pytest.raises(DataError, match="--min-score is 1.5"):
        CountThreshold.given(1.5)
