"""Typed detection training config: every key is a CLI flag of `benthos detect train` (derived from
the fields, as `benthos train`'s are from TrainConfig) and a YAML key; unknown keys are errors, and
every value is checked for its type and range before anything is read or written."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from benthos.configs import check_types
from benthos.errors import ConfigError, closest

TTA_MODES = ("none", "flip")
# keys of earlier versions -> today's (YAML configs, run.json and config.yaml of older runs)
RENAMED = {"detector": "model", "image_size": "input_size"}


@dataclass
class DetectConfig:
    model: str = ""                    # detector name; "" = the registry default (benthos detect list)
    backbone: str | None = None        # override the detector's trunk (timm name)
    pretrained_backbone: bool = True
    input_size: int | None = None      # network input, long side in px; None = the detector's default
    epochs: int | None = None
    max_minutes: float | None = None   # wall-clock budget; the LR schedule ends with it
    batch_size: int | None = None
    optimizer: str | None = None       # "sgd" | "adamw"
    lr: float | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None    # None: the detector's default (100 if it names none)
    grad_clip: float = 10.0
    trainable_stages: int | None = None  # fine-tune only the last N trunk stages (None: all; 0: none)
    anchor_sizes: list | None = None   # one list of sizes (px) per feature map
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
                                       # (runs whose config lacks this key used ImageNet's and load so)
    ema_decay: float = 0.9995          # exponential moving average of weights (0: off); evaluated and saved
    seed: int = 0
    split: str | None = None           # split.json of an earlier detection run: train on and hold out the same
                                       # images (then val_fraction and group_pattern are unused; seed seeds training)
    score_thresh: float | None = None  # lowest score of a box kept (None: the detector's default, 0.05 for most)
    box_vote: float | None = None      # Faster R-CNN: after the final NMS, move each box to the score-weighted mean
                                       # of its class's boxes overlapping it by this IoU (0: off; None: the
                                       # detector's default; runs whose config lacks the key: off)
    roi_op: str | None = None          # Faster / Fast R-CNN: "align" (RoIAlign) or "pool" (RoI max pooling);
                                       # None: the detector's default ("align" for Faster R-CNN, "pool" for Fast)
    max_proposals: int | None = None   # R-CNN / Fast R-CNN: selective-search proposals kept per image
                                       # (None: the detector's default)
    test_proposals: int | None = None  # Faster R-CNN / R-FCN: RPN proposals kept per image at test time (None: the
                                       # detector's default; torchvision's 1000 for runs whose config lacks the key)
    test_roi_sampling: int | None = None  # Faster R-CNN with RoIAlign: sampling points per bin side at test time
                                       # (training keeps torchvision's 2; None: the detector's default; 2 for runs
                                       # whose config lacks the key)
    tta: str = "none"                  # test-time views for evaluation and prediction: none, or flip (the mirror
                                       # image too, merged by NMS: slightly better AP, over twice the time)
    channels_last: bool = True
    threads: int | None = None
    num_workers: int | None = None     # DataLoader worker processes; None: 0 on a CPU, up to 4 with a GPU
    eval_every: int = 0                # evaluate on val every N epochs and keep the best (0: only at the end)
    limit_train_batches: int | None = None
    resume: bool = True
    allow_outside_paths: bool = False  # take images the annotations name outside their folder (and --images)
    extra: dict = field(default_factory=dict)  # builder options not listed above

    def resolved(self) -> DetectConfig:
        """Fill unset values from the detector's registry defaults and check every value."""
        from benthos.detect.registry import DEFAULT_DETECTOR, detector_spec

        self.check()
        c = dataclasses.replace(self, model=self.model or DEFAULT_DETECTOR)
        spec = detector_spec(c.model)
        fields = {f.name for f in dataclasses.fields(c)}
        for key, value in spec.defaults.items():
            if key not in fields:  # a builder option of this detector: recorded, so the run rebuilds as trained
                c.extra = {key: value, **c.extra}
            elif getattr(c, key, None) is None:
                setattr(c, key, value)
        if c.warmup_steps is None:
            c.warmup_steps = 100
        if c.score_thresh is None:
            c.score_thresh = 0.05
        if c.input_size is None:
            c.input_size = spec.image_size
        if c.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer {c.optimizer!r}: use 'sgd' or 'adamw'")
        if c.group_pattern:
            import re

            try:
                re.compile(c.group_pattern)
            except re.error as exc:
                raise ConfigError(f"group_pattern {c.group_pattern!r} is not a valid regular expression ({exc})") from exc
        from benthos.detect.backbones import check_normalize

        check_normalize(c.normalize)  # here too, so a typo stops the run before the data are read
        c.box_vote = check_box_vote(0.0 if c.box_vote is None else c.box_vote, c.model)
        if c.roi_op is not None:
            if "roi_op" not in spec.defaults:
                raise ConfigError(f"roi_op {c.roi_op!r}: the choice of RoI pooling is built for Faster R-CNN and "
                                  f"Fast R-CNN, not {c.model} ({spec.method}); leave it out")
            if c.roi_op not in ("align", "pool"):
                raise ConfigError(f"roi_op {c.roi_op!r}: use 'align' (RoIAlign) or 'pool' (RoI max pooling)")
        if c.test_proposals is not None and spec.method not in ("faster_rcnn", "rfcn"):
            raise ConfigError(f"test_proposals {c.test_proposals}: {c.model} has no region proposal network "
                              "(Faster R-CNN and R-FCN do); leave it out")
        if self.test_roi_sampling is None and c.roi_op == "pool":  # the detector's default is RoIAlign's
            c.test_roi_sampling = None
        if c.test_roi_sampling is not None and (spec.method != "faster_rcnn" or c.roi_op == "pool"):
            raise ConfigError(f"test_roi_sampling {c.test_roi_sampling}: sampling points are RoIAlign's, in Faster "
                              f"R-CNN with roi_op align; {c.model} (roi_op {c.roi_op or 'default'}) has none; leave it out")
        if c.max_proposals is not None and "max_proposals" not in spec.defaults:
            raise ConfigError(f"max_proposals {c.max_proposals}: {c.model} takes no external region proposals "
                              "(R-CNN and Fast R-CNN do); leave it out")
        c.check()
        return c

    def check(self, source: str = "detection config") -> DetectConfig:
        """Every value's type (as YAML or a flag gave it) and range; a ConfigError naming the key otherwise."""
        check_types(self, source)
        for f in dataclasses.fields(self):  # NaN, infinities and numbers no library takes
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} {value}: use a finite number")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 2 ** 53:
                raise ConfigError(f"{f.name} {value}: a number this large is a typo; use a smaller one")
        for key in ("input_size", "tile", "crop"):  # a side in px
            value = getattr(self, key)
            if value is not None and value > 8192:
                raise ConfigError(f"{key} {value}: use a side of at most 8192 px")
        if self.test_roi_sampling is not None and not 1 <= self.test_roi_sampling <= 16:
            raise ConfigError(f"test_roi_sampling {self.test_roi_sampling}: use 1 to 16 sampling points per bin side")
        for key in ("epochs", "batch_size", "threads", "limit_train_batches", "max_proposals", "test_proposals"):
            value = getattr(self, key)
            if value is not None and value > 1_000_000:
                raise ConfigError(f"{key} {value}: use a whole number up to 1,000,000")
        positive = ("input_size", "epochs", "batch_size", "tile", "crop", "threads", "limit_train_batches",
                    "max_proposals", "test_proposals")
        for key in positive:
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"{key} {value}: use a whole number >= 1" + (" (or leave it out)" if key != "epochs"
                                                                                  else ""))
        for key in ("max_minutes", "lr", "grad_clip"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(f"{key} {value}: use a number above 0")
        for key in ("weight_decay", "color_jitter"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ConfigError(f"{key} {value}: use 0 (off) or more")
        for key in ("warmup_steps", "trainable_stages", "num_workers", "eval_every"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ConfigError(f"{key} {value}: use a whole number >= 0")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction {self.val_fraction}: use a fraction between 0 and 1 (e.g. 0.2)")
        if not 0 <= self.tile_overlap < 1:
            raise ConfigError(f"tile_overlap {self.tile_overlap}: use a fraction of a tile from 0 to below 1, e.g. 0.2")
        if not 0 <= self.scale_jitter < 1:
            raise ConfigError(f"scale_jitter {self.scale_jitter}: use a fraction from 0 (off) to below 1, e.g. 0.25")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay {self.ema_decay}: use 0 (off) or a value below 1, e.g. 0.9995")
        if self.score_thresh is not None and not 0 <= self.score_thresh < 1:
            raise ConfigError(f"score_thresh {self.score_thresh}: use a score from 0 to below 1, e.g. 0.05")
        if self.tta not in TTA_MODES:
            raise ConfigError(f"tta {self.tta!r}: use one of {', '.join(TTA_MODES)}")
        if self.anchor_sizes is not None and not (
                all(isinstance(level, list) and level for level in self.anchor_sizes)
                and all(_number(s) and s > 0 for level in self.anchor_sizes for s in level)):
            raise ConfigError(f"anchor_sizes {self.anchor_sizes!r}: give one list of sizes in px per feature map, "
                              "e.g. [[16, 24], [32, 48], [64, 96], [128, 256]]")
        return self

    @staticmethod
    def trained_normalize(saved: dict) -> str:
        """The input normalisation a saved run (its run.json config or config.yaml) was trained with:
        runs whose config has no ``normalize`` key used ImageNet's statistics."""
        return saved.get("normalize", "imagenet")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> DetectConfig:
        """A config from a mapping (YAML, run.json): keys of earlier versions are read under their new
        names; unknown keys and values of the wrong type are ConfigErrors naming them."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: a config is a mapping of key: value")
        d = {RENAMED.get(k, k): v for k, v in d.items()}
        if isinstance(d.get("tta"), bool):  # written as true/false before flip was one of several modes
            d["tta"] = "flip" if d["tta"] else "none"
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}." + closest(str(unknown[0]), names))
        return cls(**d).check_as(where)

    def check_as(self, where: str) -> DetectConfig:
        try:
            return self.check(where)
        except ConfigError as exc:  # the range checks do not name the file
            raise (exc if str(exc).startswith(where) else ConfigError(f"{where}: {exc}")) from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> DetectConfig:
        import yaml

        try:
            d = yaml.safe_load(open(path, encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read YAML config ({exc})") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: a config is a mapping of key: value")
        return cls.from_dict(d, str(path))


VOTING_METHODS = ("faster_rcnn", "fast_rcnn", "rfcn")  # their builders take box_vote (torchvision's RoIHeads)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_box_vote(box_vote, detector: str) -> float:
    """``box_vote`` as a float, or a ConfigError: an IoU from 0 (off) to 1, and only for Faster R-CNN
    (the other detectors' builders have no voting step). Used by training and by loading a run."""
    from benthos.detect.registry import detector_spec

    if isinstance(box_vote, bool) or not isinstance(box_vote, (int, float)) or not 0 <= box_vote <= 1:
        raise ConfigError(f"box_vote {box_vote!r}: use an IoU from 0 (off) to 1, e.g. 0.6")
    method = detector_spec(detector).method
    if box_vote and method not in VOTING_METHODS:
        raise ConfigError(f"box_vote {box_vote}: box voting is built for the Faster R-CNN, Fast R-CNN and R-FCN "
                          "detectors, "
                          f"not {detector} ({method}); leave it at 0")
    return float(box_vote)
