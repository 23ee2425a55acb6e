"""The run folder of every kind (classifier, ensemble, detector): weights (safetensors) + run.json,
written atomically, read by one reader; and what long
prediction jobs keep beside their outputs (``journal``: resumable, ``shards``: split over machines).

Read by evaluate, infer, report and ecology, so it sits low in the package.
"""
from benthos.runs.run import KINDS, SCHEMA_VERSION, load_run, read_meta, save_weights, weights_file, write_meta

__all__ = ["KINDS", "SCHEMA_VERSION", "load_run", "read_meta", "save_weights", "weights_file", "write_meta"]
