"""Build the bundled sample ``src/benthos/sample/aquarium/`` from Roboflow's Aquarium set.

Source: Roboflow "Aquarium Combined" (raw-1024 export), CC BY 4.0, as kept in
/work/shared/data/aquarium_train (COCO boxes, 448 photos, 7 classes). Output:

  crops/<class>/<imagestem>__<annid>.jpg   box crops + 10% context, longer side <= 160 px
  crops/manifest.csv                       path,label,group (group = source photo stem)
  detection/images/*.jpg                   ~40 whole photos, longer side <= 640 px
  detection/annotations.json               COCO, boxes rescaled to the resized photos
  NOTICE.md                                attribution and what was changed

Deterministic (seeded); rerun with ``python scripts/make_sample.py [--src DIR]``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "benthos" / "sample" / "aquarium"
PER_CLASS, MIN_BOX, CROP_SIDE, MARGIN = 45, 24, 160, 0.1
DET_IMAGES, DET_SIDE, QUALITY, SEED = 40, 640, 85, 0

NOTICE = """# Bundled sample: aquarium photographs

These images are derived from **"Aquarium Combined"** (export "raw-1024"), a dataset
provided by **[Roboflow](https://roboflow.com)** at
https://public.roboflow.ai/object-detection/aquarium, released under the
**Creative Commons Attribution 4.0 International licence (CC BY 4.0)**,
https://creativecommons.org/licenses/by/4.0/. The photographs were taken by Roboflow
at the Henry Doorly Zoo, Omaha (16 Oct 2020) and the National Aquarium, Baltimore
(14 Nov 2020), and labelled with boxes by the Roboflow team.

Changes made (by `scripts/make_sample.py` in the benthos repository):
- a subset was taken from the training split ({n_src} photos, 7 classes);
- `crops/`: {n_crops} boxes cut out with {margin:.0%} context on each side (boxes under
  {min_box} px skipped, at most {per_class} per class), resized so the longer side is at
  most {crop_side} px, re-encoded as JPEG quality {q}; `crops/manifest.csv` lists them
  (`group` = source photograph);
- `detection/`: {n_det} whole photographs resized so the longer side is at most
  {det_side} px, re-encoded as JPEG quality {q}; the boxes were rescaled and stored as
  COCO (`annotations.json`); the original file names are kept (Roboflow hash suffixes
  had already been removed upstream).

The same licence applies to these derived files: you may share and adapt them for any
purpose, provided you credit Roboflow ("Aquarium Combined", CC BY 4.0) and say what you
changed. Tank scenes, not seafloor field imagery: use them for demos and tests, not to
report ecological results.
"""


def jpeg(im: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=QUALITY, optimize=True)
    path.write_bytes(buf.getvalue())


def shrink(im: Image.Image, side: int) -> tuple[Image.Image, float]:
    scale = min(1.0, side / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
    return im, scale


def pick_crops(coco: dict, rng: random.Random) -> dict[str, list[dict]]:
    """Up to PER_CLASS boxes per class, one per photo before a second from any photo."""
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    by_class: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for a in coco["annotations"]:
        if min(a["bbox"][2], a["bbox"][3]) >= MIN_BOX:
            by_class[cats[a["category_id"]]][a["image_id"]].append(a)
    chosen = {}
    for name, per_image in sorted(by_class.items()):
        queues = [rng.sample(v, len(v)) for _, v in sorted(per_image.items())]
        rng.shuffle(queues)
        picked: list[dict] = []
        while len(picked) < PER_CLASS and any(queues):
            for q in queues:  # round-robin: spread the class over as many photos as possible
                if q and len(picked) < PER_CLASS:
                    picked.append(q.pop())
        chosen[name] = picked
    return chosen


def pick_detection(coco: dict, rng: random.Random) -> list[dict]:
    """DET_IMAGES photos: a few for each class (rarest first), then random ones."""
    classes_in: dict[int, set] = defaultdict(set)
    for a in coco["annotations"]:
        classes_in[a["image_id"]].add(a["category_id"])
    ids = sorted(classes_in)
    rng.shuffle(ids)
    chosen: list[int] = []
    per_class = DET_IMAGES // (2 * len(coco["categories"]))
    freq = {c["id"]: sum(c["id"] in s for s in classes_in.values()) for c in coco["categories"]}
    for cid in sorted(freq, key=freq.get):
        have = sum(cid in classes_in[i] for i in chosen)
        for i in ids:
            if have >= per_class:
                break
            if cid in classes_in[i] and i not in chosen and len(classes_in[i]) <= 3:
                chosen.append(i)
                have += 1
    chosen += [i for i in ids if i not in chosen][: DET_IMAGES - len(chosen)]
    images = {im["id"]: im for im in coco["images"]}
    return [images[i] for i in sorted(chosen)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=Path("/work/shared/data/aquarium_train"))
    args = ap.parse_args()
    coco = json.loads((args.src / "annotations.json").read_text())
    images = {im["id"]: im for im in coco["images"]}
    rng = random.Random(SEED)
    if OUT.exists():
        shutil.rmtree(OUT)

    rows, used = [], set()
    for name, anns in pick_crops(coco, rng).items():
        for a in anns:
            im_info = images[a["image_id"]]
            stem = Path(im_info["file_name"]).stem
            with Image.open(args.src / "images" / im_info["file_name"]) as src:
                src = src.convert("RGB")
                x, y, w, h = a["bbox"]
                box = (max(0, round(x - MARGIN * w)), max(0, round(y - MARGIN * h)),
                       min(src.width, round(x + w + MARGIN * w)), min(src.height, round(y + h + MARGIN * h)))
                crop, _ = shrink(src.crop(box), CROP_SIDE)
            rel = f"{name}/{stem}__{a['id']}.jpg"
            jpeg(crop, OUT / "crops" / rel)
            rows.append((rel, name, stem))
            used.add(a["image_id"])
    with open(OUT / "crops" / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "label", "group"), *rows])

    det = pick_detection(coco, rng)
    keep = {im["id"] for im in det}
    out_images, out_anns, scale_of = [], [], {}
    for new_id, im_info in enumerate(det, start=1):
        with Image.open(args.src / "images" / im_info["file_name"]) as src:
            small, scale = shrink(src.convert("RGB"), DET_SIDE)
        jpeg(small, OUT / "detection" / "images" / im_info["file_name"])
        scale_of[im_info["id"]] = (new_id, scale)
        out_images.append({"id": new_id, "file_name": im_info["file_name"], "width": small.width, "height": small.height})
    for a in coco["annotations"]:
        if a["image_id"] in keep:
            new_id, s = scale_of[a["image_id"]]
            bbox = [round(v * s, 2) for v in a["bbox"]]
            out_anns.append({"id": len(out_anns) + 1, "image_id": new_id, "category_id": a["category_id"],
                             "bbox": bbox, "area": round(bbox[2] * bbox[3], 2), "iscrowd": 0})
    doc = {"info": {"description": "benthos sample: Roboflow Aquarium Combined (CC BY 4.0), resized subset",
                    "url": "https://public.roboflow.ai/object-detection/aquarium"},
           "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}],
           "categories": coco["categories"], "images": out_images, "annotations": out_anns}
    (OUT / "detection" / "annotations.json").write_text(json.dumps(doc, indent=1) + "\n")

    (OUT / "NOTICE.md").write_text(NOTICE.format(
        n_src=len(used | keep), n_crops=len(rows), margin=MARGIN, min_box=MIN_BOX, per_class=PER_CLASS,
        crop_side=CROP_SIDE, q=QUALITY, n_det=len(det), det_side=DET_SIDE))
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    counts = defaultdict(int)
    for _, name, _ in rows:
        counts[name] += 1
    print(f"crops: {len(rows)} {dict(counts)}; detection: {len(det)} photos, {len(out_anns)} boxes; "
          f"{total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
