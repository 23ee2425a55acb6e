"""Training on CoralNet-style points from large survey photos: patches cut once vs every epoch.

Builds a survey of 12.6-megapixel photos (4096 x 3072 mosaics of 16 different 1024 x 768 photos
from an image folder, JPEG quality 90, so they hold real detail) with random points labelled by
the mosaic tile they fall in, then trains the default classifier for a few epochs twice: as
`benthos train` does (each photo decoded once, its patches cut into files,
:mod:`benthos.data.patchcache`) and as it did before (every patch cut from a freshly decoded photo
at every visit). Prints training time and images/s for both and checks the histories match.

    python benchmarks/bench_patch_cache.py ../shared/data/aquarium_train/images --out .bench/patchcache
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import time
from pathlib import Path


def make_survey(src: Path, out: Path, photos: int, points: int, seed: int = 0) -> Path:
    from PIL import Image

    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(photos):
        canvas = Image.new("RGB", (4096, 3072))
        for i in range(4):
            for j in range(4):
                with Image.open(files[(k * 16 + i * 4 + j) % len(files)]) as im:
                    canvas.paste(im.convert("RGB").resize((1024, 768)), (i * 1024, j * 768))
        name = f"survey_{k:03d}.jpg"
        canvas.save(out / name, quality=90)
        for _ in range(points):
            r, c = rng.randrange(3072), rng.randrange(4096)
            rows.append([name, r, c, f"tile_row{r // 768}"])  # 4 classes, by the mosaic row
    with open(out / "points.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["Name", "Row", "Column", "Label"], *rows])
    return out / "points.csv"


def train_once(points: Path, images: Path, run: Path, epochs: int, cut_once: bool) -> dict:
    from unittest import mock

    from benthos.train import TrainConfig, train

    shutil.rmtree(run, ignore_errors=True)
    cfg = TrainConfig(data=str(points), images=str(images), out=str(run), epochs=epochs, test_fraction=0,
                      calibrate=False, report=False)
    t = time.time()
    if cut_once:
        meta = train(cfg)
    else:  # the behaviour before: samples keep their boxes, every visit decodes the photo
        with mock.patch("benthos.data.patchcache.cut_patches", lambda samples, *a, **k: list(samples)):
            meta = train(cfg)
    return {"wall_s": round(time.time() - t, 1), **meta["timings"], "history": meta["history"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path, help="a folder of photos to build the survey mosaics from")
    ap.add_argument("--out", type=Path, default=Path(".bench/patchcache"))
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--points", type=int, default=50, help="points per photo")
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    points = make_survey(a.images, a.out / "survey", a.photos, a.points)
    res = {}
    for mode in ("every visit (before)", "cut once (now)"):
        res[mode] = train_once(points, a.out / "survey", a.out / f"run_{mode.split()[0]}", a.epochs, mode.startswith("cut"))
    print(f"{a.photos} photos of 4096 x 3072 px, {a.photos * a.points} points, efficientnet_lite0 defaults, "
          f"{a.epochs} epochs, {torch.get_num_threads()} threads")
    print("| patches | fit (s) | wall incl. cutting (s) | train images/s |")
    print("|---|---|---|---|")
    for mode, r in res.items():
        print(f"| {mode} | {r['fit_s']} | {r['wall_s']} | {r['train_images_per_s']} |")
    a_hist, b_hist = (r["history"] for r in res.values())
    same = json.dumps(a_hist) == json.dumps(b_hist)
    print(f"identical training histories: {same}")


if __name__ == "__main__":
    main()
