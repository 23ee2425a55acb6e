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
