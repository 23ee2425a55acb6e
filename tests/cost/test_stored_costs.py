"""The shipped cost figures (models/costs.json) are what a fresh count gives; `models list` reads them."""
import json

import pytest

from benthos.cost.stored import COSTS_FILE, count_cost, model_costs, stored_costs
from benthos.models import list_models

SMALL = ["lenet5", "mobilenet_v3_small", "squeezenet1_0", "shufflenet_v2_x1_0", "efficientnet_lite0"]


def test_every_registered_model_is_stored():
    assert set(stored_costs()) == set(list_models())
    assert json.loads(COSTS_FILE.read_text())["format"] == 1


@pytest.mark.parametrize("name", SMALL)
def test_stored_figures_match_a_fresh_count(name):
    assert stored_costs()[name] == count_cost(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in list_models() if n not in SMALL])
def test_stored_figures_match_a_fresh_count_whole_zoo(name):
    assert stored_costs()[name] == count_cost(name)


def test_models_list_counts_nothing_it_has_stored(monkeypatch, capsys):
    import benthos.cost.stored as stored
    from benthos.cli.main import main

    def no_count(name):
        raise AssertionError(f"{name} was counted")

    monkeypatch.setattr(stored, "count_cost", no_count)
    assert main(["models", "list", "resnet*"]) == 0
    out = capsys.readouterr()
    assert "11.69M" in out.out and "1.81G" in out.out and out.err == ""


def test_a_model_missing_from_the_file_is_counted_and_said(monkeypatch):
    lines = []
    monkeypatch.setattr("benthos.cost.stored.stored_costs", lambda: {})
    got = model_costs(["lenet5"], progress=lines.append)
    assert got["lenet5"]["params"] == 61706 and len(lines) == 1 and "lenet5" in lines[0]
