"""Early stopping waits for the validation loss to rise (benthos.train.stopping)."""
import math

import pytest

from benthos.train.stopping import NearBestStopper

# validation losses of the CCR benchmark's seed-1 run (epochs 0-16), where "6 epochs without a
# new minimum" stopped at epoch 16 and kept epoch 10
SEED1 = [2.259, 1.164, 0.84, 0.684, 0.602, 0.559, 0.577, 0.555, 0.49, 0.479, 0.456, 0.462, 0.461, 0.473,
         0.475, 0.466, 0.457]


def test_noisy_plateau_does_not_stop_and_the_latest_near_best_epoch_is_kept():
    s = NearBestStopper(patience=6, tolerance=0.02)
    decisions = [s.update(v) for v in SEED1]
    assert not any(stop for _, stop in decisions)
    kept = [e for e, (keep, _) in enumerate(decisions) if keep]
    assert kept[-1] == 16 and 13 not in kept and 14 not in kept  # 0.473, 0.475 are > 2% above 0.456
    assert s.best == pytest.approx(0.456)


def test_rising_loss_stops_after_patience_epochs():
    s = NearBestStopper(patience=3, tolerance=0.02)
    out = [s.update(v) for v in (1.0, 0.5, 0.6, 0.7, 0.8, 0.9)]
    assert [stop for _, stop in out] == [False, False, False, False, True, True]
    assert [keep for keep, _ in out] == [True, True, False, False, False, False]


def test_a_near_best_epoch_resets_the_count_and_state_round_trips():
    s = NearBestStopper(patience=2, tolerance=0.05)
    s.update(1.0)
    s.update(1.2)  # bad 1
    assert s.update(1.04) == (True, False)  # within 5%: kept, count reset
    s.update(1.3)
    t = NearBestStopper(patience=2, tolerance=0.05)
    t.load_state_dict(s.state_dict())
    assert t.update(1.3) == (False, True)  # the second bad epoch in a row, after a resume


def test_zero_tolerance_is_the_classic_rule_and_nan_counts_as_bad():
    s = NearBestStopper(patience=1, tolerance=0.0)
    assert s.update(1.0) == (True, False)
    assert s.update(1.0) == (True, False)  # equal to the best: not rising
    assert s.update(math.nan) == (False, True)
    with pytest.raises(ValueError):
        NearBestStopper(patience=0)


@pytest.mark.parametrize("bad", [{"stop_tolerance": -0.1}, {"stop_tolerance": 1.5}, {"patience": 0}])
def test_config_refuses_bad_stopping_settings(bad):
    from benthos.errors import ConfigError
    from benthos.train.config import TrainConfig

    with pytest.raises(ConfigError):
        TrainConfig(data="x", **bad).validate()
