"""The run folder of every kind of model, one writer and one reader.

```
RUN/
  run.json              kind, schema_version, architecture, classes, config, split, metrics, weights, versions
  model.safetensors     the weights (an ensemble's are in its members' folders)
  config.yaml           the resolved config the run was trained with
  split.json            which images trained and which were held out (benthos-split/1)
  logs/metrics.csv      one row per epoch
  checkpoints/last.ckpt resumable training state (read with weights_only=True)
  evaluation.json       held-out metrics; evaluation_<data>.json for other data
  report.html
```

Kinds: ``classifier`` (a zoo model), ``ensemble`` (classifiers in ``members/m<i>/``, each a run
of its own) and ``detector``. ``run.json`` records its kind and schema version; runs written
before both existed (schema 1: classifiers without ``kind``, detectors with ``detector`` and
``categories``) are read as today's. The weights' SHA-256 is recorded when run.json is
written and checked on every load, so damaged or replaced weights never predict.

Nothing is pickled: the sidecar says how to rebuild the architecture, safetensors holds the
tensors. This module sits low in the package: it builds models through a table of loaders
named by module path (:data:`LOADERS`), so it imports neither training nor detection.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from benthos.errors import BenthosError, WeightsError
from benthos.runs.atomic import atomic_write_bytes, atomic_write_json

WEIGHTS = "model.safetensors"
META = "run.json"
EVALUATION = "evaluation.json"
REPORT = "report.html"
METRICS = "logs/metrics.csv"
UNREADABLE = "logs/unreadable_images.tsv"  # images that failed to load during training: path<TAB>problem
SCHEMA_VERSION = 2
KINDS = ("classifier", "ensemble", "detector")
# kind -> "module:function" building (model, meta) from a run folder; imported on use
LOADERS = {"classifier": "benthos.models:model_from_run", "ensemble": "benthos.models:model_from_run",
           "detector": "benthos.detect.build:model_from_run"}
# what to do with a run of each kind, for the message when a command is handed the other kind
_USE = {"classifier": "`benthos predict`, `benthos evaluate` or `benthos report`",
        "ensemble": "`benthos predict`, `benthos evaluate` or `benthos report`",
        "detector": "`benthos detect predict`, `benthos detect evaluate` or `benthos report`"}


def run_identity(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The run folder's resolved path and the size and modification time of its sidecar and
    weights: enough for a resumed job to notice that the run was retrained or replaced."""
    run_dir = Path(run_dir)
    files = {}
    for name in (META, WEIGHTS):
        if (run_dir / name).is_file():
            st = os.stat(run_dir / name)
            files[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"run": str(run_dir.resolve()), "files": files}


def data_name(data: str | os.PathLike) -> str:
    """A file-name-safe name for a data set: its file's stem or its folder's name, or the folder above
    when the file has a generic name (annotations.json, _annotations.coco.json, manifest.csv)."""
    import re

    p = Path(data)
    stem = p.name.split(".")[0] if p.is_file() else p.name
    if stem.strip("_").lower() in ("annotations", "annotation", "instances", "labels", "coco", "data", "manifest", ""):
        stem = p.resolve().parent.name if p.is_file() else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "data"


def evaluation_path(run_dir: str | os.PathLike, data: str | os.PathLike | None = None,
                    out: str | os.PathLike | None = None, suffix: str = "") -> Path:
    """Where an evaluation goes: ``out`` when given (a .json file, or a folder for its evaluation.json);
    the run's own ``evaluation.json`` for its held-out images (``data`` None); else beside it,
    ``evaluation_<data name><suffix>.json``, so that evaluating on other data never replaces the
    run's own evaluation (which ecology corrections read)."""
    if out is not None:
        out = Path(out)
        return out if out.suffix == ".json" else out / EVALUATION
    if data is None:
        return Path(run_dir) / EVALUATION
    return Path(run_dir) / f"evaluation_{data_name(data)}{suffix}.json"


def report_path(evaluation: str | os.PathLike) -> Path:
    """The report beside an evaluation file: evaluation.json -> report.html, evaluation_site2.json ->
    report_site2.html, other.json -> other.html."""
    p = Path(evaluation)
    name = p.stem.replace("evaluation", "report", 1) if p.stem.startswith("evaluation") else p.stem
    return p.with_name(name + ".html")


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_digest(run_dir: str | os.PathLike) -> str | None:
    """SHA-256 of the run's weights file (None when it has none): the same model on every machine,
    whatever the file's modification time there."""
    path = Path(run_dir) / WEIGHTS
    return file_digest(path) if path.is_file() else None


def recorded_digest(run_dir: str | os.PathLike, meta: dict[str, Any]) -> str:
    """The weights' SHA-256 as run.json records it (checked against the file whenever the run is loaded), so a
    loaded run need not hash its weights again; hashed here for runs written before the record ("" without
    weights)."""
    return (meta.get("weights") or {}).get("sha256") or weights_digest(run_dir) or ""


def unreadable_log(run_dir: str | os.PathLike) -> Path:
    """Where training's data loaders (every worker process) append images they could not read."""
    path = Path(run_dir) / UNREADABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def read_unreadable(run_dir: str | os.PathLike) -> list[str]:
    """The problems in :func:`unreadable_log`, one per image (workers and resumed runs may repeat one)."""
    path = Path(run_dir) / UNREADABLE
    if not path.is_file():
        return []
    seen: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        image, _, problem = line.partition("\t")
        if image:
            seen.setdefault(image, problem or image)
    return list(seen.values())


def versions() -> dict[str, str]:
    """Library versions recorded in every run.json."""
    import torch
    import torchvision

    from benthos import __version__

    out = {"benthos": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__}
    for name in ("timm", "lightning"):
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError:  # pragma: no cover
            pass
    return out


def save_weights(run_dir: str | os.PathLike, state_dict: dict, metadata: dict[str, str] | None = None) -> Path:
    """``state_dict`` as the run's safetensors file, atomically. Tensors are copied to contiguous CPU
    memory (channels-last tensors are not contiguous; safetensors refuses shared storage)."""
    import torch
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in state_dict.items()}
    return atomic_write_bytes(Path(run_dir) / WEIGHTS, save(tensors, metadata={"format": "pt", **(metadata or {})}))


def write_meta(run_dir: str | os.PathLike, meta: dict[str, Any], kind: str | None = None) -> Path:
    """Write run.json: ``meta`` with its kind, the schema version and the weights' record (file, bytes,
    SHA-256 of the weights as they are now). Called by training only: the checksum it records is what
    every later load checks."""
    kind = kind or meta.get("kind") or ("ensemble" if meta.get("members") else "classifier")
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    weights = Path(run_dir) / WEIGHTS
    record = {"file": WEIGHTS, "bytes": weights.stat().st_size, "sha256": file_digest(weights)} \
        if weights.is_file() else None
    meta = {"kind": kind, "schema_version": SCHEMA_VERSION,
            **{k: v for k, v in meta.items() if k not in ("kind", "schema_version", "weights")}, "weights": record}
    return atomic_write_json(Path(run_dir) / META, meta)


def read_meta(run_dir: str | os.PathLike, kind: str | tuple[str, ...] | None = None) -> dict[str, Any]:
    """run.json of ``run_dir`` as today's schema (older runs are translated), checked.

    ``kind``: the kind(s) the caller can use; a run of another kind is refused in one line that says
    which commands take it. A missing, unreadable or damaged run.json is a BenthosError naming it.
    """
    run_dir = Path(run_dir)
    path = run_dir / META
    if not run_dir.is_dir():
        raise BenthosError(f"{run_dir}: no such run folder; pass the --out folder of `benthos train` "
                           "or `benthos detect train`")
    if not path.is_file():
        raise BenthosError(f"{run_dir} is not a benthos run folder (no {META}); pass the --out folder of "
                           "`benthos train` or `benthos detect train` (an unfinished run: resume it)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BenthosError(f"{path} is not a text file: the run folder is damaged") from None
    except json.JSONDecodeError as exc:
        raise BenthosError(f"{path} is not valid JSON (line {exc.lineno}): the run folder is damaged "
                           "(a truncated copy?); copy it again or retrain") from None
    if not isinstance(meta, dict):
        raise BenthosError(f"{path} is not a JSON object: the run folder is damaged")
    meta = _upgrade(meta, path)
    _check(meta, path)
    if kind is not None:
        wanted = (kind,) if isinstance(kind, str) else tuple(kind)
        if meta["kind"] not in wanted:
            raise BenthosError(f"{run_dir} is a {meta['kind']} run ({meta['architecture']}), not a "
                               f"{' or '.join(wanted)} run: use it with {_USE[meta['kind']]}")
    return meta


def _upgrade(meta: dict, path: Path) -> dict:
    """A schema-1 run.json as today's: the kind made explicit, a detector's names unified."""
    version = meta.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise BenthosError(f"{path}: schema_version {version!r} is not a version number: the run folder is damaged")
    if version > SCHEMA_VERSION:
        raise BenthosError(f"{path} was written by a newer benthos (run schema {version}; this one reads up to "
                           f"{SCHEMA_VERSION}): upgrade benthos (pip install -U benthos)")
    if version == 1:
        meta = dict(meta)
        if meta.get("kind") == "detector":
            meta.setdefault("architecture", meta.get("detector"))
            meta.setdefault("classes", meta.get("categories"))
        elif "kind" not in meta:
            meta["kind"] = "ensemble" if meta.get("members") else "classifier"
        meta["schema_version"] = 1  # as written; what is upgraded stays in memory
    return meta


def _check(meta: dict, path: Path) -> None:
    """The keys every kind needs, with their types: a damaged or hand-edited run.json is named, not a KeyError later."""
    def bad(key: str, what: str) -> BenthosError:
        return BenthosError(f"{path}: '{key}' is {what}: the run folder is damaged (restore it or retrain)")

    if meta.get("kind") not in KINDS:
        raise bad("kind", f"{meta.get('kind')!r}, not one of {', '.join(KINDS)}")
    if not isinstance(meta.get("architecture"), str) or not meta["architecture"]:
        raise bad("architecture", "missing or not a name")
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise bad("classes", "missing or not a list of class names")
    if len(set(classes)) < len(classes):
        raise bad("classes", "a list that names a class twice")
    if meta["kind"] in ("classifier", "ensemble"):
        pre = meta.get("preprocessing")
        if not isinstance(pre, dict) or not {"input_size", "mean", "std"} <= set(pre):
            raise bad("preprocessing", "missing or without input_size, mean and std")
    if not isinstance(meta.get("model_options", {}) or {}, dict):
        raise bad("model_options", "not a mapping of option: value")
    if meta["kind"] == "ensemble":
        members = meta.get("members")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
            raise bad("members", "missing or not a list of member folders")
        inside = [Path(m) for m in members]
        if any(p.is_absolute() or ".." in p.parts or p in (Path("."), Path("")) for p in inside):
            raise bad("members", "a list naming folders outside the run (or the run itself)")
    if meta["kind"] == "detector" and not isinstance(meta.get("config"), dict):
        raise bad("config", "missing or not a mapping")
    weights = meta.get("weights")
    if weights is not None and (not isinstance(weights, dict) or not isinstance(weights.get("sha256"), str)):
        raise bad("weights", "not a record with the weights' sha256")


def weights_file(run_dir: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """The run's weights file, checked against the SHA-256 in run.json (runs written before it was
    recorded are checked when loaded: every tensor must be finite). Raises WeightsError."""
    run_dir = Path(run_dir)
    path = run_dir / WEIGHTS
    if not path.is_file():
        raise WeightsError(f"{run_dir} has no {WEIGHTS}: training did not finish a first epoch; resume it "
                           "(the same train command) or retrain")
    record = meta.get("weights")
    if record:
        size = path.stat().st_size
        if size != record.get("bytes", size) or file_digest(path) != record["sha256"]:
            raise WeightsError(f"{path} is not the file this run saved (its SHA-256 differs from run.json's): "
                               "the weights were damaged or replaced; restore the run folder or retrain")
    return path


def read_weights(path: str | os.PathLike, check_finite: bool = True) -> dict:
    """The tensors of a safetensors weights file; a truncated, damaged or non-finite file is a WeightsError."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        sd = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: cannot read the weights ({str(exc).splitlines()[0][:160]}); the file is damaged "
                           "or truncated: restore the run folder or retrain") from None
    if check_finite:
        for k, v in sd.items():
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise WeightsError(f"{path}: tensor {k} holds NaN or infinite values: the weights are damaged; "
                                   "restore the run folder or retrain")
    return sd


def load_run(run_dir: str | os.PathLike, kind: str | tuple[str, ...] | None = None, **options):
    """(model in eval mode, run.json) of any run folder, built by its kind's loader (:data:`LOADERS`).

    ``kind``: the kind(s) the caller can use (others are refused in one line). ``options`` go to the
    loader: ``device``; for detectors also ``tta`` and ``box_vote``."""
    meta = read_meta(run_dir, kind)
    module, _, name = LOADERS[meta["kind"]].partition(":")
    return getattr(importlib.import_module(module), name)(Path(run_dir), meta, **options)
