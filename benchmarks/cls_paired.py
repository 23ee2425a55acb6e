"""Is one classifier better than another on the same test patches, or is it noise? A paired test.

    python benchmarks/cls_paired.py TEST.csv --peer PEER.safetensors RUN [RUN ...]

Each RUN (a `benthos train` folder, scored with its own test-time views) is compared with the
fine-tune peer of `bench_classify.py` (its weights, saved there as
``peer_finetune_e<EPOCHS>_s<SEED>.safetensors``; one view, as the peer is specified) patch by
patch: the patches only the run gets right, only the peer gets right, and McNemar's exact
(binomial) p-value for "they are equally good". Pooled over runs, the discordant counts are
summed (the runs share the peer and the test patches, so the pooled p-value treats them as if
independent: read it as a summary, not a test). Nothing is written.
"""
import argparse
import json
import math

import numpy as np
import torch

from benthos.data import load_classification
from benthos.infer import predict_samples
from benthos.runs import load_run
from benthos.tasks import tta_of


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b and c are the two discordant counts."""
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def peer_correct(weights: str, test) -> np.ndarray:
    """Per-patch correctness of the fine-tune peer (one view, as specified), in ``test``'s order."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from bench_classify import PEER_VIEWS, peer_test_loader, peer_view_logits
    from benthos.models import create_model

    with safe_open(weights, "pt") as f:
        classes = json.loads((f.metadata() or {}).get("classes", "null"))
    if not classes:
        raise SystemExit(f"{weights}: no class list in its metadata; retrain the peer with bench_classify.py")
    model = create_model("efficientnet_lite0", weights=None, num_classes=len(classes))
    model.load_state_dict(load_file(weights))
    logits, y = peer_view_logits(model, peer_test_loader(test, classes), PEER_VIEWS["none"])
    return (logits[0].argmax(-1) == y).numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test", help="labelled test data (the split's test30.csv)")
    ap.add_argument("runs", nargs="+", help="run folders of `benthos train`")
    ap.add_argument("--peer", required=True, help="the fine-tune peer's weights (bench_classify.py saves them)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    test = load_classification(args.test, allow_outside=True).samples
    peer = peer_correct(args.peer, test)
    print(f"peer {args.peer}: accuracy {peer.mean():.3f} on {len(test)} patches")
    print("| run | run acc. | peer acc. | only the run right | only the peer right | McNemar p |")
    print("|---|---|---|---|---|---|")
    tb = tc = 0
    for run in args.runs:
        model, meta = load_run(run)
        probs, _ = predict_samples(model, test, meta["preprocessing"], tta=tta_of(meta))
        ours = np.array([meta["classes"][j] for j in probs.argmax(1)]) == np.array([s.label for s in test])
        b, c = int((ours & ~peer).sum()), int((~ours & peer).sum())
        tb, tc = tb + b, tc + c
        print(f"| {run} | {ours.mean():.3f} | {peer.mean():.3f} | {b} | {c} | {mcnemar_p(b, c):.3f} |", flush=True)
    if len(args.runs) > 1:
        print(f"| pooled | | | {tb} | {tc} | {mcnemar_p(tb, tc):.3f} (as if independent) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
