"""Load a detector run folder, predict on images (whole or tiled), write CSV, COCO results and counts."""
from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from benthos.data.images import IMAGE_EXTENSIONS
from benthos.errors import BenthosError, DataError
from benthos.runs.atomic import atomic_write_json, atomic_write_text


def load_detector(run: str | os.PathLike, tta: bool | None = None,
                  device: str | torch.device | None = None,
                  box_vote: float | None = None) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, run.json) from a run folder written by ``train_detector``.

    ``device``: where it runs (:func:`benthos.infer.device.pick_device`: the GPU when there is one).

    ``tta``: also predict on the mirror image and merge (:class:`benthos.detect.tta.FlipTTA`);
    None = as the run was configured (``tta`` in its config, off by default).

    ``box_vote``: box voting IoU after the final NMS (Faster R-CNN; 0: off); None = as the run was
    configured (runs saved before 2026-12-06 have none). The weights are the same either way, so
    an older run can be scored with voting, or a new one without, to compare.
    """
    from benthos.detect.config import DetectConfig, check_box_vote
    from benthos.detect.engine import build_model, load_weights

    run = Path(run)
    meta = run / "run.json"
    if not meta.is_file():
        raise BenthosError(f"{run}: no run.json here; pass the folder written by `benthos detect train --out RUN`.")
    info = json.loads(meta.read_text(encoding="utf-8"))
    if info.get("kind") != "detector":
        raise BenthosError(f"{run}: run.json describes a {info.get('kind', 'classifier')!r} run, not a detector.")
    cfg = DetectConfig.from_dict(info["config"], str(meta))
    cfg.normalize = DetectConfig.trained_normalize(info["config"])
    cfg.pretrained_backbone = False  # the weights file has everything
    if box_vote is not None:
        cfg.box_vote = check_box_vote(box_vote, cfg.detector)
    model = build_model(cfg, len(info["categories"]))
    load_weights(model, run / "model.safetensors")
    from benthos.infer.device import pick_device

    model.eval()
    model.to(pick_device(device))
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    from benthos.detect.tta import with_tta

    return with_tta(model, cfg.tta if tta is None else tta), info


def box_vote_of(model: torch.nn.Module) -> float:
    """The box-voting IoU a loaded detector (or its TTA wrapper) applies after NMS; 0.0 when none."""
    from benthos.detect.tiling import nms_settings

    return nms_settings(model)[2]


def list_images(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DataError(f"{p}: no such image or folder.")
    found = sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTENSIONS and not q.name.startswith("."))
    if not found:
        raise DataError(f"{p}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder.")
    return found


def predict_images(model: torch.nn.Module, paths: list[Path], tile: int | None = None, tile_overlap: float = 0.2,
                   score_thresh: float = 0.0, log=None) -> list[dict]:
    """One dict per readable image: path, width, height, boxes (xyxy), scores, labels (0-based)."""
    results = []
    for p, r, problem in _predict_each(model, paths, tile, tile_overlap, score_thresh):
        if r is None:
            if log:
                log(f"skipped: {problem}")
            continue
        results.append(r)
    return results


@torch.no_grad()
def _predict_each(model: torch.nn.Module, paths: list[Path], tile: int | None, tile_overlap: float,
                  score_thresh: float):
    """Yield (path, result dict or None, problem or None) per image, in order."""
    from benthos.data.images import load_image
    from benthos.detect.tiling import predict_tiled
    from benthos.infer.device import model_device

    dev = model_device(model)
    for p in paths:
        try:
            im = load_image(p)
        except DataError as exc:
            yield p, None, str(exc)
            continue
        x = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1).to(dev).float().div_(255)
        if tile and max(x.shape[-2:]) > tile:
            d = predict_tiled(model, x, tile, tile_overlap)
        else:
            d = model([x])[0]
        d = {k: v.cpu() for k, v in d.items()}
        keep = d["scores"] >= score_thresh
        yield p, {"path": p, "width": im.size[0], "height": im.size[1], "boxes": d["boxes"][keep].numpy(),
                  "scores": d["scores"][keep].numpy(), "labels": d["labels"][keep].numpy() - 1}, None


# what a share's detections depend on besides the model
SETTINGS = ("score_thresh", "tile", "tile_overlap", "tta", "box_vote")


def predict_run(run: str | os.PathLike, images: str | os.PathLike, out: str | os.PathLike, *,
                tile: int | None = None, tile_overlap: float = 0.2, score_thresh: float = 0.05,
                count_thresh: float = 0.5, tta: bool | None = None, progress=None,
                chunk: int = 16, shard: str | None = None, box_vote: float | None = None) -> dict:
    """Predict every image under ``images`` with a detector run and write the outputs into ``out``.

    Resumable: finished images go to ``OUT/predictions.partial.jsonl`` (:mod:`benthos.runs.journal`)
    every ``chunk`` images, so rerunning after a kill predicts only the rest; the outputs
    (:func:`write_predictions`) are written at the end. ``progress``: called with status lines.
    ``shard``: "I/N", only the images of share I of N (:func:`benthos.runs.shards.in_share`, as
    ``benthos predict``), written into ``OUT/shard_IofN/`` so that shares never share files.
    ``tta``, ``box_vote``: as :func:`load_detector` (None: as the run was configured).
    Returns {"files", "results", "skipped", "resumed"}.
    """
    from benthos.detect.tta import FlipTTA
    from benthos.runs.journal import SUFFIX, Journal, Progress
    from benthos.runs.run import WEIGHTS, run_identity, weights_digest

    run = Path(run)
    model, info = load_detector(run, tta=tta, box_vote=box_vote)
    digest = weights_digest(run)  # of the weights loaded now, whatever the file holds by the end
    paths = list_images(images)
    if shard:
        from benthos.runs.shards import in_share, parse_shard

        share = parse_shard(shard)
        paths = [p for p in paths if in_share(p, share)]
        out = Path(out) / f"shard_{share[0]}of{share[1]}"
    header = {"job": "benthos detect predict", **run_identity(run), "categories": info["categories"], "tile": tile, "tile_overlap": tile_overlap,
              "score_thresh": score_thresh, "tta": isinstance(model, FlipTTA), "box_vote": box_vote_of(model)}
    if shard:
        header["shard"] = shard
    # journals from before the box_vote key predicted as the run was configured (no --box-vote then)
    journal = Journal(Path(out) / ("predictions" + SUFFIX), header,
                      implied={"box_vote": info["config"].get("box_vote") or 0.0})
    say = progress or (lambda line: None)
    todo = journal.remaining(paths, progress)
    n0 = len(paths) - len(todo)
    status, batch = Progress(len(paths), n0, progress), []
    with journal:
        for k, (p, r, problem) in enumerate(_predict_each(model, todo, tile, tile_overlap, score_thresh), 1):
            if r is None:
                say(f"skipped: {problem}")
                batch.append({"image": str(p), "skipped": problem})
            else:
                batch.append({"image": str(p), "width": r["width"], "height": r["height"],
                              "boxes": np.round(r["boxes"], 2).tolist(), "scores": np.round(r["scores"], 5).tolist(),
                              "labels": r["labels"].tolist()})
            if len(batch) >= chunk or k == len(todo):
                journal.add(batch)
                batch = []
                status.update(k)
    records = [journal.done[str(p)] for p in paths]
    skipped = [r["skipped"] for r in records if "skipped" in r]
    results = [_result(r["image"], r["width"], r["height"], r["boxes"], r["scores"], r["labels"])
               for r in records if "skipped" not in r]
    made = {"run": str(run), "weights_bytes": header["files"].get(WEIGHTS, {}).get("size"),
            "weights_sha256": digest, **{k: header[k] for k in SETTINGS}}
    files = write_predictions(results, info["categories"], out, count_thresh=count_thresh,
                              info={**made, **({"shard": shard} if shard else {})})
    journal.close(remove=True)
    return {"files": files, "results": results, "skipped": skipped, "resumed": n0}


def _with_implied_box_vote(info: dict) -> dict:
    """A share's ``info``, with the box voting it was predicted with when it predates the key: such
    versions predicted as the run was configured (read from its run.json). Left without the key
    (not compared) when the run cannot be read from here, or its weights are not the share's."""
    from benthos.runs.run import WEIGHTS, weights_digest

    if "box_vote" in info or "run" not in info:
        return info
    run = Path(info["run"])
    try:
        config = json.loads((run / "run.json").read_text(encoding="utf-8"))["config"]
        same = weights_digest(run) == info["weights_sha256"] if info.get("weights_sha256") else \
            (run / WEIGHTS).stat().st_size == info.get("weights_bytes")
    except (OSError, ValueError, KeyError, TypeError):
        return info
    return {**info, "box_vote": config.get("box_vote") or 0.0} if same else info


def _result(image: str, width: int, height: int, boxes, scores, labels) -> dict:
    """One image's detections as :func:`write_predictions` takes them (boxes x0, y0, x1, y1)."""
    return {"path": Path(image), "width": width, "height": height,
            "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            "scores": np.asarray(scores, dtype=np.float32), "labels": np.asarray(labels, dtype=np.int64)}


def write_predictions(results: list[dict], categories: list[str], out: str | os.PathLike,
                      count_thresh: float = 0.5, info: dict | None = None) -> dict[str, Path]:
    """``detections.csv``, ``detections.coco.json`` (results + images + categories) and ``counts.csv``.

    Counts use detections with score >= ``count_thresh``; all detections are in the CSV/JSON.
    ``info`` (e.g. the run) goes into the JSON's ``info`` with ``count_thresh``, which
    :func:`merge_shares` reads back.
    """
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", "label", "score", "x0", "y0", "x1", "y1"])
    dets, images, counts = [], [], []
    for k, r in enumerate(results, 1):
        images.append({"id": k, "file_name": str(r["path"]), "width": r["width"], "height": r["height"]})
        c = Counter()
        for (x0, y0, x1, y1), s, lab in zip(r["boxes"].tolist(), r["scores"].tolist(), r["labels"].tolist()):
            w.writerow([r["path"], categories[lab], f"{s:.4f}", f"{x0:.1f}", f"{y0:.1f}", f"{x1:.1f}", f"{y1:.1f}"])
            dets.append({"image_id": k, "category_id": lab + 1, "bbox": [round(v, 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                         "score": round(s, 5)})
            if s >= count_thresh:
                c[categories[lab]] += 1
        counts.append([str(r["path"])] + [c.get(name, 0) for name in categories])
    paths = {"csv": out / "detections.csv", "coco": out / "detections.coco.json", "counts": out / "counts.csv"}
    atomic_write_text(paths["csv"], buf.getvalue())
    atomic_write_json(paths["coco"], {"info": {**(info or {}), "count_thresh": count_thresh}, "images": images, "categories": [{"id": i + 1, "name": c} for i, c in
                                                                       enumerate(categories)], "annotations": dets})
    cbuf = io.StringIO()
    cw = csv.writer(cbuf)
    cw.writerow(["image", *categories])
    cw.writerows(counts)
    cw.writerow(["TOTAL", *[sum(row[i + 1] for row in counts) for i in range(len(categories))]])
    atomic_write_text(paths["counts"], cbuf.getvalue())
    return paths


def merge_shares(shares: list[str | os.PathLike], out: str | os.PathLike,
                 count_thresh: float | None = None) -> dict:
    """Join the output folders of ``benthos detect predict --shard I/N`` (``OUT/shard_IofN/``) into
    ``out``: the same three files an unsharded run writes, images in the same order.

    ``shares``: the share folders, or one folder holding them. Refuses an unfinished share (its
    journal is still there), missing or repeated shares, shares of other runs or class lists, and
    an image in two shares. ``count_thresh``: default the one the shares were counted with.
    Returns {"files", "shares", "images", "detections"}.
    """
    from benthos.runs.journal import SUFFIX
    from benthos.runs.shards import SHARE_DIR, check_same_job, check_shares, parse_shard, refuse_unfinished

    folders = [Path(p) for p in shares]
    if len(folders) == 1:
        inside = sorted(q for q in folders[0].iterdir() if q.is_dir() and SHARE_DIR.match(q.name)) \
            if folders[0].is_dir() else []
        if not inside:
            raise DataError(f"{folders[0]}: no shares (shard_IofN folders written by `benthos detect predict "
                            "--shard I/N`) in this folder")
        folders = inside
    first, owner, results, thresholds, recorded, read, infos = None, {}, [], set(), [], [], []
    for f in folders:
        refuse_unfinished(f, f / ("predictions" + SUFFIX), "benthos detect predict")
        path = f / "detections.coco.json"
        if not path.is_file():
            raise DataError(f"{path}: not found; is {f} a folder written by `benthos detect predict`?")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            categories = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
            info = doc.get("info") or {}
            boxes: dict[int, list] = {}
            for a in doc["annotations"]:
                boxes.setdefault(a["image_id"], []).append(a)
            shard = [(img["file_name"], _result(img["file_name"], img["width"], img["height"],
                                                [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                                                [a["score"] for a in anns], [a["category_id"] - 1 for a in anns]))
                     for img, anns in ((img, boxes.get(img["id"], [])) for img in doc["images"])]
            recorded.append(parse_shard(str(info["shard"])) if "shard" in info else None)
        except (ValueError, KeyError, TypeError, BenthosError) as exc:
            raise DataError(f"{path}: not a detections file written by `benthos detect predict` ({exc!r})") from None
        if first is None:
            first = (f, categories, info)
        elif categories != first[1]:
            raise DataError(f"{f}: its classes ({', '.join(categories)}) differ from {first[0]}'s "
                            f"({', '.join(first[1])}): merge the shares of one run")
        infos.append(info)
        if "count_thresh" in info:
            thresholds.add(float(info["count_thresh"]))
        read.append((f, shard))
    check_same_job(folders, [_with_implied_box_vote(i) for i in infos],
                   keys=("weights_sha256", "weights_bytes", *SETTINGS))
    check_shares([f / "detections.coco.json" for f in folders], recorded)  # older shares: by their folders' names
    for f, shard in read:
        for name, result in shard:
            if name in owner:
                raise DataError(f"{f}: image {name} is also in {owner[name]}: the shares overlap")
            owner[name] = f
            results.append(result)
    if count_thresh is None:
        if len(thresholds) > 1:
            raise DataError(f"the shares were counted at different scores ({', '.join(map(str, sorted(thresholds)))}): "
                            "give --count-thresh to count them all alike")
        count_thresh = thresholds.pop() if thresholds else 0.5
    out = Path(out)
    if out.resolve() in {f.resolve() for f in folders}:
        raise DataError(f"{out} is one of the shares; write the merged files elsewhere (e.g. the folder above them)")
    results.sort(key=lambda r: r["path"])  # the order of an unsharded run (list_images sorts)
    info = {k: v for k, v in first[2].items() if k not in ("shard", "count_thresh")}
    files = write_predictions(results, first[1], out, count_thresh=count_thresh, info=info)
    return {"files": files, "shares": len(folders), "images": len(results),
            "detections": sum(len(r["scores"]) for r in results)}


def _split_members(records, paths: list[str]) -> list[int]:
    """Indices of ``records`` named in a run's split file.

    Paths are matched after resolving them, so a run trained with a relative path evaluates with
    an absolute one; if none match (the data moved), unique file names are matched instead.
    """
    wanted = {os.path.abspath(p) for p in paths}
    found = [i for i, r in enumerate(records) if os.path.abspath(r.image_path) in wanted]
    if found or not paths:
        return found
    names = [Path(p).name for p in paths]
    if len(set(names)) < len(names):
        return []
    wanted_names = set(names)
    return [i for i, r in enumerate(records) if Path(r.image_path).name in wanted_names]


def run_split(run: str | os.PathLike, data, split: str = "val"):
    """The part of ``data`` (a DetectionData) that the run's split.json puts in ``split`` ("train" or "val")."""
    paths = json.loads((Path(run) / "split.json").read_text())[split]
    return data.subset(_split_members(data.records, paths))


def evaluate_run(run: str | os.PathLike, annotations: str | os.PathLike, images: str | os.PathLike | None = None,
                 format: str | None = None, split: str = "val", tile: int | None = None,
                 report: bool = True, tta: bool | None = None, box_vote: float | None = None) -> dict:
    """COCO metrics of a run on ``annotations`` (``split``: "val" = the run's held-out images, or "all").

    Writes ``RUN/evaluation.json`` and (``report``) ``RUN/report.html``. ``tta``, ``box_vote``:
    as :func:`load_detector` (None: as the run was configured).
    """
    from benthos.data.detection import read_detection
    from benthos.detect.engine import score_records

    run = Path(run)
    model, info = load_detector(run, tta=tta, box_vote=box_vote)
    data = read_detection(annotations, format, images)
    if data.categories != info["categories"]:
        raise DataError(f"{annotations}: categories {data.categories} differ from the run's {info['categories']}.")
    if split == "val":
        data = run_split(run, data, "val")
        if not data.records:
            raise DataError(f"none of the run's validation images are in {annotations}; use --split all.")
    elif split != "all":
        raise DataError(f"split {split!r}: use 'val' (the run's held-out images) or 'all'.")
    metrics, preds, data = score_records(model, data, tile=tile)  # unreadable frames: named, not scored
    metrics["split"] = split
    from benthos.detect.tta import FlipTTA

    metrics["tta"] = isinstance(model, FlipTTA)
    metrics["box_vote"] = box_vote_of(model)
    from benthos.detect.report import write_evaluation

    write_evaluation(run, info, metrics, data, preds, report=report)
    return metrics
