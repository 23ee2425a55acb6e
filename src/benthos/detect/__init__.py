"""Detection: find, label and count organisms with boxes. The parts: a registry of detectors
(``registry``, ``models/``), their config (``config``), training (``engine``), running them
(``inference``, ``tiling``, ``tta``), scoring (``evaluate``), counting (``counting``) and their output
files (``outputs``). Whole jobs (train a run folder, evaluate, predict, merge) are in
:mod:`benthos.tasks.detect`.

    from benthos.detect import list_detectors, load_detector, predict_images
    from benthos.detect import DetectConfig
    from benthos.tasks.detect import train
    info = train("annotations.json", "runs/det", DetectConfig(max_minutes=45))
    model, info = load_detector("runs/det")
"""
from benthos.detect.registry import DEFAULT_DETECTOR, create_detector, detector_spec, list_detectors  # noqa: F401


def __getattr__(name):  # keep `import benthos.detect` light (torchvision, Lightning load on use)
    lazy = {"DetectConfig": "config", "fit_detector": "engine", "load_detector": "build", "build_model": "build",
            "predict_images": "inference", "predict_records": "inference", "score_records": "inference",
            "write_predictions": "outputs", "coco_metrics": "evaluate", "predict_tiled": "tiling",
            "tile_windows": "tiling", "fit_count_threshold": "counting"}
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"benthos.detect.{lazy[name]}"), name)
    raise AttributeError(name)
