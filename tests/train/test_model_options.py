"""Architecture options of the zoo reach training (--model-option), and the Inception family's auxiliary
heads train with their own weight (--aux-weight)."""
import json

import torch

from benthos.cli.main import main


def test_model_options_train_and_reload(colour_folder, tmp_path, capsys):
    run = tmp_path / "wrn"
    assert main(["train", str(colour_folder), "--out", str(run), "--model", "wrn28_10", "--weights", "none",
                 "--model-option", "depth=10", "--model-option", "widen=1", "--input-size", "32", "--epochs", "1",
                 "--batch-size", "8", "--num-workers", "0", "--no-report"]) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["model_options"] == {"depth": 10, "widen": 1} and meta["config"]["model_options"] == meta["model_options"]
    from benthos.runs import load_run

    model, _ = load_run(run)  # rebuilt with the options, or the weights would not fit
    assert sum(p.numel() for p in model.parameters()) < 100_000  # WRN-10-1, not WRN-28-10's 36M
    assert main(["train", str(colour_folder), "--out", str(tmp_path / "bad"), "--model", "wrn28_10",
                 "--model-option", "colour=blue"]) == 2
    assert "has no option colour" in capsys.readouterr().err


def test_auxiliary_heads_train_with_their_weight(colour_folder, tmp_path, monkeypatch):
    from benthos.train.module import ClassifierModule

    seen = []
    real = ClassifierModule.training_step

    def spy(self, batch, i):
        x, y = batch
        logits, aux = self.model.forward_with_aux(x)
        seen.append((len(aux), self.cfg.aux_weight))
        return real(self, batch, i)

    monkeypatch.setattr(ClassifierModule, "training_step", spy)
    run = tmp_path / "googlenet"
    assert main(["train", str(colour_folder), "--out", str(run), "--model", "googlenet", "--weights", "none",
                 "--model-option", "aux_logits=true", "--aux-weight", "0.5", "--input-size", "96", "--epochs", "1",
                 "--batch-size", "16", "--num-workers", "0", "--no-report"]) == 0
    assert seen and all(n == 2 and w == 0.5 for n, w in seen)  # both auxiliary classifiers, weighted 0.5
    from benthos.runs import load_run

    model, meta = load_run(run)
    assert meta["model_options"] == {"aux_logits": True}
    with torch.no_grad():
        assert model(torch.rand(2, 3, 96, 96)).shape == (2, 3)  # at test time the auxiliary heads are off
