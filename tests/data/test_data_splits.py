"""Grouped, stratified, seeded splits and their JSON record."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benthos.data import Sample, load_split, load_split_indices, save_split, split_samples
from benthos.errors import DataError


def _patches(n_photos=60, per_photo=4, classes=("cca", "sand", "coral")):
    """CoralNet-like: several points per photo, labels mixed within a photo."""
    out = []
    for p in range(n_photos):
        for k in range(per_photo):
            out.append(Sample(Path(f"/x/p{p}.jpg"), classes[(p + k * (p % 2)) % len(classes)], f"p{p}",
                              (k, k, k + 10, k + 10)))
    return out


def test_groups_never_straddle_and_classes_balanced():
    samples = _patches()
    split = split_samples(samples, seed=1)
    assert sorted(i for v in split.values() for i in v) == list(range(len(samples)))
    groups = {k: {samples[i].group for i in v} for k, v in split.items()}
    assert not (groups["train"] & groups["val"] or groups["train"] & groups["test"] or groups["val"] & groups["test"])
    total = Counter(s.label for s in samples)
    for name, frac in {"train": 0.7, "val": 0.15, "test": 0.15}.items():
        got = Counter(samples[i].label for i in split[name])
        for c in total:
            assert abs(got[c] / total[c] - frac) < 0.1, (name, c, got[c], total[c])


def test_seeded_and_deterministic():
    samples = _patches()
    assert split_samples(samples, seed=3) == split_samples(samples, seed=3)
    assert split_samples(samples, seed=3) != split_samples(samples, seed=4)


def test_ungrouped_splits_samples_of_one_group():
    samples = [Sample(Path(f"/x/{i}.jpg"), "ab"[i % 2], "same-photo") for i in range(40)]
    with pytest.raises(DataError, match="cannot stratify"):  # one photograph cannot feed 3 splits
        split_samples(samples, grouped=True)
    assert len(split_samples(samples, grouped=True, rare="train")["train"]) == 40
    split = split_samples(samples, grouped=False, fractions={"train": 0.5, "test": 0.5})
    assert len(split["train"]) == len(split["test"]) == 20


def test_too_few_for_stratification():
    samples = _patches(n_photos=30) + [Sample(Path("/x/lonely.jpg"), "octopus", "lonely")]
    with pytest.raises(DataError, match=r"'octopus' \(1\).*fewer photographs/groups than the 3 splits"):
        split_samples(samples)
    split = split_samples(samples, rare="train")
    assert len(samples) - 1 in split["train"]
    two = [Sample(Path(f"/x/{i}.jpg"), "crab", f"g{i % 2}") for i in range(6)] + samples[:40]
    with pytest.raises(DataError, match=r"'crab' \(2\)"):  # 6 images but only 2 photographs
        split_samples(two)


def test_bad_fractions():
    with pytest.raises(DataError, match="non-negative"):
        split_samples(_patches(), fractions={"train": -1, "test": 0.5})


def test_save_and_load_round_trip(tmp_path):
    samples = _patches(n_photos=12)
    split = split_samples(samples, seed=0)
    save_split(tmp_path / "split.json", samples, split, seed=0)
    back = load_split(tmp_path / "split.json")
    assert {k: [s.to_dict() for s in v] for k, v in back.items()} == \
           {k: [samples[i].to_dict() for i in v] for k, v in split.items()}
    assert load_split_indices(tmp_path / "split.json") == split
    (tmp_path / "bad.json").write_text('{"splits": 3}')
    with pytest.raises(DataError, match=r"bad\.json: not a split file"):
        load_split(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no such split file"):
        load_split(tmp_path / "none.json")
    for text in ("[1, 2]", "{not json", '{"splits": {"train": {"indices": ["x"]}}}'):
        (tmp_path / "bad.json").write_text(text)
        for read in (load_split, load_split_indices):
            with pytest.raises(DataError, match=r"bad\.json: not a split file"):
                read(tmp_path / "bad.json")
