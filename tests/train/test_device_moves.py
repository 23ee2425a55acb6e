"""Models are moved between devices outside inference mode.

A parameter moved (to a GPU, back to the CPU, or to channels-last) inside torch.inference_mode()
becomes an inference tensor: it takes no gradient afterwards, so a linear-probe head trained after
a GPU feature cache silently stayed at its random init (seen on an H200: held-out accuracy 0.04).
On a CPU-only machine the device moves are no-ops, so this checks the rule itself."""
import pytest
import torch

from benthos.data import Sample
from benthos.infer import predict_samples
from benthos.models import create_model
from benthos.train.probe import extract_features

PRE = {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "crop_fraction": 1.0, "in_chans": 3}


@pytest.fixture
def moves(monkeypatch):
    seen = []
    real = torch.nn.Module.to

    def to(self, *args, **kw):
        seen.append(torch.is_inference_mode_enabled())
        return real(self, *args, **kw)

    monkeypatch.setattr(torch.nn.Module, "to", to)
    return seen


def _samples(folder):
    return [Sample(path=p, label=p.parent.name) for p in sorted(folder.rglob("*.jpg"))[:6]]


def test_predict_and_feature_cache_move_models_outside_inference_mode(colour_folder, moves):
    model = create_model("lenet5", weights=None, in_chans=3)
    model.reset_classifier(3)
    samples = _samples(colour_folder)
    probs, _ = predict_samples(model, samples, PRE, device="cpu")
    assert probs.shape == (6, 3)
    feats, labels = extract_features(model, samples, {s.label: i for i, s in enumerate(samples)}, PRE)
    assert feats.shape[0] == 6 and len(labels) == 6
    assert moves and not any(moves)
    assert not any(p.is_inference() for p in model.parameters())
    # the head still trains after both: a gradient reaches it
    model.train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert model.head.weight.grad is not None


def test_loader_workers_by_device(monkeypatch):
    """Classifier training reads images in one worker on a CPU (as before) and up to 4 beside a GPU."""
    from benthos.errors import ConfigError
    from benthos.train.config import TrainConfig

    cfg = TrainConfig(data="x")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cfg.loader_workers() == 1 and not cfg.on_gpu()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cfg.on_gpu() and 1 <= cfg.loader_workers() <= 4
    assert TrainConfig(data="x", accelerator="cpu").loader_workers() == 1
    assert TrainConfig(data="x", num_workers=0).loader_workers() == 0
    with pytest.raises(ConfigError, match="num_workers"):
        TrainConfig(data="x", num_workers=-1).validate()


def test_prediction_reads_images_in_the_main_process_on_a_cpu_and_in_workers_when_asked(colour_folder, monkeypatch):
    import benthos.infer.predict as P

    made = []
    real = torch.utils.data.DataLoader

    def loader(*a, **kw):
        made.append(kw["num_workers"])
        return real(*a, **kw)

    monkeypatch.setattr(P.torch.utils.data, "DataLoader", loader)
    model = create_model("lenet5", weights=None, in_chans=3)
    model.reset_classifier(3)
    samples = _samples(colour_folder)
    a, _ = predict_samples(model, samples, PRE, device="cpu")
    b, _ = predict_samples(model, samples, PRE, device="cpu", num_workers=1)
    assert made == [0, 1] and torch.allclose(torch.from_numpy(a), torch.from_numpy(b))
