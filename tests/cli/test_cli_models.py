import json

from benthos.cli.main import main


def test_models_list_filters(capsys):
    assert main(["models", "list", "resnet1*", "--no-cost"]) == 0
    out = capsys.readouterr().out
    assert "resnet18" in out and "resnet101" in out and "vgg16" not in out


def test_models_info_json(capsys):
    assert main(["models", "info", "mobilenet_v2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["name"] == "mobilenet_v2" and abs(d["params"] - 3.5e6) < 0.1e6 and abs(d["macs"] - 300e6) < 10e6
    assert d["published"]["params"] == 3_500_000 and d["layers"]


def test_models_info_table_and_input_size(capsys):
    assert main(["models", "info", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "6x28x28" in out and "total at 32x32, 10 classes" in out


def test_unknown_model_is_one_line_error(capsys):
    assert main(["models", "info", "resnet5O"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Did you mean: resnet50" in err


def test_input_too_small(capsys):
    assert main(["models", "info", "xception", "--input-size", "40"]) == 2
    assert "at least 71" in capsys.readouterr().err


def test_cost_examples(capsys):
    assert main(["cost", "examples", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6 and rows[0]["baseline_macs"] == 120_422_400


def test_models_compare(capsys):
    assert main(["models", "compare", "mobilenet_v3_small", "squeezenet1_0", "--input-size", "64", "--repeats", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["mobilenet_v3_small", "squeezenet1_0"] and all(r["latency_ms"] > 0 for r in rows)


def test_models_info_shows_published_figures_only_for_the_published_configuration(capsys):
    assert main(["models", "info", "mobilenet_v2", "--option", "width_mult=0.5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["published"] is None and d["options"] == {"width_mult": 0.5} and d["params"] < 3.0e6
    assert main(["models", "info", "mobilenet_v2", "--input-size", "160"]) == 0
    out = capsys.readouterr().out
    assert "published:" not in out and "the published figures are for 224 px, 1000 classes" in out
    assert main(["models", "info", "mobilenet_v2"]) == 0
    assert "published: 3.50M params, 300.00M MACs" in capsys.readouterr().out
