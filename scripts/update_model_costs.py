"""Recount every zoo model's parameters and multiply-adds and rewrite src/benthos/models/costs.json.

    python scripts/update_model_costs.py

Run it after registering or changing a model (the tests compare the file with fresh counts).
A few minutes on a laptop CPU; progress goes to stderr.
"""
import sys

from benthos.cost.stored import write_costs

if __name__ == "__main__":
    path = write_costs(progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"wrote {path}")
