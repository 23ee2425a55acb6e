"""A trained detector as one ONNX file: the whole network, from image to boxes, for runtimes without PyTorch.

`benthos export RUN --format onnx --out DIR` on a detector run writes ``DIR/model.onnx`` and
``DIR/benthos_export.json``. The graph is torchvision's own ONNX export of its detectors (Faster R-CNN,
RetinaNet, SSD): the resizing and normalisation, the backbone and FPN, the heads (the RPN, its NMS
and the RoI heads of Faster R-CNN), the final class-wise NMS and Faster R-CNN's box voting, all in the
graph. The frozen BatchNorms are folded first, as ``detect predict`` runs them.

Input ``image``: one float32 RGB image, shape [3, height, width], values in [0, 1], any size (the
graph resizes it as the run was trained). Outputs ``boxes`` [N, 4] (x0, y0, x1, y1 in the input's
pixels), ``labels`` [N] (int64, 1-based: the class is ``classes[label - 1]``) and ``scores`` [N], every
box at or above the run's score threshold. Not in the graph: flip test-time augmentation and tiling
of large frames (``benthos detect predict`` does both), and the counting threshold (in the record).

The other detectors are refused in one line naming those that export. Their trunks still run in
ONNX Runtime (``detect predict --backend onnx``).

The job (`benthos export`) is :func:`benthos.tasks.detect.export_detector`. ``detect predict`` and
``detect evaluate`` run this graph with ``--backend onnx`` (:func:`use_onnx_detector`: exported once into
``RUN/export/detector/`` with the settings it predicts with); for Faster R-CNN it is the default on a CPU
(measured faster than PyTorch in BENCHMARKS.md, "Detection speed").
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from benthos.errors import BenthosError

# registry methods whose detectors are torchvision's, exported whole (each checked box for box against
# PyTorch in tests/detect/test_export.py); the ones whose graph is the CPU default (measured faster there,
# BENCHMARKS.md "Detection speed"); the others export and run it with --backend onnx. FCOS exports too, but
# its graph's boxes differed from PyTorch's (90 of 253 found again on a test frame), so it is refused.
EXPORTABLE = ("faster_rcnn", "retinanet", "ssd")
DEFAULT_GRAPH = ("faster_rcnn",)
OUTPUTS = ["boxes", "labels", "scores"]  # the graph's outputs by name (each detector returns its own order)


def detector_record(run_dir: Path, meta: dict, model: torch.nn.Module) -> dict:
    """What the export carries: enough to read its outputs and count without benthos, and the settings
    baked into the graph (proposals, NMS, voting, score threshold), read from the ``model`` exported."""
    from benthos import __version__
    from benthos.detect.settings import roi_sampling_of, test_proposals_of
    from benthos.detect.tiling import nms_settings
    from benthos.infer.export import EXPORT_FORMAT
    from benthos.runs.run import recorded_digest

    nms, limit, vote = nms_settings(model)
    heads = getattr(model, "roi_heads", model)
    return {"benthos_export": EXPORT_FORMAT, "benthos": __version__, "format": "onnx", "int8": False,
            "kind": "detector", "run": run_dir.resolve().name, "weights_sha256": recorded_digest(run_dir, meta),
            "architecture": meta["architecture"], "classes": list(meta["classes"]),
            "input_size": meta["config"].get("input_size"),
            "settings": {"test_proposals": test_proposals_of(model), "roi_sampling": roi_sampling_of(model),
                         "nms_thresh": nms, "detections_per_img": limit,
                         "box_vote": vote, "score_thresh": float(getattr(heads, "score_thresh", 0.0))},
            "count_threshold": (meta.get("counting") or {}).get("threshold"),
            "input": "image: float32 [3, height, width], RGB in [0, 1], any size (resized inside the graph)",
            "output": "boxes [N, 4] x0, y0, x1, y1 in the input's pixels; labels [N] int64, class = "
                      "classes[label - 1]; scores [N]",
            "not_in_graph": "flip test-time augmentation, tiling of frames larger than the tile"}


def exportable(meta: dict, default: bool = False) -> bool:
    """Whether the run's detector exports as one graph (torchvision's detectors); ``default``: and that graph
    is its default backend on a CPU."""
    from benthos.detect.registry import detector_spec

    return detector_spec(meta["architecture"]).method in (DEFAULT_GRAPH if default else EXPORTABLE)


def check_exportable(meta: dict) -> None:
    from benthos.detect.registry import detector_spec, list_detectors

    method = detector_spec(meta["architecture"]).method
    if method not in EXPORTABLE:
        ok = [n for n in list_detectors() if detector_spec(n).method in EXPORTABLE]
        raise BenthosError(f"{meta['architecture']} cannot be exported as one ONNX graph (its "
                           f"{'selective-search proposals and ' if method in ('rcnn', 'fast_rcnn') else ''}"
                           f"post-processing do not export, or their exported boxes differ from PyTorch's). "
                           f"Predict with `benthos detect predict` (--backend onnx runs its trunk, where it has "
                           f"one, in ONNX Runtime); these export whole: {', '.join(ok)}")


def example_frames(run_dir: Path, n: int) -> list[torch.Tensor]:
    """Up to ``n`` held-out frames of the run (its validation split), as the graph takes them; a
    random image when they cannot be read (a run moved without its data)."""
    from benthos.data.images import load_image
    from benthos.data.splits import split_paths
    from benthos.detect.dataset import frame_tensor
    from benthos.errors import DataError

    frames = []
    try:
        paths = split_paths(run_dir / "split.json").get("val") or []
    except (OSError, ValueError, BenthosError):
        paths = []
    for p in paths:
        if len(frames) == n:
            break
        try:
            im = load_image(p)
        except (DataError, OSError):
            continue
        frames.append(frame_tensor(im))
    return frames


def _plain(model: torch.nn.Module) -> torch.nn.Module:
    """The detector without its flip-TTA wrapper, on the CPU, in the default memory format."""
    return getattr(model, "model", model).cpu().to(memory_format=torch.contiguous_format).eval()


def export_graph(model: torch.nn.Module, run_dir: Path, meta: dict, out: str | os.PathLike,
                 progress: Callable[[str], None] | None = None) -> dict:
    """Write the loaded detector ``model`` of the run (eval mode, folded, with the settings to bake in) as
    one ONNX graph into the folder ``out`` (replaced as a whole once complete); returns the record."""
    from benthos.infer.backends import choose_backend
    from benthos.infer.export import INFO, quiet_export, replace_folder, set_onnx_record
    from benthos.runs.atomic import atomic_write_json

    check_exportable(meta)
    choose_backend("onnx")  # ONNX and ONNX Runtime installed, or a one-line hint
    say = progress or (lambda line: None)
    model = _plain(model)
    record = detector_record(Path(run_dir), meta, model)
    size = int(meta["config"]["input_size"])
    frames = example_frames(Path(run_dir), 1) or [torch.rand(3, size, size)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        path = tmp / "model.onnx"
        say(f"exporting {meta['architecture']} (the whole detector) to ONNX")
        try:
            with torch.no_grad():
                names = list(model([frames[0]])[0])  # the outputs in the order the detector returns them
            if sorted(names) != sorted(OUTPUTS):
                raise BenthosError(f"{meta['architecture']} returns {names}, not {OUTPUTS}: it cannot be exported")
            with quiet_export():
                torch.onnx.export(model, ([frames[0]],), str(path), opset_version=17, input_names=["image"],
                                  output_names=names, dynamic_axes={"image": {1: "height", 2: "width"},
                                                                    **{k: {0: "detections"} for k in OUTPUTS}},
                                  dynamo=False)
        except BenthosError:
            raise
        except Exception as exc:  # the exporter's own errors, for a graph it does not handle
            raise BenthosError(f"cannot export {meta['architecture']} to ONNX "
                               f"({' '.join(str(exc).split())[:200]}); predict with --backend torch") from None
        set_onnx_record(path, record)
        atomic_write_json(tmp / INFO, record)
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


class OnnxDetector(torch.nn.Module):
    """A whole exported detector run by ONNX Runtime, called as the PyTorch detector is (a list of
    [3, H, W] images in, a list of dicts of boxes, labels, scores out), so that tiling, flip TTA and
    the outputs work unchanged. It carries the NMS and voting settings tiles are merged with."""

    def __init__(self, path: Path, record: dict) -> None:
        super().__init__()
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # PyTorch runs between calls
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        settings = record["settings"]
        self.nms_thresh, self.detections_per_img = settings["nms_thresh"], settings["detections_per_img"]
        self.box_vote, self.score_thresh = settings["box_vote"], settings["score_thresh"]
        self.test_proposals, self.roi_sampling = settings["test_proposals"], settings["roi_sampling"]
        self.path = str(path)

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out = []
        for x in images:
            boxes, labels, scores = self.session.run(OUTPUTS, {"image": x.detach().cpu().float().contiguous().numpy()})
            out.append({"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels),
                        "scores": torch.from_numpy(scores)})
        return out


CACHE = "detector"  # RUN/export/detector/: the whole graph `detect predict --backend onnx` runs


def use_onnx_detector(model: torch.nn.Module, run_dir: Path, meta: dict) -> OnnxDetector:
    """The loaded, folded ``model`` (eval mode, on the CPU, with the settings it is to predict with) as an
    :class:`OnnxDetector`, exported into ``RUN/export/detector/`` on first use and again whenever the
    weights, benthos version or baked-in settings differ from that export's record (never reused
    otherwise); a run folder that cannot be written gets a temporary copy."""
    from benthos.infer.export import cached_folder

    want = detector_record(run_dir, meta, _plain(model))
    keys = ("benthos_export", "benthos", "weights_sha256", "settings", "classes")
    folder = cached_folder(Path(run_dir) / "export" / CACHE, {k: want[k] for k in keys}, ("model.onnx",),
                           lambda f: export_graph(model, run_dir, meta, f))
    return OnnxDetector(folder / "model.onnx", want)
