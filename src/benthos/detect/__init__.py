"""Detection: find, label and count organisms with boxes.

    from benthos.detect import list_detectors, create_detector, train_detector, DetectConfig
    info = train_detector("annotations.json", "runs/det", DetectConfig(max_minutes=45))
    model, info = load_detector("runs/det")
"""
from benthos.detect.registry import DEFAULT_DETECTOR, create_detector, detector_spec, list_detectors  # noqa: F401


def __getattr__(name):  # keep `import benthos.detect` light (torchvision, Lightning load on use)
    lazy = {"DetectConfig": "config", "train_detector": "engine", "load_detector": "predict",
            "predict_images": "predict", "predict_run": "predict", "write_predictions": "predict", "evaluate_run": "predict",
            "coco_metrics": "evaluate", "predict_tiled": "tiling", "tile_windows": "tiling"}
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"benthos.detect.{lazy[name]}"), name)
    raise AttributeError(name)
