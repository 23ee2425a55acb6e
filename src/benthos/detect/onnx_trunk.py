"""A loaded detector's trunk (backbone + FPN) run by ONNX Runtime; its heads stay in PyTorch.

What ``--backend onnx`` does for the detectors that do not export as one graph (Faster R-CNN does:
:mod:`benthos.detect.export`). An option, not their default: on this project's 2-core CPU the folded
PyTorch trunk in channels-last was as fast or faster per frame (BENCHMARKS.md), but ONNX Runtime may win
on other CPUs. The region proposals, the RoI heads, NMS and box voting stay in PyTorch, so every
detector keeps its exact post-processing. Each :class:`FeatureTrunk` of the
model is exported once (dynamic batch, height and width), checked against PyTorch on an example
frame, and kept in ``RUN/export/detector_trunk/`` beside a record naming the weights, benthos
version and settings that made it; a record that does not match is never reused (the trunk is
exported again), and a run folder that cannot be written gets a temporary copy.

:func:`use_onnx_trunk` is what :func:`benthos.detect.build.model_from_run` calls for ``backend``
"onnx" on such a detector; :func:`choose` picks the default backend.
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benthos.errors import BenthosError

TRUNK_FORMAT = 1  # bumped when the exported graph's inputs/outputs change meaning
FOLDER = "detector_trunk"
RECORD = "benthos_trunk.json"
BACKENDS = ("torch", "onnx")


class OnnxTrunk(nn.Module):
    """Stands where a :class:`~benthos.detect.backbones.FeatureTrunk` stood: NCHW float32 in, the same
    OrderedDict of feature maps out, computed by an ONNX Runtime session."""

    def __init__(self, path: Path, trunk: nn.Module, names: list[str]) -> None:
        super().__init__()
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = torch.get_num_threads()
        # PyTorch runs the heads right after each call: ONNX Runtime's threads must not spin-wait for more work
        # meanwhile, taking the cores from it (measured: the RPN and RoI heads 1.5x slower with spinning on)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.names = names
        self.path = str(path)
        for attr in ("mean", "std", "strides", "out_channels", "idx"):  # what the detector may read
            if hasattr(trunk, attr):
                setattr(self, attr, getattr(trunk, attr))

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        outs = self.session.run(None, {"image": arr})
        return OrderedDict((n, torch.from_numpy(o).to(x.device)) for n, o in zip(self.names, outs))


class _Outputs(nn.Module):
    """The trunk with a tuple out (ONNX outputs are positional)."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.trunk(x).values())


def trunks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(dotted name, module) of every FeatureTrunk in ``model``, outermost first."""
    from benthos.detect.backbones import FeatureTrunk

    found = [(n, m) for n, m in model.named_modules() if isinstance(m, FeatureTrunk)]
    return [(n, m) for n, m in found if not any(n.startswith(o + ".") for o, _ in found if o != n)]


def _export(trunk: nn.Module, path: Path, size: int) -> list[str]:
    """Write ``trunk`` as ONNX at ``path`` (dynamic batch, height, width) and return its output names,
    after checking ONNX Runtime against PyTorch on a random frame of ``size`` px."""
    import onnxruntime as ort

    example = torch.rand(1, 3, size, size + 32)
    trunk = trunk.eval().to("cpu", memory_format=torch.contiguous_format)
    with torch.no_grad():
        ref = trunk(example)
    names = list(ref.keys())
    outs = [f"features_{n}" for n in names]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Outputs(trunk), (example,), str(tmp), opset_version=17, input_names=["image"],
                          output_names=outs, dynamo=False,
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        **{o: {0: "batch", 2: f"h_{o}", 3: f"w_{o}"} for o in outs}})
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": example.numpy()})
    for n, r, g in zip(names, ref.values(), got):
        scale = float(r.abs().max()) or 1.0
        if r.shape != g.shape or float(np.abs(r.numpy() - g).max()) > 1e-3 * scale:
            tmp.unlink(missing_ok=True)
            raise BenthosError(f"the exported trunk's feature map {n!r} differs from PyTorch's "
                               f"(max difference {float(np.abs(r.numpy() - g).max()):.3g}); use --backend torch")
    tmp.replace(path)
    return names


def _record(digest: str, cfg_size: int, names: list[str]) -> dict:
    from benthos import __version__

    return {"weights_sha256": digest, "benthos": __version__, "format": TRUNK_FORMAT, "input_size": cfg_size,
            "trunks": names}


def use_onnx_trunk(model: nn.Module, run_dir: Path, digest: str, size: int) -> int:
    """Replace every FeatureTrunk of the loaded, folded ``model`` (eval mode, on the CPU) by an
    :class:`OnnxTrunk`, exported once per weights and benthos version into ``RUN/export/detector_trunk/``.
    Returns how many were replaced (0: the detector has none, it runs in PyTorch as before)."""
    from benthos.infer.backends import choose_backend

    choose_backend("onnx")  # installed, or the one-line hint every command gives
    found = trunks(model)
    if not found:
        return 0
    from benthos.infer.export import cached_folder
    from benthos.runs.atomic import atomic_write_json

    want = _record(digest, size, [n for n, _ in found])
    names = tuple(f"trunk{i}.onnx" for i in range(len(found)))

    def write(folder: Path) -> None:
        maps = [_export(t, folder / f, size) for (_, t), f in zip(found, names)]
        atomic_write_json(folder / RECORD, {**want, "maps": maps})

    def maps_in(folder: Path) -> list | None:
        maps = json.loads((folder / RECORD).read_text(encoding="utf-8")).get("maps")
        return maps if isinstance(maps, list) and len(maps) == len(found) else None

    try:
        folder = cached_folder(Path(run_dir) / "export" / FOLDER, want, names, write, record=RECORD)
        maps = maps_in(folder)
        if maps is None:  # a record of the right run whose feature-map names are damaged
            write(folder)
            maps = maps_in(folder)
    except Exception as exc:  # an operator the exporter cannot write: say which, and the way round it
        if isinstance(exc, BenthosError):
            raise
        line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BenthosError(f"this detector's trunk cannot be exported to ONNX ({line}); use --backend torch") from None
    files = [folder / f for f in names]
    for (name, trunk), f, m in zip(found, files, maps):
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], OnnxTrunk(f, trunk, m))
    return len(found)


def choose(backend: str | None, device: torch.device, whole_graph: bool = False) -> str:
    """``backend`` checked, or the default: ONNX Runtime on a CPU for a detector that exports as one graph
    (``whole_graph``, :mod:`benthos.detect.export`: measured faster, BENCHMARKS.md) when it is installed,
    else PyTorch (a trunk alone in ONNX Runtime was measured slower; module docstring)."""
    import importlib.util

    if backend is None:
        whole = whole_graph and device.type == "cpu"
        return "onnx" if whole and all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")) else "torch"
    if backend not in BACKENDS:
        raise BenthosError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "onnx" and device.type != "cpu":
        raise BenthosError(f"--backend onnx runs on the CPU; with --device {device} use --backend torch")
    return backend
