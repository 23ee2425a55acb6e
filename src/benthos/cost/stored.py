"""Cost figures of every zoo model, counted once and shipped with the package.

Counting a model's parameters and multiply-adds means building it and running one forward
pass (:func:`benthos.cost.profile_model`); for the whole zoo that is minutes of CPU, which
``benthos models list`` should not spend on every call. ``costs.json`` (beside the model
registry) holds the figures at each model's native input size with its reference head;
``python scripts/update_model_costs.py`` rewrites it after a model is added or changed, and
the tests recount models fresh and compare. A model missing from the file is counted on
demand.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

COSTS_FILE = Path(__file__).resolve().parent.parent / "models" / "costs.json"
FORMAT = 1


@lru_cache(maxsize=1)
def stored_costs() -> dict[str, dict]:
    """``{name: {"params", "macs", "input_size", "num_classes"}}`` from the shipped file ({} when absent)."""
    try:
        data = json.loads(COSTS_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data.get("models", {}) if data.get("format") == FORMAT else {}


def count_cost(name: str) -> dict:
    """A fresh count for ``name`` at its native size, reference head: the figures the file stores."""
    from benthos.cost.profile import profile_model

    cost = profile_model(name)
    return {"params": cost.params, "macs": cost.macs, "input_size": cost.input_size, "num_classes": cost.num_classes}


def model_costs(names: Iterable[str], progress: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Stored figures for ``names``; those not stored are counted now (``progress`` says which)."""
    stored, out = stored_costs(), {}
    names = list(names)
    missing = [n for n in names if n not in stored]
    for n in names:
        if n in stored:
            out[n] = stored[n]
            continue
        if progress:
            progress(f"counting {n} ({missing.index(n) + 1}/{len(missing)}; not in {COSTS_FILE.name}: "
                     "run scripts/update_model_costs.py to store it)")
        out[n] = count_cost(n)
    return out


def write_costs(path: str | os.PathLike = COSTS_FILE, progress: Callable[[str], None] | None = None) -> Path:
    """Count every registered model afresh and write the file (atomically)."""
    from benthos.models import list_models
    from benthos.runs.atomic import atomic_write_text

    names = list_models()
    models = {}
    for i, n in enumerate(names, 1):
        if progress:
            progress(f"[{i}/{len(names)}] {n}")
        models[n] = count_cost(n)
    # one model per line: a regenerated file diffs line by line
    rows = ",\n".join(f"  {json.dumps(n)}: {json.dumps(c)}" for n, c in models.items())
    text = (f'{{"format": {FORMAT}, "what": "parameters and multiply-adds at the native input size, reference head '
            f'(benthos.cost.profile_model)",\n "models": {{\n{rows}\n}}}}\n')
    out = atomic_write_text(Path(path), text)
    stored_costs.cache_clear()
    return out
