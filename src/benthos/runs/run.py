"""Save and load a trained classifier: ``model.safetensors`` + ``run.json``. Nothing pickled:
the sidecar says how to rebuild the architecture, safetensors holds the tensors."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from benthos.errors import BenthosError
from benthos.runs.atomic import atomic_write_bytes, atomic_write_json

WEIGHTS = "model.safetensors"
META = "run.json"
UNREADABLE = "logs/unreadable_images.tsv"  # images that failed to load during training: path<TAB>problem


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


def weights_digest(run_dir: str | os.PathLike) -> str | None:
    """SHA-256 of the run's weights file (None when it has none): the same model on every machine,
    whatever the file's modification time there."""
    import hashlib

    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    import torch
    import torchvision

    from benthos import __version__

    out = {"benthos": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__}
    try:
        import timm

        out["timm"] = timm.__version__
    except ImportError:
        pass
    return out


def save_weights(run_dir: str | os.PathLike, state_dict: dict) -> Path:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    return atomic_write_bytes(Path(run_dir) / WEIGHTS, save(tensors))


def write_meta(run_dir: str | os.PathLike, meta: dict[str, Any]) -> Path:
    return atomic_write_json(Path(run_dir) / META, meta)


def read_meta(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / META
    if not path.is_file():
        raise BenthosError(f"{run_dir} is not a benthos run folder (no {META}); pass the --out folder of `benthos train`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BenthosError(f"{path} is not valid JSON (line {exc.lineno}): the run folder is damaged") from None


def load_run(run_dir: str | os.PathLike):
    """Rebuild a trained classifier: returns (model in eval mode, metadata dict). The model is
    a ZooModel, or for an ensemble run a ``benthos.models.ensemble.Ensemble`` of its members."""
    from benthos.models import create_model

    meta = read_meta(run_dir)
    if meta.get("members"):
        members = []
        for sub in meta["members"]:
            model, member_meta = load_run(Path(run_dir) / sub)
            if member_meta["classes"] != meta["classes"]:
                raise BenthosError(f"{Path(run_dir) / sub}: its classes differ from the ensemble's; the run folder is damaged")
            members.append(model)
        from benthos.models.ensemble import Ensemble

        return Ensemble(members).eval(), meta
    weights = Path(run_dir) / WEIGHTS
    if not weights.is_file():
        raise BenthosError(f"{run_dir} has no {WEIGHTS}: training did not finish a first epoch; resume it with --resume")
    model = create_model(meta["architecture"], weights=weights, in_chans=meta.get("preprocessing", {}).get("in_chans"),
                         **meta.get("model_options", {}))
    if model.num_classes != len(meta["classes"]):
        raise BenthosError(f"{weights} has a head for {model.num_classes} classes but run.json lists {len(meta['classes'])}")
    return model.eval(), meta
