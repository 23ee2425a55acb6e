"""Detection jobs, one function each: train a detector into a run folder, evaluate a run on annotated
images, predict boxes and counts for a survey, merge the shares of a prediction split over machines.
The CLI calls these; :mod:`benthos.detect` holds the parts (models, engine, inference, outputs)."""
from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benthos.detect.config import DetectConfig
from benthos.runs.threshold import CountThreshold
from benthos.errors import BenthosError, DataError


def _keep_old_normalisation(cfg: DetectConfig, out: Path, log: Callable[[str], None]) -> None:
    """A run started before ``normalize`` existed (its config.yaml lacks it) resumes as it was trained."""
    import yaml

    from benthos.detect.engine import CKPT

    if not (cfg.resume and (out / CKPT).is_file() and (out / "config.yaml").is_file()):
        return
    try:
        started = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    if isinstance(started, dict) and "normalize" not in started and cfg.normalize != "imagenet":
        log("this run was started with ImageNet input normalisation (before the normalize option): resuming with it")
        cfg.normalize = DetectConfig.trained_normalize(started)


def train(annotations: str | os.PathLike, out: str | os.PathLike, config: DetectConfig | None = None,
          images: str | os.PathLike | None = None, format: str | None = None,
          log: Callable[[str], None] = print) -> dict:
    """Train a detector on boxes in COCO/YOLO/VOC and write the run folder ``out``: split.json,
    config.yaml, model.safetensors, run.json (with the counting threshold fitted on the held-out
    images), logs/metrics.csv, evaluation.json and report.html. Returns run.json's content.
    ``annotations`` may also be a :class:`~benthos.data.detection.DetectionData` already read."""
    import torch
    import yaml

    from benthos.data.detection import DetectionData, read_detection
    from benthos.detect.build import box_vote_of, build_model
    from benthos.detect.engine import CKPT, fit_detector
    from benthos.detect.sizing import check_multiscale
    from benthos.detect.splits import SPLIT, check_resumed_split, image_groups, reuse_split, save_detection_split, \
        split_records
    from benthos.runs.atomic import atomic_write_text
    from benthos.runs.run import WEIGHTS, read_weights, save_weights, versions, write_meta

    cfg = (config or DetectConfig()).resolved()
    out = Path(out)
    _keep_old_normalisation(cfg, out, log)
    data = annotations if isinstance(annotations, DetectionData) else \
        read_detection(annotations, format, images, allow_outside=cfg.allow_outside_paths)
    log(f"data: {data.describe()}")
    for issue in data.issues[:10]:
        log(f"  {issue}")
    if len(data.issues) > 10:
        log(f"  ... {len(data.issues) - 10} more issue(s), counted in run.json")
    if not data.records:
        raise DataError(f"no usable images in {annotations}; see the issues above.")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # the model first: a bad builder option (e.g. anchor_sizes) is refused before the run folder
    # is written (the split below uses its own random.Random(seed), so the weights' init is unchanged)
    model = build_model(cfg, len(data.categories))
    if cfg.scale_jitter and not cfg.crop:
        check_multiscale(model)  # YOLO/SSD refused here, before the run folder is written
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.split:
        cfg.split = os.path.abspath(cfg.split)  # as config.yaml and run.json record it
        split, made = reuse_split(data, cfg.split), {"reused": cfg.split}
        log(f"split: {len(split['train'])} training and {len(split['val'])} held-out images, as in {cfg.split}")
    else:
        groups = image_groups(data, cfg.group_pattern)
        split = split_records(data, cfg.val_fraction, cfg.seed, cfg.group_pattern, groups=groups)
        made = {"seed": cfg.seed, "val_fraction": cfg.val_fraction, "group_pattern": cfg.group_pattern,
                "groups": len(set(groups))}
    if cfg.resume and (out / CKPT).is_file() and (out / SPLIT).is_file():
        check_resumed_split(data, out, split)
    train_data, val_data = data.subset(split["train"]), data.subset(split["val"])
    save_detection_split(out / SPLIT, data, split, **made)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    fit = fit_detector(model, train_data, val_data, cfg, out, log)
    net = fit.model
    if fit.kept_best:  # evaluate the kept (best) weights
        net.load_state_dict(read_weights(out / WEIGHTS))
    else:
        save_weights(out, net.state_dict(), {"kind": "benthos-detector"})
    data.issues.extend(fit.unreadable)

    from benthos.detect.inference import score_records
    from benthos.detect.tta import tta_of, with_tta

    from benthos.detect.build import set_test_roi_sampling

    set_test_roi_sampling(net, cfg.test_roi_sampling)  # scored (and the counting threshold fitted) as it predicts
    scorer = with_tta(net, cfg.tta)
    val_preds, metrics, counting = {}, {}, None
    if val_data.records:
        skipped: list = []
        metrics, val_preds, val_data = score_records(scorer, val_data, skipped)
        for issue in skipped:
            log(f"not scored: {issue}")
        data.issues.extend(skipped)
        metrics["tta"] = tta_of(scorer)
        metrics["box_vote"] = box_vote_of(scorer)  # what the scored model did, as `detect evaluate` records it
        from benthos.detect.counting import fit_count_threshold

        counting = fit_count_threshold(val_data, val_preds, floor=cfg.score_thresh)
        from benthos.detect.counting import run_threshold

        log(f"{run_threshold({'count_threshold': counting}).describe()} "
            f"(the F1-optimal threshold: {counting['f1_optimal']['default']:.3g})")
    curves = metrics.pop("pr_curves", None)
    info = {
        "architecture": cfg.model, "classes": data.categories, "input_size": cfg.input_size, "config": cfg.to_dict(),
        "builder_options": {"backbone": cfg.backbone, "anchor_sizes": cfg.anchor_sizes, **cfg.extra},
        "metrics": metrics, "count_threshold": counting, "train_seconds": round(fit.seconds, 1),
        "epochs_done": len(fit.history), "steps": fit.history[-1].get("step", 0) if fit.history else 0,
        "params": sum(p.numel() for p in net.parameters()),
        "data": {"path": None if isinstance(annotations, DetectionData) else os.path.abspath(annotations),
                 "images": os.path.abspath(images) if images else None, "format": format, **data.summary()},
        "issues": [i.to_dict() for i in data.issues[:200]],
        "split": {**made, "train": len(split["train"]), "val": len(split["val"]), "file": SPLIT},
        "versions": versions(),
    }
    write_meta(out, info, kind="detector")
    log(f"val: mAP={metrics.get('mAP', float('nan')):.3f} AP50={metrics.get('AP50', float('nan')):.3f} "
        f"({fit.seconds / 60:.1f} min training) -> {out}")
    if val_data.records:  # evaluation.json and the held-out images' report, from the predictions just made
        from benthos.detect.report import write_evaluation

        write_evaluation(out, info, {**metrics, "pr_curves": curves, "split": "val"}, val_data, val_preds)
        log(f"report: {out / 'report.html'}")
    return info


def evaluate(run: str | os.PathLike, annotations: str | os.PathLike, images: str | os.PathLike | None = None,
             format: str | None = None, split: str = "auto", tile: int | None = None, tile_overlap: float = 0.2,
             report: bool = True, tta: str | bool | None = None, box_vote: float | None = None,
             out: str | os.PathLike | None = None, device: str | None = None, allow_outside: bool = False,
             test_proposals: int | None = None, backend: str | None = None,
             test_roi_sampling: int | None = None) -> dict:
    """COCO metrics of a run on ``annotations``, and where they were written (``metrics["written"]``).

    ``split``: "val" (the run's held-out images among the annotations), "all" (every image), or "auto":
    "val" for the annotations the run was trained on, else "all" (another site or survey).
    Only the run's own held-out images ("val") replace ``RUN/evaluation.json`` and ``RUN/report.html``;
    any other evaluation goes beside them (``RUN/evaluation_<data>.json`` and ``report_<data>.html``)
    or to ``out`` (a .json path, the report beside it). ``tta``, ``box_vote``, ``test_proposals``,
    ``test_roi_sampling``, ``backend``: as :func:`benthos.detect.build.model_from_run` (None: as the run was
    configured; the default backend)."""
    from benthos.data.detection import read_detection
    from benthos.detect.build import backend_of, box_vote_of, load_detector, roi_sampling_of, test_proposals_of
    from benthos.detect.inference import score_records
    from benthos.detect.splits import run_split
    from benthos.detect.tta import tta_of

    _check_tiles(tile, tile_overlap)
    run = Path(run)
    model, info = load_detector(run, tta=tta, box_vote=box_vote, device=device, test_proposals=test_proposals,
                                test_roi_sampling=test_roi_sampling, backend=backend)
    data = read_detection(annotations, format, images, allow_outside=allow_outside)
    if data.categories != info["classes"]:
        raise DataError(f"{annotations}: categories {data.categories} differ from the run's {info['classes']}.")
    if split not in ("auto", "val", "all"):
        raise DataError(f"split {split!r}: use 'val' (the run's held-out images), 'all' or 'auto'.")
    same = _same_annotations(run, annotations)
    if split == "auto":  # the run's own annotations: its held-out images; another survey: all of it
        split = "val" if same else "all"
    if split == "val":
        data = run_split(run, data, "val")
        if not data.records:
            raise DataError(f"none of the run's validation images are in {annotations}; use --split all "
                            "(or leave --split out) to score every image there.")
    metrics, preds, data = score_records(model, data, tile=tile, tile_overlap=tile_overlap)  # unreadable: named
    metrics.update(split=split, tta=tta_of(model), box_vote=box_vote_of(model), data=str(annotations),
                   test_proposals=test_proposals_of(model), test_roi_sampling=roi_sampling_of(model),
                   backend=backend_of(model))
    from benthos.detect.counting import count_table, run_threshold

    threshold = run_threshold(info, str(run))
    rows = count_table(data, preds, threshold)
    metrics["counts"] = {"threshold": threshold.to_dict(), "annotated": sum(r["annotated"] for r in rows),
                         "counted": sum(r["counted"] for r in rows),
                         "mean_abs_error_per_image": float(np.mean([abs(r["error"]) for r in rows])) if rows else None}
    from benthos.detect.report import write_evaluation
    from benthos.runs.run import evaluation_path

    own = split == "val" and same
    target = evaluation_path(run, None if own else annotations, out, suffix="_val" if split == "val" else "")

    write_evaluation(target, info, metrics, data, preds, report=report)
    metrics["written"] = str(target)
    return metrics


def _same_annotations(run: Path, annotations: str | os.PathLike) -> bool:
    """Whether ``annotations`` are the ones the run was trained on (its held-out part is then its own test)."""
    try:
        trained = (json.loads((run / "run.json").read_text(encoding="utf-8")).get("data") or {}).get("path")
    except (OSError, ValueError, AttributeError):
        return True
    return trained is None or os.path.abspath(trained) == os.path.abspath(annotations)


def _check_tiles(tile: int | None, overlap: float) -> None:
    """Tiling settings as a person means them: a tile of at least 32 px, an overlap below one tile."""
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 32):
        raise BenthosError(f"--tile {tile}: give the tile side in px, at least 32 (e.g. 640), or leave --tile out")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0 <= overlap < 1:
        raise BenthosError(f"--tile-overlap {overlap}: give a fraction of a tile from 0 to below 1, e.g. 0.2")


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


def _fitted_counting(info: dict) -> dict | None:
    """The counting record of the run the shares were predicted with, when its folder is readable here
    and holds the same weights (for expected counts); None otherwise."""
    from benthos.runs.run import read_meta

    try:
        meta = read_meta(info["run"], kind="detector")
    except (KeyError, TypeError, BenthosError):
        return None
    same = (meta.get("weights") or {}).get("sha256") == info.get("weights_sha256")
    return meta.get("count_threshold") if same else None


def _tta_setting(info: dict) -> dict:
    """A share's ``info`` with ``tta`` as today's mode names (files of before wrote true/false)."""
    if isinstance(info.get("tta"), bool):
        return {**info, "tta": "flip" if info["tta"] else "none"}
    return info


def written_floor(config: dict) -> float:
    """The lowest score `detect predict` writes by default: 0.05, or the run's own lower floor (a detector
    whose scores run low, YOLO v1, keeps boxes from 0.005; a run trained with 0 keeps every box)."""
    recorded = config.get("score_thresh")
    return 0.05 if recorded is None else min(0.05, float(recorded))


def predict(run: str | os.PathLike, images: str | os.PathLike, out: str | os.PathLike, *,
            tile: int | None = None, tile_overlap: float = 0.2, score_thresh: float | None = None,
            min_score: float | None = None, tta: str | bool | None = None, progress=None,
            shard: str | None = None, box_vote: float | None = None,
            device: str | None = None, test_proposals: int | None = None, backend: str | None = None,
            test_roi_sampling: int | None = None) -> dict:
    """Predict every image under ``images`` with a detector run and write the outputs into ``out``
    (:mod:`benthos.detect.outputs`): every box down to ``score_thresh`` (None: 0.05, or the run's own
    lower floor, e.g. YOLO v1's 0.005), and counts of the boxes at
    or above the run's counting threshold (fitted when it was trained; ``min_score`` overrides it).

    Resumable: each finished image goes to ``OUT/predictions.partial.jsonl`` (:mod:`benthos.runs.journal`,
    durable within seconds), so rerunning after a kill predicts only the rest; the outputs are written
    at the end. One process at a time: a second one on the same ``out`` is refused while the first holds
    the journal's lock. ``progress``: called with status lines.
    ``shard``: "I/N", only the images of share I of N (:func:`benthos.runs.shards.in_share`, as
    ``benthos predict``), written into ``OUT/shard_IofN/`` so that shares never share files.
    ``tta``, ``box_vote``, ``test_proposals``, ``test_roi_sampling``, ``backend``: as
    :func:`benthos.detect.build.model_from_run`
    (None: as the run was configured; the default backend). The backend changes outputs only at float
    rounding, so a job resumed under another one continues its journal.
    Returns {"files", "results", "skipped", "resumed", "threshold", "backend"}.
    """
    from benthos.data.images import find_images
    from benthos.detect.build import backend_of, box_vote_of, load_detector, roi_sampling_of, test_proposals_of
    from benthos.detect.inference import predict_each
    from benthos.detect.outputs import SETTINGS, result, write_predictions
    from benthos.detect.tta import tta_of
    from benthos.runs.journal import SUFFIX, Journal, Progress
    from benthos.runs.run import WEIGHTS, run_identity, weights_digest

    _check_tiles(tile, tile_overlap)
    if score_thresh is not None and not 0 <= score_thresh < 1:
        raise BenthosError(f"--score-thresh {score_thresh}: give a score from 0 to below 1, e.g. 0.05")
    threshold_given = CountThreshold.given(min_score) if min_score is not None else None
    run = Path(run)
    model, info = load_detector(run, tta=tta, box_vote=box_vote, device=device, test_proposals=test_proposals,
                                test_roi_sampling=test_roi_sampling, backend=backend)
    if score_thresh is None:
        score_thresh = written_floor(info["config"])
    from benthos.detect.counting import run_threshold

    threshold = threshold_given or run_threshold(info, str(run))
    digest = weights_digest(run)  # of the weights loaded now, whatever the file holds by the end
    paths = find_images(images)
    if shard:
        from benthos.runs.shards import in_share, parse_shard

        share = parse_shard(shard)
        paths = [p for p in paths if in_share(p, share)]
        out = Path(out) / f"shard_{share[0]}of{share[1]}"
    header = {"job": "benthos detect predict", **run_identity(run), "categories": info["classes"], "tile": tile,
              "tile_overlap": tile_overlap, "score_thresh": score_thresh, "tta": tta_of(model),
              "box_vote": box_vote_of(model), "test_proposals": test_proposals_of(model),
              "test_roi_sampling": roi_sampling_of(model)}
    if shard:
        header["shard"] = shard
    # journals from before these keys predicted as the run was configured (no --box-vote then), with
    # torchvision's 1000 test proposals
    journal = Journal(Path(out) / ("predictions" + SUFFIX), header,
                      implied={"box_vote": info["config"].get("box_vote") or 0.0,  # torchvision's 1000 proposals
                               "test_proposals": None if header["test_proposals"] is None else 1000,  # and its 2 x 2
                               "test_roi_sampling": None if header["test_roi_sampling"] is None else 2})  # RoIAlign points
    say = progress or (lambda line: None)
    todo = journal.remaining(paths, progress)
    n0 = len(paths) - len(todo)
    status = Progress(len(paths), n0, progress)
    with journal:  # held (locked against a second process) until the outputs are written
        for k, (p, r, problem) in enumerate(predict_each(model, todo, tile, tile_overlap, score_thresh), 1):
            if r is None:
                say(f"skipped: {problem}")
                journal.add([{"image": str(p), "skipped": problem}])
            else:  # each frame as it is done: the journal makes it durable within seconds
                journal.add([{"image": str(p), "width": r["width"], "height": r["height"],
                              "boxes": np.round(r["boxes"], 2).tolist(), "scores": np.round(r["scores"], 5).tolist(),
                              "labels": r["labels"].tolist()}])
            status.update(k)
        journal.flush()
        records = [journal.done[str(p)] for p in paths]
        skipped = [r["skipped"] for r in records if "skipped" in r]
        results = [result(r["image"], r["width"], r["height"], r["boxes"], r["scores"], r["labels"])
                   for r in records if "skipped" not in r]
        made = {"run": str(run), "weights_bytes": header["files"].get(WEIGHTS, {}).get("size"),
                "weights_sha256": digest, "architecture": info["architecture"], **{k: header[k] for k in SETTINGS},
                "backend": backend_of(model)}
        files = write_predictions(results, info["classes"], out, threshold,
                                  info={**made, **({"shard": shard} if shard else {})},
                                  expected=info.get("count_threshold"))
        journal.close(remove=True)
    return {"files": files, "results": results, "skipped": skipped, "resumed": n0, "threshold": threshold,
            "classes": info["classes"], "backend": backend_of(model)}


def merge(shares: list[str | os.PathLike], out: str | os.PathLike, min_score: float | None = None) -> dict:
    """Join the output folders of ``benthos detect predict --shard I/N`` (``OUT/shard_IofN/``) into
    ``out``: the same files an unsharded run writes, images in the same order.

    ``shares``: the share folders, or one folder holding them. Refuses an unfinished share (its
    journal is still there), missing or repeated shares, shares of other runs or class lists, and
    an image in two shares. ``min_score``: count at this score (default: as the shares were counted).
    Returns {"files", "shares", "images", "detections", "threshold"}.
    """
    from benthos.detect.outputs import SETTINGS, read_share, recorded_threshold, write_predictions
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
    first, owner, results, thresholds, recorded, read, infos = None, {}, [], [], [], [], []
    for f in folders:
        refuse_unfinished(f, f / ("predictions" + SUFFIX), "benthos detect predict")
        categories, info, share = read_share(f)
        try:
            recorded.append(parse_shard(str(info["shard"])) if "shard" in info else None)
        except BenthosError as exc:
            raise DataError(f"{f}: its record names no valid share ({exc})") from None
        if first is None:
            first = (f, categories, info)
        elif categories != first[1]:
            raise DataError(f"{f}: its classes ({', '.join(categories)}) differ from {first[0]}'s "
                            f"({', '.join(first[1])}): merge the shares of one run")
        infos.append(_tta_setting(info))
        t = recorded_threshold(info, str(f / "detections.coco.json"))
        if t is not None:
            thresholds.append(t)
        read.append((f, share))
    check_same_job(folders, [_with_implied_box_vote(i) for i in infos],
                   keys=("weights_sha256", "weights_bytes", *SETTINGS))
    check_shares([f / "detections.coco.json" for f in folders], recorded)  # older shares: by their folders' names
    for f, share in read:
        for name, r in share:
            if name in owner:
                raise DataError(f"{f}: image {name} is also in {owner[name]}: the shares overlap")
            owner[name] = f
            results.append(r)
    if min_score is not None:
        threshold = CountThreshold.given(min_score)
    else:
        distinct = {json.dumps(t.to_dict(), sort_keys=True) for t in thresholds}
        if len(distinct) > 1:
            raise DataError("the shares were counted at different scores ("
                            + "; ".join(t.describe() for t in thresholds[:3]) + "): give --min-score to count them all alike")
        from benthos.runs.threshold import fallback

        threshold = thresholds[0] if thresholds else fallback("the shares")
    out = Path(out)
    if out.resolve() in {f.resolve() for f in folders}:
        raise DataError(f"{out} is one of the shares; write the merged files elsewhere (e.g. the folder above them)")
    results.sort(key=lambda r: r["path"])  # the order of an unsharded run (find_images sorts)
    info = {k: v for k, v in first[2].items() if k not in ("shard", "count_thresh", "count_threshold")}
    files = write_predictions(results, first[1], out, threshold, info=info, expected=_fitted_counting(info))
    return {"files": files, "shares": len(folders), "images": len(results),
            "detections": sum(len(r["scores"]) for r in results), "threshold": threshold}


def export_detector(run: str | os.PathLike, fmt: str, out: str | os.PathLike, int8: bool = False,
                    progress=None) -> dict:
    """`benthos export` of a detector run: the whole network as one ONNX graph in the folder ``out``, with
    the settings the run predicts with (:mod:`benthos.detect.export`); returns the export's record."""
    from benthos.detect.build import load_detector
    from benthos.detect.export import check_exportable, export_graph
    from benthos.runs.run import read_meta

    meta = read_meta(run, "detector")
    if fmt != "onnx":
        raise BenthosError(f"--format {fmt}: detectors export to ONNX only (--format onnx); OpenVINO can read "
                           "that file itself")
    if int8:
        raise BenthosError("--int8 is for classifiers; export the detector without it")
    check_exportable(meta)  # before the model is loaded
    model = load_detector(run, tta="none", backend="torch", device="cpu")[0]
    return export_graph(model, Path(run), meta, out, progress)


def compare_detector_export(run_dir: str | os.PathLike, export_dir: str | os.PathLike, frames: int = 10) -> dict | None:
    """The exported graph against PyTorch on up to ``frames`` held-out frames of the run: boxes each
    finds, how many of PyTorch's have a partner in the export (same label, IoU >= 0.99), the largest
    score difference between partners, and seconds per frame of each. None without readable frames."""
    import time

    import torch
    from torchvision.ops import box_iou

    from benthos.detect.build import load_detector
    from benthos.detect.export import OnnxDetector, example_frames
    from benthos.infer.export import read_record

    run_dir = Path(run_dir)
    images = example_frames(run_dir, frames)
    if not images:
        return None
    model = load_detector(run_dir, tta="none", backend="torch", device="cpu")[0]  # as `detect predict` runs it
    exported = OnnxDetector(*read_record(export_dir))
    n_torch = n_export = matched = 0
    score_diff, t_torch, t_export = 0.0, [], []
    for x in images:
        start = time.perf_counter()
        with torch.no_grad():
            ref = model([x])[0]
        t_torch.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = exported([x])[0]
        t_export.append(time.perf_counter() - start)
        n_torch, n_export = n_torch + len(ref["boxes"]), n_export + len(got["boxes"])
        if len(ref["boxes"]) and len(got["boxes"]):
            iou = box_iou(ref["boxes"], got["boxes"])
            iou[ref["labels"][:, None] != got["labels"][None, :]] = 0
            best, idx = iou.max(1)
            ok = best >= 0.99
            matched += int(ok.sum())
            if ok.any():
                score_diff = max(score_diff, float((ref["scores"][ok] - got["scores"][idx[ok]]).abs().max()))
    return {"frames": len(images), "boxes_torch": n_torch, "boxes_export": n_export, "matched": matched,
            "max_score_diff": score_diff, "torch_s_per_frame": float(np.median(t_torch)),
            "export_s_per_frame": float(np.median(t_export))}
