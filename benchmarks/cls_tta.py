"""What do the test-time views buy? Accuracy, NLL and speed of trained classifiers with
TTA none / flip / dihedral (the 8 rotations and mirrors, the default for seafloor runs).

    python benchmarks/cls_tta.py TEST.csv RUN [RUN ...]

Each run is scored on TEST.csv three times with its own calibration temperature (fitted with
the run's TTA, so the NLL of the other modes is slightly pessimistic). Nothing is written.

Measured 2026-12-04 on the three CCR splits (`--balance none` runs, 319 test patches each,
2 CPU threads): dihedral 0.934 / 0.925 / 0.918 at 7-8 images/s, flip 0.912 / 0.887 / 0.897
at 29-30 images/s, none 0.906 / 0.884 / 0.878 at 48-54 images/s.
"""
import argparse
import time

import numpy as np
import torch

from benthos.data import load_classification
from benthos.infer import predict_samples
from benthos.runs import load_run
from benthos.tasks import TTA_MODES, temperature_of
from benthos.train.calibrate import nll


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test", help="labelled test data (CSV manifest, folder, ...)")
    ap.add_argument("runs", nargs="+", help="run folders of `benthos train`")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    test = load_classification(args.test, allow_outside=True).samples
    for run in args.runs:
        model, meta = load_run(run)
        known = [s for s in test if s.label in meta["classes"]]
        y = np.array([meta["classes"].index(s.label) for s in known])
        for mode in reversed(TTA_MODES):
            t = time.time()
            p, logits = predict_samples(model, known, meta["preprocessing"], tta=mode, temperature=temperature_of(meta))
            dt = time.time() - t
            print(f"{run}: tta {mode:8s} acc {(p.argmax(1) == y).mean():.3f} "
                  f"nll {nll(logits, y, temperature_of(meta)):.3f} "
                  f"{len(y) / dt:.1f} images/s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
