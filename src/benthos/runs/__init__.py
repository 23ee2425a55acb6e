"""The run folder: weights (safetensors) + JSON sidecar, written atomically.

Read by evaluate, infer, report and ecology, so it sits low in the package.
"""
from benthos.runs.run import load_run, read_meta, save_weights, write_meta

__all__ = ["load_run", "read_meta", "save_weights", "write_meta"]
