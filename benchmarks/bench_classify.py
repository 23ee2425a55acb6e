"""Classification benchmark: our defaults vs the two peers on a labelled patch folder.

    python benchmarks/bench_classify.py --data ../shared/data/ccr_benthic_patches --out .bench/cls

1. a seeded, stratified (and grouped, where groups exist) 70/30 split of DATA;
2. ours: `benthos train` with default settings on the 70% (it carves its own validation
   set from it for early stopping), tested on the 30%;
3. peer A, CoralNet/pyspacer style: frozen ImageNet EfficientNet-Lite0 features + logistic regression;
4. peer B, the lecture's plain fine-tune: timm Lite0, AdamW one-cycle, flips + colour jitter, batch 32;
5. --strategies: every transfer-learning strategy with a short budget, and the linear-probe cache speed-up;
6. --overhead: images/s of our Lightning fit vs a bare PyTorch loop (same model, batch, threads, data).
7. --peers-on RUN: train the peers on exactly the images RUN trained on (its split.json "train",
   i.e. without the patches it held out for validation), to tell recipe from amount of data.
Prints markdown tables; BENCHMARKS.md quotes them.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path

import torch


def write_manifest(path: Path, samples) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "group"])
        for s in samples:
            w.writerow([str(Path(s.path).resolve()), s.label, s.group or Path(s.path).stem])


def split_70_30(data_path: str, out: Path, seed: int):
    from benthos.data import load_classification, split_samples

    data = load_classification(data_path)
    split = split_samples(data.samples, {"train": 0.7, "test": 0.3}, seed=seed, grouped=True)
    train = [data.samples[i] for i in split["train"]]
    test = [data.samples[i] for i in split["test"]]
    write_manifest(out / "train70.csv", train)
    write_manifest(out / "test30.csv", test)
    return data, train, test


def ours(out: Path, minutes: float | None, **overrides) -> dict:
    from benthos.tasks import evaluate_run
    from benthos.train import TrainConfig, train

    run = out / ("ours" if not overrides else "strategy_" + overrides.get("strategy", "x"))
    cfg = TrainConfig(data=str(out / "train70.csv"), out=str(run), test_fraction=0.0, max_minutes=minutes, report=False,
                      allow_outside_paths=True, **overrides)  # our own manifests name the data set where it lies
    t = time.time()
    meta = train(cfg)
    train_s = time.time() - t
    ev = evaluate_run(run, str(out / "test30.csv"), allow_outside=True)
    return {"accuracy": ev["accuracy"], "balanced_accuracy": ev["balanced_accuracy"], "macro_f1": ev["macro_f1"],
            "train_min": train_s / 60, "epochs": meta["timings"].get("epochs"), "timings": meta["timings"]}


def _lite0(num_classes: int):
    from benthos.models import create_model

    return create_model("efficientnet_lite0", weights="imagenet", num_classes=num_classes)


def peer_linear(train, test, classes) -> dict:
    """CoralNet-style: features of the frozen ImageNet backbone, then logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from benthos.models import preprocessing
    from benthos.train.probe import extract_features

    t = time.time()
    model = _lite0(len(classes))
    idx = {c: i for i, c in enumerate(classes)}
    pre = preprocessing("efficientnet_lite0")
    xtr, ytr = extract_features(model, train, idx, pre)
    xte, yte = extract_features(model, test, idx, pre)
    scaler = StandardScaler().fit(xtr.numpy())
    clf = LogisticRegression(max_iter=3000, C=0.5).fit(scaler.transform(xtr.numpy()), ytr.numpy())
    acc = float((clf.predict(scaler.transform(xte.numpy())) == yte.numpy()).mean())
    return {"accuracy": acc, "train_min": (time.time() - t) / 60}


def _peer_test_tf():
    """The peer's evaluation transform: the whole patch resized to 224 x 224, ImageNet normalised."""
    from torchvision.transforms import v2

    from benthos.models import preprocessing

    pre = preprocessing("efficientnet_lite0")
    return [v2.Resize((224, 224)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(pre["mean"], pre["std"])]


def peer_test_loader(test, classes):
    from torchvision.transforms import v2

    from benthos.data import ImageDataset

    idx = {c: i for i, c in enumerate(classes)}
    return torch.utils.data.DataLoader(ImageDataset(test, idx, v2.Compose(_peer_test_tf())), 64, num_workers=1)


def _plain_loaders(train, test, classes, batch: int = 32):
    from torchvision.transforms import v2

    from benthos.data import ImageDataset

    resize, *norm = _peer_test_tf()
    ttf = v2.Compose([resize, v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(), v2.ColorJitter(0.2, 0.2, 0.2), *norm])
    idx = {c: i for i, c in enumerate(classes)}
    tl = torch.utils.data.DataLoader(ImageDataset(train, idx, ttf), batch, shuffle=True, drop_last=True, num_workers=1,
                                     persistent_workers=True)
    return tl, peer_test_loader(test, classes)


# Views of the peer's model, as indices into our 8 test-time views (benthos.infer.predict.tta_views
# "dihedral": 4 rotations, then the same mirrored): the peer as specified scores one view; "flip4"
# holds only the views it trained with (itself, both flips = rotation by 180, each flip alone)
PEER_VIEWS = {"none": [0], "flip4": [0, 2, 4, 6], "dihedral": list(range(8))}


def peer_view_logits(model, loader, views=PEER_VIEWS["dihedral"]) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits for ``views`` of our 8 test-time views (len(views) x N x C), and the labels."""
    from benthos.infer.predict import tta_views

    model.eval()
    out, ys = [], []
    with torch.inference_mode():
        for x, y in loader:
            all_views = tta_views(x, "dihedral")
            out.append(torch.stack([model(all_views[i]) for i in views]))
            ys.append(y)
    return torch.cat(out, 1), torch.cat(ys)


def peer_finetune(train, test, classes, epochs: int, seed: int = 0, save: Path | None = None) -> dict:
    """The lecture's plain recipe in a bare PyTorch loop: AdamW, one-cycle, flips + colour jitter, batch 32.
    ``seed``: its training randomness (head init, batch order, augmentation); the split is fixed by --seed."""
    torch.manual_seed(seed)
    model = _lite0(len(classes))
    tl, el = _plain_loaders(train, test, classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=epochs * len(tl))
    t = time.time()
    images = 0
    for _ in range(epochs):
        model.train()
        for x, y in tl:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            images += len(y)
    train_s = time.time() - t
    logits, y = peer_view_logits(model, el)
    acc = {k: float((logits[v].mean(0).argmax(-1) == y).float().mean()) for k, v in PEER_VIEWS.items()}
    if save:  # for benchmarks/cls_paired.py; the class order travels with the weights
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(save), metadata={"classes": json.dumps(list(classes))})
    return {"accuracy": acc["none"], "train_min": train_s / 60, "epochs": epochs, "images_per_s": images / train_s,
            **{f"accuracy_tta_{k}": a for k, a in acc.items() if k != "none"}}


def overhead(out: Path, train, classes, epochs: int = 2) -> dict:
    """Framework overhead: the same model/batch/data through Lightning (ours) and a bare loop."""
    from benthos.data import ImageDataset, build_transforms
    from benthos.models import preprocessing
    from benthos.train import TrainConfig
    from benthos.train.engine import fit_classifier

    pre = {**preprocessing("efficientnet_lite0"), "input_size": 224}
    idx = {c: i for i, c in enumerate(classes)}
    cfg = TrainConfig(data="-", out=str(out / "overhead"), epochs=epochs, ema_decay=0.0, patience=99, num_workers=1)
    model = _lite0(len(classes))
    t = time.time()
    fit_classifier(model, cfg, train, train[:64], idx, pre, out / "overhead")
    light = time.time() - t
    # the bare loop: identical transforms, loader, optimiser groups and channels-last
    from benthos.train.module import stage_param_groups

    model = _lite0(len(classes)).to(memory_format=torch.channels_last)
    tf = build_transforms(224, pre["mean"], pre["std"], train=True)
    vtf = build_transforms(224, pre["mean"], pre["std"], train=False)
    tl = torch.utils.data.DataLoader(ImageDataset(train, idx, tf), 32, shuffle=True, drop_last=True, num_workers=1)
    vl = torch.utils.data.DataLoader(ImageDataset(train[:64], idx, vtf), 64, num_workers=1)
    opt = torch.optim.AdamW(stage_param_groups(model, cfg))
    t = time.time()
    for _ in range(epochs):
        model.train()
        for x, y in tl:
            x = x.contiguous(memory_format=torch.channels_last)
            loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            for x, y in vl:
                model(x.contiguous(memory_format=torch.channels_last))
    bare = time.time() - t
    n = len(tl) * 32 * epochs
    return {"lightning_images_per_s": n / light, "bare_images_per_s": n / bare, "overhead": light / bare - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=".bench/classify")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=None, help="cap on our training time (default: none)")
    ap.add_argument("--peer-epochs", type=int, default=8)
    ap.add_argument("--peer-seed", type=int, default=0,
                    help="training seed of the fine-tune peer (its run-to-run spread on one split)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["ours", "linear", "finetune"])
    ap.add_argument("--strategies", action="store_true", help="also run each strategy with a short budget")
    ap.add_argument("--strategy-minutes", type=float, default=5)
    ap.add_argument("--skip-strategies", nargs="*", default=[])
    ap.add_argument("--overhead", action="store_true")
    ap.add_argument("--peers-on", metavar="RUN", help="train the peers on the images this run trained on "
                    "(its split.json 'train') instead of the whole 70%%")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data, train, test = split_70_30(args.data, out, args.seed)
    classes = data.classes
    print(f"# {args.data}: {len(data.samples)} images, {len(classes)} classes; 70/30 split: {len(train)} train, {len(test)} test")
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}\n")
    results = {}
    peer_train, on = train, ""
    if args.peers_on:
        from benthos.data import load_split

        peer_train = load_split(Path(args.peers_on) / "split.json")["train"]
        on = f", on {args.peers_on}'s {len(peer_train)} training images"
        print(f"peers train on the {len(peer_train)} images {args.peers_on} trained on")
    if "ours" not in args.skip:
        results["benthos defaults (Lite0 fine-tune)"] = ours(out, args.minutes)
    if "linear" not in args.skip:
        results[f"peer: Lite0 features + logistic regression{on}"] = peer_linear(peer_train, test, classes)
    if "finetune" not in args.skip:
        seed = f", training seed {args.peer_seed}" if args.peer_seed else ""
        results[f"peer: plain timm fine-tune, {args.peer_epochs} epochs{on}{seed}"] = peer_finetune(
            peer_train, test, classes, args.peer_epochs, args.peer_seed,
            save=out / f"peer_finetune_e{args.peer_epochs}_s{args.peer_seed}.safetensors")
    print("| method | test accuracy | balanced acc. | train time (min) | epochs |")
    print("|---|---|---|---|---|")
    for k, r in results.items():
        print(f"| {k} | {r['accuracy']:.3f} | {r.get('balanced_accuracy', float('nan')):.3f} | {r['train_min']:.1f} | {r.get('epochs', '-')} |")
        if "accuracy_tta_dihedral" in r:
            print(f"|   (same model, test-time views: 4 flips {r['accuracy_tta_flip4']:.3f}, "
                  f"8 rotations and flips {r['accuracy_tta_dihedral']:.3f}) | | | | |")
    if args.strategies:
        print("\n| strategy | test accuracy | train time (min) | epochs | notes |")
        print("|---|---|---|---|---|")
        # fine-tune is the default recipe: its row is the "benthos defaults" run above
        for strategy, extra in [(s, e) for s, e in (("linear-probe", {}), ("freeze-bottom", {"freeze_bottom": 4}),
                                                    ("gradual", {}), ("scratch", {})) if s not in args.skip_strategies]:
            r = ours(out, args.strategy_minutes, strategy=strategy, **extra)
            t = r["timings"]
            note = (f"first epoch {t['first_epoch_s']:.1f} s (feature cache), later epochs {t['later_epoch_s'] * 1000:.1f} ms: "
                    f"{t['speedup_after_first']:.0f}x faster" if strategy == "linear-probe" else
                    f"{t.get('train_images_per_s', 0):.1f} train images/s")
            print(f"| {strategy}{' ' + str(extra) if extra else ''} | {r['accuracy']:.3f} | {r['train_min']:.1f} | {r['epochs']} | {note} |")
            results[f"strategy {strategy}"] = r
    if args.overhead:
        o = overhead(out, train, classes)
        print(f"\nframework overhead: Lightning {o['lightning_images_per_s']:.1f} img/s vs bare loop "
              f"{o['bare_images_per_s']:.1f} img/s -> {o['overhead'] * 100:+.1f}%")
        results["overhead"] = o
    # rows of earlier invocations on this OUT (e.g. --strategies, --peers-on) are kept, so the
    # file is replaced atomically: a kill while writing must not lose them
    from benthos.runs.atomic import atomic_write_text

    results_file = out / "results.json"
    earlier = json.loads(results_file.read_text()) if results_file.is_file() else {}
    atomic_write_text(results_file, json.dumps({**earlier, **results}, indent=2, default=str))


if __name__ == "__main__":
    main()
