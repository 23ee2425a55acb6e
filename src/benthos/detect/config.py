"""Typed detection training config: every CLI flag has a key here; unknown YAML keys are errors."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from benthos.errors import ConfigError, closest


@dataclass
class DetectConfig:
    detector: str = ""                 # "" = the registry default (benthos.detect.registry.DEFAULT_DETECTOR)
    backbone: str | None = None        # override the detector's trunk (timm name)
    pretrained_backbone: bool = True
    image_size: int | None = None      # network input, long side; None = detector default
    epochs: int | None = None
    max_minutes: float | None = None   # wall-clock budget; the LR schedule ends with it
    batch_size: int | None = None
    optimizer: str | None = None       # "sgd" | "adamw"
    lr: float | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None    # None: the detector's default (100 if it names none)
    grad_clip: float = 10.0
    trainable_stages: int | None = None  # fine-tune only the last N trunk stages (None: all)
    anchor_sizes: list | None = None
    tile: int | None = None            # train on tiles of this size (px), e.g. for mosaics
    tile_overlap: float = 0.2
    crop: int | None = None            # train on random crops of this many px at the input scale (cheaper steps)
    scale_jitter: float = 0.0          # with crop: rescale each image by a random factor in 1 +- this first;
                                       # without: multi-scale training, whole images at sizes in size * (1 +- this)
    hflip: bool = True
    vflip: bool = True                 # ROV/AUV imagery has no fixed "up" for small animals
    transpose: bool = False            # also swap x and y (with the flips: all 8 right-angle rotations and mirrors)
    color_jitter: float = 0.2
    val_fraction: float = 0.2
    group_pattern: str | None = None   # regex on the image path; its first group (or match) names the dive/video/
                                       # transect, and all frames of a group go to one side of the split
    normalize: str = "backbone"        # input mean/std: the trunk's pretraining statistics, or "imagenet"
                                       # (runs written before 2026-12-04 lack this key and load as "imagenet")
    ema_decay: float = 0.9995          # exponential moving average of weights (0: off); evaluated and saved
    seed: int = 0
    split: str | None = None           # split.json of an earlier detection run: train on and hold out the same
                                       # images (then val_fraction and group_pattern are unused; seed seeds training)
    score_thresh: float = 0.05
    box_vote: float | None = None      # Faster R-CNN: after the final NMS, move each box to the score-weighted mean
                                       # of its class's boxes overlapping it by this IoU (0: off; None: the
                                       # detector's default; runs saved before 2026-12-06 lack the key: off)
    roi_op: str | None = None          # Faster / Fast R-CNN: "align" (RoIAlign) or "pool" (RoI max pooling);
                                       # None: the detector's default ("align" for Faster R-CNN, "pool" for Fast)
    max_proposals: int | None = None   # R-CNN / Fast R-CNN: selective-search proposals kept per image
                                       # (None: the detector's default)
    tta: bool = False                  # evaluate and predict on each image and its mirror image, merged by NMS
                                       # (benthos.detect.tta: +0.02 AP50 for the default, 2.2-2.6x the time)
    channels_last: bool = True
    threads: int | None = None
    num_workers: int | None = None     # DataLoader worker processes; None: 0 on a CPU, up to 4 with a GPU
    eval_every: int = 0                # evaluate on val every N epochs and keep the best (0: only at the end)
    limit_train_batches: int | None = None
    resume: bool = True
    extra: dict = field(default_factory=dict)  # builder options not listed above

    def resolved(self) -> "DetectConfig":
        """Fill unset values from the detector's registry defaults."""
        from benthos.detect.registry import DEFAULT_DETECTOR, detector_spec

        c = dataclasses.replace(self, detector=self.detector or DEFAULT_DETECTOR)
        spec = detector_spec(c.detector)
        for key, value in spec.defaults.items():
            if getattr(c, key, None) is None:
                setattr(c, key, value)
        if c.warmup_steps is None:
            c.warmup_steps = 100
        if c.image_size is None:
            c.image_size = spec.image_size
        if c.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer {c.optimizer!r}: use 'sgd' or 'adamw'")
        if not 0 < c.val_fraction < 1:
            raise ConfigError(f"val_fraction {c.val_fraction}: use a fraction between 0 and 1 (e.g. 0.2)")
        if c.group_pattern:
            import re

            try:
                re.compile(c.group_pattern)
            except re.error as exc:
                raise ConfigError(f"group_pattern {c.group_pattern!r} is not a valid regular expression ({exc})") from exc
        from benthos.detect.backbones import check_normalize

        check_normalize(c.normalize)  # here too, so a typo stops the run before the data are read
        if c.num_workers is not None and c.num_workers < 0:
            raise ConfigError(f"num_workers {c.num_workers}: use 0 (read images in the training process) or more")
        if not 0 <= c.scale_jitter < 1:
            raise ConfigError(f"scale_jitter {c.scale_jitter}: use a fraction from 0 (off) to below 1, e.g. 0.25")
        c.box_vote = check_box_vote(0.0 if c.box_vote is None else c.box_vote, c.detector)
        if c.roi_op is not None:
            if "roi_op" not in spec.defaults:
                raise ConfigError(f"roi_op {c.roi_op!r}: the choice of RoI pooling is built for Faster R-CNN and "
                                  f"Fast R-CNN, not {c.detector} ({spec.method}); leave it out")
            if c.roi_op not in ("align", "pool"):
                raise ConfigError(f"roi_op {c.roi_op!r}: use 'align' (RoIAlign) or 'pool' (RoI max pooling)")
        if c.max_proposals is not None:
            if "max_proposals" not in spec.defaults:
                raise ConfigError(f"max_proposals {c.max_proposals}: {c.detector} takes no external region proposals "
                                  "(R-CNN and Fast R-CNN do); leave it out")
            if isinstance(c.max_proposals, bool) or not isinstance(c.max_proposals, int) or c.max_proposals < 1:
                raise ConfigError(f"max_proposals {c.max_proposals!r}: use a whole number of proposals per image, "
                                  "e.g. 2000")
        if not 0 <= c.ema_decay < 1:
            raise ConfigError(f"ema_decay {c.ema_decay}: use 0 (off) or a value below 1, e.g. 0.9995")
        return c

    @staticmethod
    def trained_normalize(saved: dict) -> str:
        """The input normalisation a saved run (its run.json config or config.yaml) was trained with:
        runs written before 2026-12-04 have no ``normalize`` key and used ImageNet's statistics."""
        return saved.get("normalize", "imagenet")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> "DetectConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}." + closest(unknown[0], names))
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "DetectConfig":
        import yaml

        try:
            d = yaml.safe_load(open(path, encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read YAML config ({exc})") from exc
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: a config is a mapping of key: value")
        return cls.from_dict(d, str(path))


VOTING_METHODS = ("faster_rcnn", "fast_rcnn", "rfcn")  # their builders take box_vote (torchvision's RoIHeads)


def check_box_vote(box_vote, detector: str) -> float:
    """``box_vote`` as a float, or a ConfigError: an IoU from 0 (off) to 1, and only for Faster R-CNN
    (the other detectors' builders have no voting step). Used by training and by ``load_detector``."""
    from benthos.detect.registry import detector_spec

    if isinstance(box_vote, bool) or not isinstance(box_vote, (int, float)) or not 0 <= box_vote <= 1:
        raise ConfigError(f"box_vote {box_vote!r}: use an IoU from 0 (off) to 1, e.g. 0.6")
    method = detector_spec(detector).method
    if box_vote and method not in VOTING_METHODS:
        raise ConfigError(f"box_vote {box_vote}: box voting is built for the Faster R-CNN, Fast R-CNN and R-FCN "
                          "detectors, "
                          f"not {detector} ({method}); leave it at 0")
    return float(box_vote)
