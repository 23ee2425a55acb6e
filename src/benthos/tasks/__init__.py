"""Whole jobs, one function each (pyspacer style: a request in, a result out). The CLI calls
these; they join the subsystems: ``classify`` (train -> evaluate -> report, predict -> CSV) and
``detect`` (train -> evaluate -> report, predict -> detections and counts, merge shares).

The classification jobs are importable from here as before (``benthos.tasks.predict``)."""
from benthos.tasks.classify import (TTA_MODES, evaluate_run, finish_run, is_points_csv, point_samples, predict,
                                    report_with_biodiversity, temperature_of, tta_of)

__all__ = ["TTA_MODES", "evaluate_run", "finish_run", "is_points_csv", "point_samples", "predict",
           "report_with_biodiversity", "temperature_of", "tta_of"]
