"""The detector trainer's learning-rate schedule: warm-up, then cosine decay over progress."""
import math

import pytest

from benthos.detect.engine import lr_factor


def test_warm_up_then_cosine_over_many_steps():
    # a long run: warm-up over its steps, full rate after it, 2% at the end
    assert lr_factor(0.0, 0, 100) == pytest.approx(0.01)
    assert lr_factor(0.05, 49, 100) == pytest.approx(0.5 * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * 0.05))))
    assert lr_factor(0.1, 100, 100) > 0.97
    assert lr_factor(1.0, 5000, 100) == pytest.approx(0.02)


def test_short_budget_does_not_end_inside_its_warm_up():
    # 33 steps in a 4-minute budget with a 100-step warm-up: the warm-up must end by a quarter of the run,
    # not hold the rate near zero while the cosine decays it
    rates = [lr_factor(progress=s / 33, step=s, warmup=100) for s in range(33)]
    peak = max(rates)
    assert peak > 0.7
    assert rates.index(peak) <= 33 // 4 + 1
    assert rates[-1] < 0.05
