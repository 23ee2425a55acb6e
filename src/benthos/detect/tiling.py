"""Tiles for survey photos and mosaics larger than the network input.

Training can cut each image into overlapping tiles (boxes cut at tile edges are kept
when enough of them is visible); prediction runs tile by tile and merges the
detections with class-wise NMS, so an organism on a seam is counted once.
"""
from __future__ import annotations

import numpy as np
import torch


def tile_windows(width: int, height: int, tile: int, overlap: float = 0.2) -> list[tuple[int, int, int, int]]:
    """Windows (x0, y0, x1, y1) of at most ``tile`` px covering the image, with ``overlap`` (0-0.9)."""
    if tile <= 0:
        raise ValueError("tile must be a positive number of pixels")
    step = max(1, int(round(tile * (1 - min(max(overlap, 0.0), 0.9)))))

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        s = list(range(0, n - tile, step))
        return s + [n - tile]  # the last tile is flush with the edge

    return [(x, y, min(x + tile, width), min(y + tile, height)) for y in starts(height) for x in starts(width)]


def crop_targets(boxes: np.ndarray, labels: np.ndarray, window: tuple[int, int, int, int],
                 min_visible: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Boxes shifted into ``window``, clipped, kept when >= ``min_visible`` of their area is inside."""
    x0, y0, x1, y1 = window
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32), labels
    c = boxes.copy()
    c[:, 0::2] = c[:, 0::2].clip(x0, x1)
    c[:, 1::2] = c[:, 1::2].clip(y0, y1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    vis = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])
    keep = (vis >= min_visible * area) & (vis > 0)
    c = c[keep] - np.array([x0, y0, x0, y0], np.float32)
    return c.astype(np.float32), labels[keep]


def nms_settings(model: torch.nn.Module) -> tuple[float, int, float]:
    """How a detector merges its own boxes: NMS IoU threshold, detections-per-image cap (torchvision
    names) and box-voting IoU (0: none; Faster R-CNN's ``box_vote``). A :class:`~benthos.detect.tta.FlipTTA`
    wrapper carries its detector's, so tiles and mirrored views are merged the same way."""
    heads = getattr(model, "roi_heads", model)  # Faster R-CNN keeps them on roi_heads
    return (float(getattr(heads, "nms_thresh", 0.5)), int(getattr(heads, "detections_per_img", 300)),
            float(getattr(heads, "box_vote", 0.0)))


@torch.no_grad()
def predict_tiled(model: torch.nn.Module, image: torch.Tensor, tile: int, overlap: float = 0.2,
                  batch_size: int = 4, nms_thresh: float | None = None) -> dict[str, torch.Tensor]:
    """Run ``model`` (eval mode) over tiles of ``image`` (3,H,W) and merge into one detection dict.

    The tiles' boxes are merged as the detector merges its own: its NMS IoU (``nms_thresh``
    overrides it) and its box voting (Faster R-CNN's ``box_vote``), with no cap on the count."""
    own_nms, _, vote = nms_settings(model)
    h, w = image.shape[-2:]
    wins = tile_windows(w, h, tile, overlap)
    parts = []
    for i in range(0, len(wins), batch_size):
        chunk = wins[i: i + batch_size]
        outs = model([image[:, y0:y1, x0:x1] for x0, y0, x1, y1 in chunk])
        for (x0, y0, _, _), o in zip(chunk, outs):
            parts.append({"boxes": o["boxes"] + torch.tensor([x0, y0, x0, y0], dtype=o["boxes"].dtype,
                                                                    device=o["boxes"].device),
                          "scores": o["scores"], "labels": o["labels"]})
    if len(parts) == 1:
        return parts[0]
    return merge_detections(parts, own_nms if nms_thresh is None else nms_thresh, vote_iou=vote)


def merge_detections(parts: list[dict[str, torch.Tensor]], nms_thresh: float,
                     limit: int | None = None, vote_iou: float = 0.0) -> dict[str, torch.Tensor]:
    """Detections of one image from several passes (tiles, mirrored views) -> one set:
    concatenated, class-wise NMS (with box voting when ``vote_iou``), the ``limit`` best kept."""
    b = torch.cat([p["boxes"] for p in parts])
    s = torch.cat([p["scores"] for p in parts])
    lab = torch.cat([p["labels"] for p in parts])
    return nms_vote(b, s, lab, nms_thresh, limit, vote_iou)


def nms_vote(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, nms_thresh: float,
             limit: int | None = None, vote_iou: float = 0.0) -> dict[str, torch.Tensor]:
    """Class-wise NMS, then (``vote_iou`` > 0) box voting: each kept box moves to the
    score-weighted mean of every box of its class that overlaps it by IoU >= ``vote_iou``
    (Gidaris & Komodakis 2015). Scores and the choice of boxes are NMS's; only extents change,
    so boxes drawn a little differently by neighbouring proposals average out."""
    from torchvision.ops import batched_nms, box_iou

    keep = batched_nms(boxes, scores, labels, nms_thresh)[:limit]
    kept = boxes[keep]
    if vote_iou > 0 and (len(keep) or torch.onnx.is_in_onnx_export()):  # an exported graph votes on any frame
        same = labels[keep][:, None] == labels[None, :]
        w = scores[None, :] * ((box_iou(kept, boxes) >= vote_iou) & same)  # each kept box is its own member
        kept = (w @ boxes) / w.sum(1, keepdim=True)
    return {"boxes": kept, "scores": scores[keep], "labels": labels[keep]}
