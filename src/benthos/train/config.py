"""Typed training configuration: CLI flags and YAML keys are the same names; unknown keys are errors.

Every key is checked for its type (as the dataclass declares it) and its range before anything
runs: ``epochs: "many"``, ``lr: -5`` or ``input_size: 0`` is a one-line ConfigError naming the key
(and the YAML file), never a traceback and never quietly another value.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benthos.configs import check_types
from benthos.errors import ConfigError, closest

STRATEGIES = ("linear-probe", "freeze-bottom", "fine-tune", "gradual", "scratch")
TTA_CHOICES = ("auto", "dihedral", "flip", "none")
BALANCE = ("weighted-loss", "sampler", "none")
DATA_FORMATS = ("folder", "csv", "coco", "coralnet")  # benthos.data.FORMATS, without importing the data layer
AUGMENTS = ("seafloor", "seafloor-strong", "standard", "none")  # benthos.data.transforms.AUGMENTS (imports torch)

# whole-number keys: (smallest, largest) accepted; the largest keep values within what the libraries take
COUNTS = {"freeze_bottom": (0, 1_000), "gradual_epochs": (0, 1_000_000), "input_size": (1, 8192),
          "epochs": (1, 1_000_000), "batch_size": (1, 1_000_000), "patience": (1, 1_000_000),
          "members": (1, 1_000), "seed": (0, 2**32 - 1), "num_workers": (0, 1_024), "min_per_class": (1, 10**9),
          "patch_size": (1, 65_536), "num_nodes": (1, 100_000)}
# number keys: (test, what to use instead); NaN and infinities never pass
NUMBERS = {"lr": (lambda v: v > 0, "above 0, e.g. 0.002"), "lr_decay": (lambda v: 0 < v <= 1, "in (0, 1], e.g. 0.85"),
           "weight_decay": (lambda v: v >= 0, ">= 0, e.g. 0.02"), "warmup_epochs": (lambda v: v >= 0, ">= 0, e.g. 1"),
           "label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1), e.g. 0.1"),
           "ema_decay": (lambda v: 0 <= v < 1, "in [0, 1), e.g. 0.995 (0: off)"),
           "margin": (lambda v: v >= 0, ">= 0 (a fraction of the box size), e.g. 0.1")}


@dataclass
class TrainConfig:
    data: str = ""
    out: str = "runs/classifier"
    format: str | None = None  # folder | csv | coco | coralnet; recognised when None
    images: str | None = None  # image folder for COCO/CoralNet annotations
    model: str = "efficientnet_lite0"
    model_options: dict[str, Any] = field(default_factory=dict)  # architecture options of the zoo model
    # (`benthos models info NAME` lists them), e.g. {"block_design": "full_preact"} or {"aux_logits": True}
    aux_weight: float = 0.3  # weight of the auxiliary classifiers' losses (GoogLeNet / Inception-v3 with aux_logits)
    weights: str | None = "imagenet"  # None for random init; a name from the card or a file path
    strategy: str = "fine-tune"
    freeze_bottom: int = 0  # stages frozen for strategy freeze-bottom
    gradual_epochs: int = 2  # head-only epochs before unfreezing for strategy gradual
    input_size: int | None = None  # default: 224 for pretrained CNNs (the card's size otherwise)
    epochs: int = 25
    batch_size: int = 32
    lr: float = 2e-3  # head learning rate; stages below get lr * lr_decay^depth
    lr_decay: float = 0.85  # per-stage learning-rate decay toward the stem (chosen on CCR: BENCHMARKS.md)
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    mixup: float = 0.0  # mixup's Beta(a, a) parameter (0: off): each batch blended with a shuffled copy of itself
    # (an option: it measured no gain on CCR patches, BENCHMARKS.md)
    ema_decay: float = 0.995  # 0 disables the exponential moving average of weights
    augment: str = "seafloor"  # seafloor (flips both axes, 90-degree rotations) | seafloor-strong (+ TrivialAugment, erasing) | standard | none
    # Survey patches are cut at a fixed scale around a point or box, so their scale and border carry
    # information: training sees whole patches (no zoom) and evaluation all of the patch (it beat the
    # ImageNet habit of zooming crops and a centre crop on CCR patches: BENCHMARKS.md).
    crop_scale: float = 1.0  # random resized crops keep at least this fraction of the image (1: whole image, no zoom)
    eval_crop: float = 1.0  # evaluation and prediction see this central fraction of the image (1: all of it)
    tta: str = "auto"  # test-time views: auto (the training symmetries: dihedral for seafloor augmentation, else
    # flip), dihedral (4 rotations x mirror), flip, or none
    calibrate: bool = True  # fit a softmax temperature on the validation split after training
    balance: str = "none"  # unweighted loss: class weighting cost accuracy and macro-F1 on CCR and on a
                           # 25:1 imbalanced set without raising balanced accuracy (BENCHMARKS.md)
    patience: int = 6  # early stopping: epochs in a row with validation loss clearly above its best
    stop_tolerance: float = 0.02  # "clearly": by more than this fraction (small validation sets are noisy)
    val_fraction: float = 0.15  # 0: no validation split (full schedule, last weights kept, no calibration)
    test_fraction: float = 0.15
    split: str | None = None  # a split.json to reuse (e.g. from another run)
    add: list[str] = field(default_factory=list)  # more labelled data for the training split only (e.g. the
    # answers of `benthos review`); items from photos held out for validation/test are left out
    members: int = 1  # >1: a cross-fitted ensemble, each member validated on its own val_fraction fold (train.ensemble)
    seed: int = 0
    num_workers: int | None = None  # image-reading processes; None: 1 on a CPU, up to 4 beside a GPU
    channels_last: bool = True
    max_minutes: float | None = None  # stop training after this long (best checkpoint kept)
    on_error: str = "skip"  # bad images/rows: skip them (counted) or stop before training
    allow_outside_paths: bool = False  # take images a manifest/COCO/CoralNet file names outside its folder (and --images)
    min_per_class: int = 2
    margin: float = 0.1  # context around COCO boxes
    patch_size: int = 224  # CoralNet patch side
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    precision: str | None = None  # default: bf16-mixed on GPU, 32 on CPU
    ddp_strategy: str = "auto"  # Lightning's strategy flag, e.g. ddp, ddp_spawn
    resume: str | None = None
    report: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def on_gpu(self) -> bool:
        """Whether Lightning will train on a CUDA GPU with these flags."""
        import torch

        return torch.cuda.is_available() and self.accelerator in ("auto", "gpu", "cuda")

    def loader_workers(self) -> int:
        """Image-reading processes for training: ``num_workers``, else 1 on a CPU, up to 4 beside a GPU."""
        from benthos.infer.device import loader_workers

        return loader_workers(self.num_workers, "cuda" if self.on_gpu() else "cpu", cpu_default=1)

    def check_types(self, source: str = "config") -> TrainConfig:
        """Each key's value has the type the dataclass declares (an int where a float is declared is
        fine; ``devices`` may be a number); else a ConfigError naming the key and ``source``."""
        if isinstance(self.add, str):
            self.add = [self.add]
        if isinstance(self.devices, int) and not isinstance(self.devices, bool):
            self.devices = str(self.devices)  # Lightning takes 2 and "2" alike; the CLI gives text
        check_types(self, source)
        return self

    def validate(self) -> TrainConfig:
        self.check_types()
        for name, (lo, hi) in COUNTS.items():
            v = getattr(self, name)
            if v is not None and not lo <= v <= hi:
                raise ConfigError(f"{name} {v}: use a whole number from {lo} to {hi:,}")
        for name, (fits, use) in NUMBERS.items():
            v = getattr(self, name)
            if not (math.isfinite(v) and fits(v)):
                raise ConfigError(f"{name} {v}: use a number {use}")
        if self.max_minutes is not None and not (math.isfinite(self.max_minutes) and self.max_minutes > 0):
            raise ConfigError(f"max_minutes {self.max_minutes}: use a number of minutes above 0, or leave it out")
        if self.format is not None and self.format not in DATA_FORMATS:
            raise ConfigError(f"format '{self.format}' is not known.{closest(self.format, DATA_FORMATS)} "
                              f"Use one of {', '.join(DATA_FORMATS)} (or leave it out to recognise it)")
        if self.augment not in AUGMENTS:
            raise ConfigError(f"augment '{self.augment}' is not known.{closest(self.augment, AUGMENTS)} "
                              f"Use one of {', '.join(AUGMENTS)}")
        if not self.out.strip():
            raise ConfigError("out is empty: name the run folder to create")
        if not self.data and not self.resume:  # a resumed run reads its data from its config.yaml
            raise ConfigError("no training data given: pass DATA (a folder, CSV manifest, COCO JSON or CoralNet CSV)")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy '{self.strategy}'.{closest(self.strategy, STRATEGIES)} Choose one of {', '.join(STRATEGIES)}")
        if self.balance not in BALANCE:
            raise ConfigError(f"unknown balance '{self.balance}'; choose one of {', '.join(BALANCE)}")
        if not 0 <= self.stop_tolerance < 1:
            raise ConfigError(f"stop_tolerance {self.stop_tolerance}: use a fraction of the best validation loss "
                              "between 0 and 1, e.g. 0.02")
        if not 0 <= self.mixup <= 10:
            raise ConfigError(f"mixup {self.mixup}: use 0 (off) or a Beta parameter such as 0.2 (mild) to 1 (strong)")
        if isinstance(self.tta, bool):  # true/false before the views were named
            self.tta = "auto" if self.tta else "none"
        if self.tta not in TTA_CHOICES:
            raise ConfigError(f"tta {self.tta!r}: choose one of {', '.join(TTA_CHOICES)}")
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options {self.model_options!r}: give a mapping of option: value "
                              "(`benthos models info NAME` lists the options)")
        if isinstance(self.aux_weight, bool) or not isinstance(self.aux_weight, (int, float)) or not 0 <= self.aux_weight <= 10:
            raise ConfigError(f"aux_weight {self.aux_weight!r}: use a weight from 0 (auxiliary heads off) to 10, "
                              "e.g. 0.3 as in GoogLeNet")
        if self.on_error not in ("skip", "stop"):
            raise ConfigError(f"on_error must be 'skip' or 'stop', not '{self.on_error}'")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("val_fraction and test_fraction must be in [0, 1) and leave data for training")
        for name in ("crop_scale", "eval_crop"):
            if not 0 < getattr(self, name) <= 1:  # NaN fails this too
                raise ConfigError(f"{name} {getattr(self, name)}: use a fraction of the image in (0, 1], e.g. 1 for all of it")
        if self.members > 1:
            if self.val_fraction <= 0:
                raise ConfigError(f"members {self.members}: each member early-stops on its own validation fold, "
                                  "so val_fraction must be above 0")
            if self.members * self.val_fraction + self.test_fraction >= 1:
                raise ConfigError(f"members {self.members} x val_fraction {self.val_fraction} + test_fraction "
                                  f"{self.test_fraction} leaves no data for training; use fewer members or smaller fractions")
            if self.split:
                raise ConfigError("members > 1 makes its own validation folds; it cannot reuse a split file (--split)")
            if self.num_nodes > 1 or str(self.devices) not in ("auto", "1"):
                raise ConfigError(f"members {self.members}: ensemble members train one after another on one device; "
                                  "drop --devices/--num-nodes (or train the members as separate runs with DDP)")
        if self.strategy == "scratch":
            self.weights = None
        from benthos.models import check_input_size, model_card

        model_card(self.model)  # an unknown name is refused now, not after the data are read
        if self.input_size is not None:  # the architecture's own minimum
            check_input_size(self.model, self.input_size)
        return self

    def tta_mode(self) -> str:
        """The test-time views the run is evaluated and predicted with (``auto`` resolved)."""
        if self.tta != "auto":
            return self.tta
        return "dihedral" if self.augment.startswith("seafloor") else "flip"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in d if not isinstance(k, str) or k.replace("-", "_") not in names]
        if unknown:
            k = str(unknown[0])
            raise ConfigError(f"{source}: unknown key '{k}'.{closest(k.replace('-', '_'), names)}")
        d = {k.replace("-", "_"): v for k, v in d.items()}
        if isinstance(d.get("tta"), bool):  # configs written when tta was true/false
            d["tta"] = "auto" if d["tta"] else "none"
        return cls(**d).check_types(source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {' '.join(str(exc).split())}") from None
        except (UnicodeDecodeError, RecursionError):  # another encoding; nesting too deep for the parser
            raise ConfigError(f"cannot read config {path}: not UTF-8 YAML text; save it as UTF-8") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
        return cls.from_dict(d, str(path))
