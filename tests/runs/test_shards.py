"""Which files are shares of a `--shard I/N` job, judged by their own names, not the path above them."""
import pytest

from benthos.errors import DataError
from benthos.runs.shards import check_all_shares, check_complete


def test_shares_are_recognised_by_their_own_name_only():
    check_all_shares(["/s/leg_2of5/out/predictions_1of2.csv", "/s/leg_2of5/out/predictions_2of2.csv"])
    check_all_shares(["/s/leg_2of5/shard_1of2/detections.coco.json", "/s/leg_2of5/shard_2of2/detections.coco.json"])
    check_all_shares(["/s/leg_2of5/a.csv", "/s/leg_2of5/b.csv"])  # no shares at all: nothing to check
    with pytest.raises(DataError, match=r"share\(s\) 3 of 3 are missing"):
        check_all_shares(["/s/leg_2of5/out/predictions_1of3.csv", "/s/leg_2of5/out/predictions_2of3.csv"])


def test_check_complete_names_what_is_wrong():
    check_complete([(2, 3), (1, 3), (3, 3)])
    with pytest.raises(DataError, match=r"shares of different splits \(of 2, of 3\)"):
        check_complete([(1, 2), (2, 3)])
    with pytest.raises(DataError, match=r"share\(s\) 1 of 2 given more than once"):
        check_complete([(1, 2), (1, 2), (2, 2)])
    with pytest.raises(DataError, match=r"share\(s\) 2, 3 of 3 are missing"):
        check_complete([(1, 3)])


def test_check_same_job_tells_another_model_from_other_settings():
    from benthos.runs.shards import check_same_job

    keys = ("weights_sha256", "weights_bytes", "score_thresh", "tile", "tile_overlap")
    a = {"run": "runs/det", "weights_sha256": "a" * 64, "weights_bytes": 10, "tile": None, "tile_overlap": 0.2}
    check_same_job(["s1", "s2"], [a, {**a, "tile_overlap": 0.5}], keys)  # no tiles: their overlap is no setting
    check_same_job(["s1", "s2", "s3"], [{}, a, {"run": "x"}], keys)  # records without the keys (older shares) pass
    with pytest.raises(DataError, match=r"s2: predicted with other settings than s1 \(tile_overlap 0.5 vs 0.2\)"):
        check_same_job(["s1", "s2"], [{**a, "tile": 640}, {**a, "tile": 640, "tile_overlap": 0.5}], keys)
    with pytest.raises(DataError, match=r"s2: predicted with another model than s1 \(weights_sha256 bbbbbbbbbbbb vs "
                                        r"aaaaaaaaaaaa; run runs/det2 vs runs/det\)"):
        check_same_job(["s1", "s2"], [a, {**a, "weights_sha256": "b" * 64, "run": "runs/det2"}], keys)
    check_same_job(["s1", "s2"], [a, {**a, "weights_bytes": None}], keys)  # the digest decides; no size says nothing
    with pytest.raises(DataError, match=r"another model than s1 \(weights_sha256 bbbbbbbbbbbb vs aaaaaaaaaaaa\)"):
        check_same_job(["s1", "s2"], [a, {"weights_sha256": "b" * 64}], keys)  # one run unrecorded: not named
    old = {k: v for k, v in a.items() if k != "weights_sha256"}  # no digest recorded: the size tells
    with pytest.raises(DataError, match=r"another model .*weights_bytes 11 vs 10"):
        check_same_job(["s1", "s2"], [old, {**old, "weights_bytes": 11}], keys)
