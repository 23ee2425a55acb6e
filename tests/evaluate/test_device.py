"""Where inference runs: pick_device's choice, its overrides and its messages."""
import pytest
import torch

from benthos.errors import BenthosError
from benthos.infer.device import model_device, pick_device


def test_auto_is_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.delenv("BENTHOS_DEVICE", raising=False)
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("auto") == pick_device()


def test_environment_and_argument_override(monkeypatch):
    monkeypatch.setenv("BENTHOS_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("BENTHOS_DEVICE", "not-a-device")
    with pytest.raises(BenthosError, match="not a device name"):
        pick_device()
    assert pick_device("CPU") == torch.device("cpu")  # the argument wins over the environment


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_refused_without_a_gpu():
    with pytest.raises(BenthosError, match="no CUDA GPU"):
        pick_device("cuda")


def test_model_device():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


@pytest.mark.skipif(bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
                    reason="needs a machine without Apple's MPS")
def test_mps_refused_where_absent():
    with pytest.raises(BenthosError, match="MPS backend is not available"):
        pick_device("mps")
