"""Running a detector: over annotated records (to score them by COCO metrics) or over image files
(to predict), whole or in tiles. The public scoring API that training, evaluation and the
benchmarks share."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch

from benthos.data.detection import DetectionData
from benthos.data.issues import DataIssue
from benthos.errors import BenthosError, DataError


def _finite(d: dict, where: str) -> dict:
    """A detector's output for one image, refused when it holds NaN or infinity (damaged weights or
    inputs): such boxes would become a CSV of nonsense counts."""
    if not (bool(torch.isfinite(d["boxes"]).all()) and bool(torch.isfinite(d["scores"]).all())):
        raise BenthosError(f"{where}: the detector's output is not finite (NaN or infinity): its weights or this "
                           "image are damaged; check the run (retrain or restore it) and the image")
    return d


@torch.no_grad()
def predict_records(model: torch.nn.Module, records, batch_size: int = 4, tile: int | None = None,
                    tile_overlap: float = 0.2, issues: list | None = None) -> dict[int, dict]:
    """{image_id: {boxes, scores, labels (0-based)}} as numpy, for evaluation.

    An image that cannot be read has no entry (:func:`score_records` leaves it out of the
    score); its :class:`~benthos.data.issues.DataIssue` is appended to ``issues`` when given."""
    from benthos.detect.dataset import DetectionDataset, collate
    from benthos.detect.tiling import predict_tiled
    from benthos.infer.device import model_device

    model.eval()
    dev = model_device(model)
    ds = DetectionDataset(records, train=False)
    where = {int(r.image_id): str(r.image_path) for r in records}
    out = {}
    for i in range(0, len(ds), batch_size):
        ims, targets, skipped = collate([ds[k] for k in range(i, min(i + batch_size, len(ds)))])
        if issues is not None:
            issues.extend(skipped)
        if not ims:
            continue
        ims = [x.to(dev) for x in ims]  # channels_last lives in the weights; convs then run NHWC
        dets = [predict_tiled(model, x, tile, tile_overlap) for x in ims] if tile else model(ims)
        for t, d in zip(targets, dets):
            _finite(d, where[int(t["image_id"])])
            out[int(t["image_id"])] = {"boxes": d["boxes"].cpu().numpy(), "scores": d["scores"].cpu().numpy(),
                                       "labels": d["labels"].cpu().numpy() - 1}
    return out


def score_records(model: torch.nn.Module, data: DetectionData, issues: list | None = None,
                  tile: int | None = None, tile_overlap: float = 0.2) -> tuple[dict, dict[int, dict], DetectionData]:
    """Predict ``data``'s images and score them by COCO metrics: (metrics, predictions, the data scored).

    An image that cannot be read is left out of the score (its boxes are not counted as misses),
    named in ``metrics["images_unreadable"]`` and its DataIssue appended to ``issues`` when given."""
    from benthos.detect.evaluate import coco_metrics

    skipped: list[DataIssue] = []
    preds = predict_records(model, data.records, tile=tile, tile_overlap=tile_overlap, issues=skipped)
    if skipped:
        data = data.subset([k for k, r in enumerate(data.records) if r.image_id in preds])
    metrics = coco_metrics(data, preds)
    metrics["images_unreadable"] = [i.path for i in skipped]
    if issues is not None:
        issues.extend(skipped)
    return metrics, preds, data


@torch.no_grad()
def predict_each(model: torch.nn.Module, paths: list[Path], tile: int | None = None, tile_overlap: float = 0.2,
                 score_thresh: float = 0.0) -> Iterator[tuple[Path, dict | None, str | None]]:
    """Yield (path, result or None, problem or None) per image file, in order. A result holds path,
    width, height, boxes (x0, y0, x1, y1 px), scores and labels (0-based) as numpy."""
    from benthos.data.images import load_image
    from benthos.detect.dataset import frame_tensor
    from benthos.detect.tiling import predict_tiled
    from benthos.infer.device import model_device

    dev = model_device(model)
    for p in paths:
        try:
            im = load_image(p)
        except DataError as exc:
            yield p, None, str(exc)
            continue
        x = frame_tensor(im, dev)
        if tile and max(x.shape[-2:]) > tile:
            d = predict_tiled(model, x, tile, tile_overlap)
        else:
            d = model([x])[0]
        d = _finite({k: v.cpu() for k, v in d.items()}, str(p))
        keep = d["scores"] >= score_thresh
        yield p, {"path": p, "width": im.size[0], "height": im.size[1], "boxes": d["boxes"][keep].numpy(),
                  "scores": d["scores"][keep].numpy(), "labels": d["labels"][keep].numpy() - 1}, None


def predict_images(model: torch.nn.Module, paths: list[str | os.PathLike], tile: int | None = None,
                   tile_overlap: float = 0.2, score_thresh: float = 0.0, log=None) -> list[dict]:
    """One result per readable image (see :func:`predict_each`); unreadable ones are named through ``log``."""
    results = []
    for _, r, problem in predict_each(model, [Path(p) for p in paths], tile, tile_overlap, score_thresh):
        if r is None:
            if log:
                log(f"skipped: {problem}")
            continue
        results.append(r)
    return results
