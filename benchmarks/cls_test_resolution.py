"""Does a trained classifier do better when tested at another input size? (FixRes check)

    python benchmarks/cls_test_resolution.py RUN TEST.csv

Training crops are random resized crops (scale 0.5-1), so objects look larger in training than
at test time; testing at a higher resolution sometimes makes up for it (Touvron et al. 2019).
Scores RUN's validation split (to choose) and TEST.csv (to confirm) at several input sizes and
eval crop fractions, with the run's TTA, and prints accuracy and NLL for each.

Measured 2026-11-27 on .bench/cls/ours (CCR patches, 224 px), .bench/cls/test30.csv:
    224 0.875  val acc 0.890 nll 0.450 | test acc 0.922 nll 0.383   (the default)
    224 1.0    val acc 0.843 nll 0.574 | test acc 0.887 nll 0.474
    256 0.875  val acc 0.913 nll 0.475 | test acc 0.922 nll 0.420
    256 1.0    val acc 0.898 nll 0.463 | test acc 0.928 nll 0.402
    288 1.0    val acc 0.890 nll 0.485 | test acc 0.928 nll 0.433
No size beats the default on validation NLL; accuracy moves by 2 test patches at most. Not adopted.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

import benthos.infer.predict as P
from benthos.data import load_classification, load_split
from benthos.runs import load_run

torch.set_num_threads(2)
run = Path(sys.argv[1])
model, meta = load_run(run)
test = load_classification(sys.argv[2], allow_outside=True).samples
val = load_split(run / "split.json")["val"]
cls = meta["classes"]
for size, cf in [(224, 0.875), (224, 1.0), (256, 0.875), (256, 1.0), (288, 1.0)]:
    pre = dict(meta["preprocessing"], input_size=size, crop_fraction=cf)
    res = []
    t = time.time()
    for name, s in (("val", val), ("test", test)):
        probs, _ = P.predict_samples(model, s, pre, tta=meta.get("tta", "none"))
        acc = np.mean([cls[i] == x.label for i, x in zip(probs.argmax(1), s)])
        nll = -np.mean([np.log(probs[k, cls.index(x.label)] + 1e-12) for k, x in enumerate(s)])
        res.append(f"{name} acc {acc:.3f} nll {nll:.3f}")
    print(size, cf, " | ".join(res), f"{time.time() - t:.0f}s", flush=True)
