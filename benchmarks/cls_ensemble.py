"""Would averaging several trained classifiers beat each of them? (ensemble check)

    python benchmarks/cls_ensemble.py TEST.csv RUN [RUN ...]

Scores each run on TEST.csv with its own TTA, then the average of the runs' logits (each
divided by its fitted temperature, so a sharper member does not dominate) and prints test
accuracy, balanced accuracy and NLL for every member and for the average. The runs must
share their class list. Nothing is written.

Measured 2026-12-04 on the seed-0 CCR split (.bench/cls_seed0/test30.csv, 319 patches), two
runs trained on different 616-patch subsets (a mixup run, seed 0; a default run, `--seed 1`):
    .bench/cls_seed0_mix: acc 0.912 bal 0.914 nll 0.342
    .bench/cls_seed0_s1:  acc 0.871 bal 0.875 nll 0.368
    mean of 2:            acc 0.906 bal 0.908 nll 0.304
The average beats the members' mean accuracy (0.891) and both members' NLL; this check led to
`benthos train --members` (cross-fitted ensembles, benthos.train.ensemble).
"""
import argparse
import sys
import time

import numpy as np
import torch

from benthos.data import load_classification
from benthos.evaluate import evaluate_by_name
from benthos.infer import predict_samples
from benthos.runs import load_run
from benthos.tasks import temperature_of
from benthos.train.calibrate import nll


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test", help="labelled test data (CSV manifest, folder, ...)")
    ap.add_argument("runs", nargs="+", help="run folders of `benthos train`")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    test = load_classification(args.test, allow_outside=True).samples
    classes, scaled = None, []
    for run in args.runs:
        t = time.time()
        model, meta = load_run(run)
        if classes is None:
            classes = meta["classes"]
        elif meta["classes"] != classes:
            sys.exit(f"{run}: its classes differ from {args.runs[0]}'s; runs of one data set are needed")
        _, logits = predict_samples(model, test, meta["preprocessing"], tta=meta.get("tta", "none"))
        scaled.append(logits / temperature_of(meta))
        report(run, scaled[-1], test, classes, time.time() - t)
    report(f"mean of {len(scaled)}", np.mean(scaled, 0), test, classes, 0.0)
    return 0


def report(name, logits, test, classes, seconds):
    probs = torch.as_tensor(logits).softmax(-1).numpy()
    ev = evaluate_by_name([s.label for s in test], probs, classes)
    idx = {c: i for i, c in enumerate(classes)}
    known = [i for i, s in enumerate(test) if s.label in idx]
    y = np.array([idx[test[i].label] for i in known])
    print(f"{name}: acc {ev['accuracy']:.3f} bal {ev['balanced_accuracy']:.3f} "
          f"nll {nll(logits[known], y):.3f} ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
