"""How close do the zoo's prediction backends come to this CPU's arithmetic limit?

    python benchmarks/bench_flops.py [MODEL ...] [--batch 32] [--repeats 3]

The limit is measured, not quoted: a large matrix multiply (2048 x 2048, PyTorch fp32, and ONNX
Runtime's u8 x s8 MatMulInteger for INT8), the best of ``--repeats``. Each model (random weights:
speed does not depend on them) then runs batches of ``--batch`` images at its native input size in
PyTorch eager (NCHW and channels-last), ONNX Runtime fp32 and INT8 (static QDQ, ranges from random
images) and OpenVINO fp32 and INT8 when installed; achieved GFLOP/s = images/s x 2 x multiply-adds
(models/costs.json), and its share of the matching peak.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODELS = ["efficientnet_lite0", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet50"]


def best_rate(fn, work: float, repeats: int) -> float:
    """``work`` units per second, best of ``repeats`` timed calls after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return work / best


def matmul_peaks(repeats: int, n: int = 2048) -> dict[str, float]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a, b = torch.randn(n, n), torch.randn(n, n)
    fp32 = best_rate(lambda: torch.mm(a, b), 2 * n**3, repeats) / 1e9
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "mm",
                              [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n]),
                               helper.make_tensor_value_info("B", TensorProto.INT8, [n, n])],
                              [helper.make_tensor_value_info("Y", TensorProto.INT32, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"A": rng.integers(0, 255, (n, n), dtype=np.uint8), "B": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    int8 = best_rate(lambda: sess.run(None, feeds), 2 * n**3, repeats) / 1e9
    onnx.checker.check_model(model)
    return {"fp32": fp32, "int8": int8}


def model_rates(name: str, batch: int, repeats: int) -> dict[str, float]:
    from benthos.infer.backends import installed, onnx_forward, openvino_forward
    from benthos.infer.export import export_onnx, quantize_onnx
    from benthos.models import create_model, model_card

    card = model_card(name)
    shape = (card.in_chans, card.input_size, card.input_size)
    x = torch.randn(batch, *shape)
    model = create_model(name).eval()
    rates = {}
    with torch.inference_mode():
        rates["torch NCHW"] = best_rate(lambda: model(x), batch, repeats)
        cl = model.to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        rates["torch channels-last"] = best_rate(lambda: cl(xc), batch, repeats)
    tmp = Path(tempfile.mkdtemp(prefix="flops_"))
    fp32 = export_onnx(create_model(name).eval(), tmp / "fp32.onnx", {"input_size": card.input_size, "in_chans": card.in_chans})
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((8, *shape)).astype(np.float32) for _ in range(4)]
    int8 = quantize_onnx(fp32, tmp / "int8.onnx", calib)
    xn = x.numpy()
    for label, path in (("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
        f = onnx_forward(path)
        rates[label] = best_rate(lambda: f(xn), batch, repeats)
    if installed("openvino"):
        for label, path in (("openvino fp32", fp32), ("openvino int8", int8)):
            f = openvino_forward(path)
            rates[label] = best_rate(lambda: f(xn), batch, repeats)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from benthos.cost.stored import model_costs

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); load average {os.getloadavg()[0]:.1f}")
    peak = matmul_peaks(args.repeats)
    print(f"measured matrix-multiply peak: fp32 {peak['fp32']:.1f} GFLOP/s (torch.mm), "
          f"int8 {peak['int8']:.1f} GOP/s (onnxruntime MatMulInteger), 2048 x 2048\n")
    costs = model_costs(args.models)
    print(f"| model | MACs | backend | images/s (batch {args.batch}) | GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        flops = 2 * costs[name]["macs"]
        for backend, rate in model_rates(name, args.batch, args.repeats).items():
            g = rate * flops / 1e9
            ref = peak["int8" if "int8" in backend else "fp32"]
            print(f"| {name} | {costs[name]['macs'] / 1e9:.2f}G | {backend} | {rate:.1f} | {g:.1f} | {g / ref:.0%} |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
