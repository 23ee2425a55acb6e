"""A detector from a config, and a trained detector from its run folder (the loader that
``benthos.runs.load_run`` uses for runs of kind ``detector``)."""
from __future__ import annotations

from pathlib import Path

import torch

from benthos.detect.config import DetectConfig, check_box_vote
# what a loaded detector predicts with, read back (kept importable from here, where callers look)
from benthos.detect.settings import backend_of, box_vote_of, roi_sampling_of, test_proposals_of  # noqa: F401
from benthos.errors import WeightsError


# builder options whose default changed, as runs saved before the option was recorded were built
LEGACY_OPTIONS = {"yolov1_lite0": {"outputs": "sigmoid"}}


def build_model(cfg: DetectConfig, num_classes: int) -> torch.nn.Module:
    """The detector ``cfg`` describes (resolved), for ``num_classes`` foreground classes."""
    from benthos.detect.registry import create_detector

    opts = dict(cfg.extra, backbone=cfg.backbone, trainable_stages=cfg.trainable_stages,
                anchor_sizes=cfg.anchor_sizes, score_thresh=cfg.score_thresh, normalize=cfg.normalize)
    if cfg.box_vote:  # None (a run saved before the key existed) or 0: plain NMS
        opts["box_vote"] = cfg.box_vote
    for key in ("roi_op", "max_proposals"):  # None (or a run saved before the key existed): the builder's default
        if getattr(cfg, key, None) is not None:
            opts[key] = getattr(cfg, key)
    model = create_detector(cfg.model, num_classes, pretrained_backbone=cfg.pretrained_backbone,
                            image_size=cfg.input_size, **opts)
    if cfg.test_proposals:
        set_test_proposals(model, cfg.test_proposals)
    return model


def set_test_proposals(model: torch.nn.Module, n: int) -> None:
    """Keep ``n`` RPN proposals per image at test time (Faster R-CNN, R-FCN): the RoI head's cost grows
    with them (training keeps its own number). The candidates per feature level going into the RPN's NMS
    are ``n`` too, as torchvision pairs them (1000 and 1000): fewer boxes through NMS, the same AP50 on
    held-out brittle-star frames at 500 and 400 (BENCHMARKS.md, "Detection speed")."""
    rpn = getattr(model, "rpn", None)
    if rpn is not None:
        rpn._post_nms_top_n["testing"] = int(n)
        rpn._pre_nms_top_n["testing"] = int(n)


def set_test_roi_sampling(model: torch.nn.Module, n: int | None) -> None:
    """Sample ``n`` x ``n`` points per RoIAlign bin at test time (Faster R-CNN; torchvision trains with 2 x 2):
    a quarter of the RoI pooling's work at 1, the same AP50 to 0.001 on held-out brittle-star frames
    (BENCHMARKS.md, "Detection speed"). None: leave it as built."""
    pool = getattr(getattr(model, "roi_heads", None), "box_roi_pool", None)
    if n is not None and pool is not None and hasattr(pool, "sampling_ratio"):
        pool.sampling_ratio = int(n)


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """The run's weights into ``model``: every key and shape must match (WeightsError otherwise)."""
    from benthos.runs.run import read_weights

    try:
        missing, unexpected = model.load_state_dict(read_weights(path), strict=False)
    except RuntimeError as exc:  # shapes that differ
        raise WeightsError(f"{path}: the weights do not fit the detector run.json describes "
                           f"({str(exc).splitlines()[-1].strip()[:200]}); was the run folder edited?") from None
    if missing or unexpected:
        raise WeightsError(f"{path}: weights do not match the detector in run.json (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}); was the run folder edited?")


def model_from_run(run_dir: Path, meta: dict, device: str | torch.device | None = None, tta: str | bool | None = None,
                   box_vote: float | None = None, test_proposals: int | None = None,
                   test_roi_sampling: int | None = None, fold: bool = True,
                   backend: str | None = None) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, run.json) of a detector run; the weights are checked against run.json.

    ``device``: where it runs (:func:`benthos.infer.device.pick_device`: the GPU when there is one).
    ``tta``: "flip" also predicts on the mirror image and merges (:class:`benthos.detect.tta.FlipTTA`),
    "none" does not (True/False as before); None = as the run was configured.
    ``box_vote``: box voting IoU after the final NMS (Faster R-CNN; 0: off); None = as the run was
    configured (runs saved before the key have none). The weights are the same either way, so an
    older run can be scored with voting, or a new one without, to compare.
    ``test_proposals``: RPN proposals per image at test time, ``test_roi_sampling``: RoIAlign sampling
    points per bin side (None: as configured); ``fold``: fold the
    trunk's frozen BatchNorms into its convolutions (the same outputs, faster; False to compare).
    ``backend``: "onnx" runs the trunk (backbone + FPN) in ONNX Runtime and the rest in PyTorch
    (:mod:`benthos.detect.onnx_trunk`), "torch" (None, the default) all of it in PyTorch. :func:`backend_of`
    says which one ran.
    """
    from benthos.detect.tta import with_tta
    from benthos.infer.device import pick_device
    from benthos.runs.run import weights_file

    cfg = DetectConfig.from_dict(meta["config"], str(run_dir / "run.json"))
    cfg.extra = {**LEGACY_OPTIONS.get(cfg.model, {}), **cfg.extra}
    cfg.normalize = DetectConfig.trained_normalize(meta["config"])
    cfg.pretrained_backbone = False  # the weights file has everything
    if box_vote is not None:
        cfg.box_vote = check_box_vote(box_vote, cfg.model)
    if test_proposals is not None:
        cfg.test_proposals = test_proposals
    if test_roi_sampling is not None:
        cfg.test_roi_sampling = test_roi_sampling
    cfg.check(str(run_dir / "run.json"))
    path = weights_file(run_dir, meta)
    model = build_model(cfg, len(meta["classes"]))
    load_weights(model, path)
    set_test_roi_sampling(model, cfg.test_roi_sampling)
    model.eval()
    if fold:
        fold_for_inference(model, cfg.input_size)
    dev = pick_device(device)
    model, model.benthos_backend = _use_backend(model, run_dir, meta, cfg.input_size, backend, dev)
    model.to(dev)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    mode = cfg.tta if tta is None else ("flip" if tta is True else "none" if tta is False else tta)
    return with_tta(model, mode), meta


def _use_backend(model: torch.nn.Module, run_dir: Path, meta: dict, size: int, backend: str | None,
                 device: torch.device) -> tuple[torch.nn.Module, str]:
    """Put the backend to work on ``model`` (see :func:`model_from_run`): (the model to run, its backend's
    name). "onnx": the whole detector in ONNX Runtime where torchvision exports it
    (:mod:`benthos.detect.export`), else its trunk (:mod:`benthos.detect.onnx_trunk`); a detector that
    cannot be exported is a one-line error naming why."""
    from benthos.detect import export, onnx_trunk
    from benthos.errors import BenthosError
    from benthos.runs.run import recorded_digest

    chosen = onnx_trunk.choose(backend, device, export.exportable(meta, default=True))
    if chosen == "torch":
        return model, "torch"
    if export.exportable(meta):
        return export.use_onnx_detector(model, run_dir, meta), "onnx"
    if not onnx_trunk.use_onnx_trunk(model, run_dir, recorded_digest(run_dir, meta), size):
        raise BenthosError(f"{meta.get('architecture')} has no trunk that runs in ONNX Runtime; use --backend torch")
    return model, "onnx trunk"


def fold_for_inference(model: torch.nn.Module, size: int) -> int:
    """Fold the frozen BatchNorms of every trunk of ``model`` into their convolutions (the same outputs,
    fewer operations per frame); for loaded runs, never for training. Returns how many were folded."""
    from benthos.detect.backbones import FeatureTrunk, fold_frozen_batchnorm

    example = torch.rand(1, 3, size, size)
    return sum(fold_frozen_batchnorm(m.body, example) for m in model.modules() if isinstance(m, FeatureTrunk))


def load_detector(run: str | Path, tta: str | bool | None = None, box_vote: float | None = None,
                  device: str | torch.device | None = None, **options) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, run.json) of a detector run folder; a run of another kind is refused in one
    line. Options as :func:`model_from_run`."""
    from benthos.runs.run import read_meta

    return model_from_run(Path(run), read_meta(run, kind="detector"), device=device, tta=tta, box_vote=box_vote,
                          **options)
