"""`benthos train DATA --out RUN`: every TrainConfig key is a flag (and a YAML key for --config)."""
from __future__ import annotations

import argparse

from benthos.cli import DEPRECATED, add_config_flags, config_values, key_value_flag

HELP = {
    "out": "run folder to create", "format": "folder | csv | coco | coralnet (recognised when omitted)",
    "images": "image folder for COCO/CoralNet annotations", "model": "zoo model name (benthos models list)",
    "model_options": "an architecture option of the zoo model, e.g. block_design=full_preact, aux_logits=true "
                     "(`benthos models info NAME` lists them)",
    "aux_weight": "weight of the auxiliary classifiers' losses (GoogLeNet, Inception-v3 with --model-option "
                  "aux_logits=true; 0.3 as in GoogLeNet)",
    "weights": "'imagenet', a weights file, or 'none' for random init",
    "strategy": "linear-probe | freeze-bottom | fine-tune | gradual | scratch",
    "freeze_bottom": "stages frozen with --strategy freeze-bottom", "resume": "continue an interrupted run folder with its own settings and data; only where and how it runs "
              "may change (--accelerator, --devices, --num-nodes, --ddp-strategy, --num-workers, --max-minutes, "
              "--precision, --channels-last, --report, --allow-outside-paths)",
    "max_minutes": "stop training after this many minutes (the best weights are kept)",
    "balance": "weighted-loss | sampler | none", "augment": "seafloor | seafloor-strong | standard | none",
    "mixup": "mixup's Beta parameter: 0 off, 0.2 mild, 1 strong; each batch blended with a shuffled copy",
    "patience": "stop after this many epochs in a row with validation loss clearly above its best",
    "members": "train this many models, each validated on its own fold, and average them (cross-fitted ensemble)",
    "crop_scale": "smallest area fraction of the random resized training crops; 1 = the whole image, no zoom",
    "eval_crop": "central fraction of the image seen at evaluation and prediction; 1 = all of it",
    "num_workers": "processes reading images; None = 1 on a CPU, up to 4 beside a GPU",
    "add": "more labelled data for the training split only, e.g. the answers of `benthos review` (repeatable); "
           "items from photos held out for validation or test are left out",
    "stop_tolerance": "'clearly' = by more than this fraction of the best (default 0.02); the latest "
                      "epoch within it is kept",
    "tta": "test-time views for evaluation and prediction: auto (the training symmetries), dihedral, flip, none",
    "allow_outside_paths": "read images that a manifest, COCO file or CoralNet export names outside its own "
                           "folder (and --images); by default each such record is skipped and named",
}

DEPRECATED[("train",)] = {"--no-tta": "--tta none"}


def _add_flag(parser: argparse.ArgumentParser, flag: str, text: str) -> None:
    parser.add_argument(flag, action="append", metavar="DATA", default=argparse.SUPPRESS, help=text)


def _tta_flag(parser: argparse.ArgumentParser, flag: str, text: str) -> None:
    from benthos.train.config import TTA_CHOICES

    parser.add_argument(flag, nargs="?", const="auto", choices=TTA_CHOICES, default=argparse.SUPPRESS,
                        help=text + " (default: auto)")


def register(sub: argparse._SubParsersAction) -> None:
    from benthos.train.config import TrainConfig

    p = sub.add_parser("train", help="train a taxon classifier by transfer learning",
                       description="Train a classifier on labelled images; writes weights, metrics and a report to --out.")
    p.add_argument("data", nargs="?", default=argparse.SUPPRESS, help="image folder, CSV manifest, COCO JSON or CoralNet CSV")
    p.add_argument("--config", help="YAML file with any of the options below (flags override it)")
    add_config_flags(p, TrainConfig, HELP, skip=("data", "extra"),
                     custom={"add": _add_flag, "model_options": lambda q, f, t: key_value_flag(q, "--model-option", t, "model_options"),
                             "tta": _tta_flag})
    p.set_defaults(func=_train)


def options_from_args(args: argparse.Namespace, cls):
    values = config_values(args)
    base = cls.from_yaml(args.config).to_dict() if getattr(args, "config", None) else {}
    merged = {**base, **values}
    if isinstance(merged.get("model_options"), dict) and "model_options" in base and "model_options" in values:
        merged["model_options"] = {**base["model_options"], **values["model_options"]}
    if str(merged.get("weights", "")).lower() == "none":
        merged["weights"] = None
    return cls.from_dict(merged)


def _train(args: argparse.Namespace) -> int:
    import logging

    from benthos.train import TrainConfig, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = options_from_args(args, TrainConfig)
    if not cfg.data and not cfg.resume:
        from benthos.errors import ConfigError

        raise ConfigError("give the training DATA (a folder, CSV, COCO JSON or CoralNet CSV), or --resume RUN")
    if cfg.resume and not cfg.data:
        cfg.data = "(from resumed run)"
    meta = train(cfg)
    from benthos.tasks import finish_run

    summary = finish_run(meta, cfg.out if not cfg.resume else cfg.resume, report=cfg.report)
    print(summary)
    return 0
