"""Zoo cost table: params and multiply-adds (counted) beside the published figures, and
measured CPU latency with and without channels-last memory format.

    python benchmarks/bench_zoo.py                     # every model, batch 1, native input size
    python benchmarks/bench_zoo.py resnet50 mobilenet_v2 --repeats 10
"""
from __future__ import annotations

import argparse
import platform

import torch

from benthos.cost import profile_model
from benthos.cost.profile import measure_latency
from benthos.models import create_model, list_models, model_card


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-latency", action="store_true")
    args = ap.parse_args()
    names = args.names or list_models()
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}\n")
    print("| model | input | params | published | MACs | published | latency (ms) contiguous | channels-last | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        card = model_card(n)
        cost = profile_model(n)
        pub_p = f"{card.params_m:.1f}M" if card.params_m else "-"
        pub_m = f"{card.macs_g:.3g}G" if card.macs_g else "-"
        lat = ""
        if not args.no_latency:
            model = create_model(n)
            shape = (card.in_chans, card.input_size, card.input_size)
            a = measure_latency(model, shape, repeats=args.repeats, channels_last=False)
            b = measure_latency(create_model(n), shape, repeats=args.repeats, channels_last=True)
            lat = f"{a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.2f}x"
        else:
            lat = "- | - | -"
        print(f"| {n} | {card.input_size} | {cost.params / 1e6:.2f}M | {pub_p} | {cost.macs / 1e9:.3f}G | {pub_m} | {lat} |", flush=True)


if __name__ == "__main__":
    main()
