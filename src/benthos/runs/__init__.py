"""The run folder: weights (safetensors) + JSON sidecar, written atomically; and what long
prediction jobs keep beside their outputs (``journal``: resumable, ``shards``: split over machines).

Read by evaluate, infer, report and ecology, so it sits low in the package.
"""
from benthos.runs.run import load_run, read_meta, save_weights, write_meta

__all__ = ["load_run", "read_meta", "save_weights", "write_meta"]
