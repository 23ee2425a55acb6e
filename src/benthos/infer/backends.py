"""Where a classifier's forward pass runs: PyTorch, ONNX Runtime or OpenVINO.

Each backend is a callable from an NCHW float32 array (normalised as the run's
``preprocessing`` says) to logits, so the views, the batching and the checks around it
(:mod:`benthos.infer.views`, :func:`benthos.infer.predict.predict_samples`) are the same for
all. ONNX Runtime and OpenVINO run a model exported by :mod:`benthos.infer.export`.

On a CPU both exported backends are several times faster than PyTorch eager on the zoo's
mobile networks (BENCHMARKS.md, "Prediction speed"), ONNX Runtime the fastest of the three
there, so the default is the first installed of ``CPU_PREFERENCE``; beside a GPU PyTorch
runs the model on it.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benthos.errors import BenthosError

BACKENDS = ("torch", "onnx", "openvino")
CPU_PREFERENCE = ("onnx", "openvino", "torch")  # fastest first, as measured on a CPU
_MODULE = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}
_INSTALL = {"onnx": "pip install onnx onnxruntime", "openvino": "pip install 'benthos[openvino]'"}
MAX_BATCH = 32  # rows per call: the views of a batch go in one call, split to bound memory (ONNX Runtime holds ~11 MB of activations per row for Lite0)

Forward = Callable[[np.ndarray], np.ndarray]


def installed(name: str) -> bool:
    """Whether the backend's runtime (and, for the exported ones, the ``onnx`` package that writes them) imports."""
    mods = [_MODULE[name]] + (["onnx"] if name != "torch" else [])
    return all(importlib.util.find_spec(m) is not None for m in mods)


def choose_backend(requested: str | None = None, device=None) -> str:
    """``requested`` (checked: known and installed), else PyTorch beside a GPU, else the fastest installed."""
    if requested:
        if requested not in BACKENDS:
            raise BenthosError(f"backend {requested!r}: choose one of {', '.join(BACKENDS)}")
        if not installed(requested):
            raise BenthosError(f"backend {requested!r} is not installed here: {_INSTALL[requested]} "
                               "(or use --backend torch)")
        return requested
    from benthos.infer.device import pick_device

    if pick_device(device).type != "cpu":
        return "torch"
    return next(b for b in CPU_PREFERENCE if installed(b))


def _chunked(run: Forward, max_batch: int = MAX_BATCH) -> Forward:
    def forward(x: np.ndarray) -> np.ndarray:
        if len(x) <= max_batch:
            return run(x)
        return np.concatenate([run(x[i:i + max_batch]) for i in range(0, len(x), max_batch)])

    return forward


def torch_forward(model, device=None, channels_last: bool = True) -> Forward:
    """PyTorch eager on ``device`` (:func:`benthos.infer.device.pick_device`), channels-last (about twice
    as fast on a CPU for most CNNs here)."""
    import torch

    from benthos.infer.device import pick_device

    dev = pick_device(device)
    model.eval()
    # moved outside inference mode, so that the parameters stay ordinary (trainable) tensors
    model = model.to(dev, memory_format=torch.channels_last) if channels_last else model.to(dev)

    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).to(dev, non_blocking=True)
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return model(t).float().cpu().numpy()

    return _chunked(run)


def onnx_forward(path: str | Path, threads: int | None = None) -> Forward:
    """ONNX Runtime's CPU provider on the ``.onnx`` file at ``path``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    return _chunked(run)


def openvino_forward(path: str | Path, threads: int | None = None) -> Forward:
    """OpenVINO's CPU plugin on an IR (``.xml``) or ``.onnx`` file."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return request.get_output_tensor(0).data.copy()

    return _chunked(run)
