import pytest


@pytest.fixture(autouse=True)
def _detectors_in_pytorch_unless_a_test_says(monkeypatch):
    """Detector tests run their trunk in PyTorch: exporting each tiny test detector to ONNX would add seconds
    to every one of them. tests/detect/test_onnx_trunk.py tests the ONNX Runtime backend and the CPU default."""
    from benthos.detect import onnx_trunk

    monkeypatch.setattr(onnx_trunk, "CPU_DEFAULT", "torch")
