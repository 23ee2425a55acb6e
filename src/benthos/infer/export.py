"""Export a trained run to ONNX or OpenVINO, optionally INT8, and load such exports back.

An export folder holds the model (``model.onnx``, or ``model.xml`` + ``model.bin``) and
``benthos_export.json``. The same record travels inside the model file (ONNX
``metadata_props["benthos"]``, OpenVINO ``rt_info["benthos"]``), so the file alone says what it
is: the class names, the preprocessing (input size, mean, std, central crop fraction), the
calibration temperature, the adaptive-view rule, and the run's identity (the SHA-256 of its
weights) with the benthos version and export format that wrote it. ``benthos predict``
refuses an export whose identity is not the run's.

The graph takes NCHW float32 images, normalised as ``preprocessing`` says, and returns logits;
probabilities are ``softmax(logits / temperature)``. Views (rotations, mirrors) and the
temperature stay outside the graph, as in :func:`benthos.infer.predict.predict_samples`.

INT8: static post-training quantisation with ONNX Runtime (QDQ, per-channel 7-bit weights), its
ranges measured on the run's training images; OpenVINO runs the same QDQ graph in INT8.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import BenthosError

EXPORT_FORMAT = 1  # bumped when the graph's inputs/outputs or the record change meaning
INFO = "benthos_export.json"
MODEL_FILE = {"onnx": "model.onnx", "openvino": "model.xml"}
CACHE = "export"  # RUN/export/<format>/: what `benthos predict --backend onnx|openvino` runs
OPSET = 17


def run_digest(run_dir: str | os.PathLike, meta: dict) -> str:
    """SHA-256 of the run's weights; for an ensemble, of its members' digests in order."""
    from benthos.runs.run import weights_digest

    if meta.get("members"):
        h = hashlib.sha256()
        for sub in meta["members"]:
            h.update((weights_digest(Path(run_dir) / sub) or "").encode())
        return h.hexdigest()
    digest = weights_digest(run_dir)
    if digest is None:
        raise BenthosError(f"{run_dir} has no model.safetensors: nothing to export")
    return digest


def export_record(run_dir: str | os.PathLike, meta: dict, fmt: str, int8: bool) -> dict[str, Any]:
    """What an export carries: enough to preprocess, label and calibrate without benthos."""
    from benthos import __version__

    calibration = meta.get("calibration") or {}
    views = calibration.get("views")
    return {"benthos_export": EXPORT_FORMAT, "benthos": __version__, "format": fmt, "int8": bool(int8),
            "run": Path(run_dir).resolve().name, "weights_sha256": run_digest(run_dir, meta),
            "architecture": meta["architecture"], "classes": list(meta["classes"]),
            "preprocessing": meta["preprocessing"], "temperature": float(calibration.get("temperature", 1.0)),
            "views": {"mode": meta.get("tta", "none"), **({"margin": views["margin"], "temperature": views["temperature"]}
                                                         if views else {})},
            "input": "float32 NCHW image batch: RGB scaled to [0, 1], resized (bilinear) so the short side is "
                     "round(input_size / crop_fraction), centre-cropped to input_size, minus mean, divided by std",
            "output": "logits; probabilities = softmax(logits / temperature)"}


def _input_shape(preprocessing: dict) -> tuple[int, int, int]:
    size = preprocessing["input_size"]
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return int(preprocessing.get("in_chans", 3)), int(h), int(w)


def _export_failure(model, x, exc: Exception) -> BenthosError:
    """Name the first layer that cannot be exported alone: export each leaf layer on the inputs
    it received in one forward pass."""
    import torch

    seen: list[tuple[str, Any, tuple]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: seen.append((n, mod, inp)))
             for n, m in model.named_modules() if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # the model does not even run: the original error says why
        pass
    finally:
        for h in hooks:
            h.remove()
    reason = " ".join(str(exc).split())[:300]
    for name, mod, inp in seen:
        try:
            with quiet_export():
                torch.onnx.export(mod, inp, _devnull(), opset_version=OPSET, dynamo=False)
        except Exception as layer_exc:
            why = " ".join(str(layer_exc).split())[:300]
            return BenthosError(f"cannot export {getattr(model, 'name', type(model).__name__)} to ONNX: layer "
                                f"'{name}' ({type(mod).__name__}) fails: {why}. Replace that layer, or predict "
                                "with --backend torch")
    return BenthosError(f"cannot export {getattr(model, 'name', type(model).__name__)} to ONNX: {reason}. "
                        "Predict with --backend torch")


def _devnull():
    import io

    return io.BytesIO()


@contextlib.contextmanager
def quiet_export():
    """The exporter's warnings, and the graph dump its C++ side writes to stderr when a layer
    fails, are not for the user: the error we raise says what failed."""
    import torch

    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            sys.stderr.flush()
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def export_onnx(model, path: str | os.PathLike, preprocessing: dict) -> Path:
    """``model`` (eval mode, fp32, CPU) as ONNX at ``path``, with a dynamic batch dimension."""
    import torch

    model = model.eval().cpu().to(memory_format=torch.contiguous_format)
    x = torch.zeros(1, *_input_shape(preprocessing))
    path = Path(path)
    try:
        with quiet_export():
            torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                              dynamo=False)
    except Exception as exc:
        raise _export_failure(model, x, exc) from None
    return path


def set_onnx_record(path: Path, record: dict) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "benthos", json.dumps(record)
    onnx.save(proto, str(path))


class _Images:
    """ONNX Runtime's calibration reader: preprocessed training images, a batch at a time."""

    def __init__(self, batches: list[np.ndarray], name: str):
        self.batches, self.name = iter(batches), name

    def get_next(self):
        b = next(self.batches, None)
        return None if b is None else {self.name: b}


def quantize_onnx(src: Path, dst: Path, batches: list[np.ndarray]) -> Path:
    """Static INT8 quantisation (QDQ, per-channel 7-bit weights, activation ranges from ``batches``)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    pre = dst.with_name(dst.stem + ".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    # 7-bit weights (reduce_range): x86 CPUs without VNNI multiply u8 x s8 pairs into saturating 16-bit
    # sums; with full-range weights those saturate and Lite0 lost 8 points of CCR accuracy, with 7 bits none
    quantize_static(str(pre), str(dst), _Images(batches, "input"), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    pre.unlink()
    return dst


def _calibration_batches(run_dir: Path, meta: dict, n: int, batch: int = 16) -> list[np.ndarray]:
    """``n`` of the run's training images (a seeded sample), preprocessed as for prediction."""
    import torch

    from benthos.data import ImageDataset, eval_transforms, load_split

    split_file = run_dir / (f"{meta['members'][0]}/split.json" if meta.get("members") else "split.json")
    train = load_split(split_file).get("train") or [] if split_file.is_file() else []
    if not train:
        raise BenthosError(f"{run_dir}: INT8 needs the run's training images to measure activation ranges, "
                           "and split.json lists none; export without --int8")
    pick = np.random.default_rng(0).permutation(len(train))[:n]
    samples = [train[i] for i in sorted(pick)]
    ds = ImageDataset(samples, {s.label: 0 for s in samples}, eval_transforms(meta["preprocessing"]))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch)
    return [x.numpy() for x, _ in loader]


def _to_openvino(onnx_path: Path, xml_path: Path, record: dict) -> Path:
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    model.set_rt_info(json.dumps(record), ["benthos"])
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return xml_path


def write_export(run_dir: str | os.PathLike, fmt: str, out: str | os.PathLike, int8: bool = False,
                 calibration_images: int = 128, progress: Callable[[str], None] | None = None) -> dict:
    """Export the run to ``out`` (a folder, replaced as a whole once complete); returns the record."""
    from benthos.infer.backends import choose_backend
    from benthos.runs import load_run

    if fmt not in MODEL_FILE:
        raise BenthosError(f"--format {fmt!r}: choose onnx or openvino")
    choose_backend(fmt)  # installed, or a one-line hint
    if int8:
        choose_backend("onnx")  # ONNX Runtime measures the ranges and writes the INT8 graph
    run_dir, out = Path(run_dir), Path(out)
    model, meta = load_run(run_dir)
    record = export_record(run_dir, meta, fmt, int8)
    say = progress or (lambda line: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        onnx_path = tmp / "model.onnx"
        say(f"exporting {meta['architecture']} to ONNX")
        export_onnx(model, onnx_path, meta["preprocessing"])
        if int8:
            say(f"INT8: measuring activation ranges on {calibration_images} training images")
            fp32 = tmp / "fp32.onnx"
            onnx_path.rename(fp32)
            batches = _calibration_batches(run_dir, meta, calibration_images)
            try:
                quantize_onnx(fp32, onnx_path, batches)
            except Exception as exc:  # ONNX Runtime's quantiser on a graph it does not handle
                raise BenthosError(f"INT8 quantisation of {meta['architecture']} failed "
                                   f"({' '.join(str(exc).split())[:200]}); export without --int8") from None
            fp32.unlink()
        set_onnx_record(onnx_path, record)
        if fmt == "openvino":
            say("converting to OpenVINO IR")
            try:
                _to_openvino(onnx_path, tmp / "model.xml", record)
            except Exception as exc:  # an operator OpenVINO's ONNX reader lacks
                raise BenthosError(f"OpenVINO cannot convert {meta['architecture']} "
                                   f"({' '.join(str(exc).split())[:200]}); export --format onnx instead") from None
            onnx_path.unlink()
        from benthos.runs.atomic import atomic_write_json

        atomic_write_json(tmp / INFO, record)
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``out`` (a reader sees the old folder or the new one,
    never half of one)."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def read_record(export_dir: str | os.PathLike) -> tuple[Path, dict]:
    """(model file, record) of an export folder (or of its model file), read from the model file itself."""
    path = Path(export_dir)
    if path.is_dir():
        found = [path / f for f in MODEL_FILE.values() if (path / f).is_file()]
        if not found:
            raise BenthosError(f"{path}: no model.onnx or model.xml here; write one with `benthos export RUN "
                               f"--format onnx --out {path}`")
        path = found[0]
    if not path.is_file():
        raise BenthosError(f"{path}: no such exported model")
    try:
        if path.suffix == ".onnx":
            import onnx

            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            text = props.get("benthos")
        else:
            import openvino as ov

            model = ov.Core().read_model(str(path))
            text = model.get_rt_info(["benthos"]).astype(str) if model.has_rt_info(["benthos"]) else None
        record = json.loads(text) if text else None
    except (OSError, ValueError, RuntimeError) as exc:
        raise BenthosError(f"{path}: cannot read the exported model ({' '.join(str(exc).split())[:200]}); "
                           "export the run again") from None
    if not isinstance(record, dict):
        raise BenthosError(f"{path} was not exported by benthos (no benthos record inside); "
                           "export the run with `benthos export`")
    return path, record


def check_record(record: dict, where: Path, run_dir: str | os.PathLike, meta: dict, digest: str) -> None:
    """Refuse an export of another run, or written by another benthos version or export format."""
    from benthos import __version__

    if record.get("weights_sha256") != digest:
        raise BenthosError(f"{where} was exported from another run (weights {str(record.get('weights_sha256'))[:12]}, "
                           f"run {record.get('run')}), not from {run_dir} (weights {digest[:12]}); export this run "
                           f"with `benthos export {run_dir} --format {record.get('format', 'onnx')} --out DIR`")
    if record.get("benthos_export") != EXPORT_FORMAT or record.get("benthos") != __version__:
        raise BenthosError(f"{where} was exported by benthos {record.get('benthos')} (export format "
                           f"{record.get('benthos_export')}); this is benthos {__version__} (format {EXPORT_FORMAT}): "
                           f"export the run again with `benthos export {run_dir} --format {record.get('format', 'onnx')}`")
    if record.get("classes") != list(meta["classes"]):
        raise BenthosError(f"{where}: its classes differ from {run_dir}'s; export the run again")


def exported_forward(backend: str, model_file: Path):
    """The backend's forward pass on an exported model file (a damaged file: a clear error)."""
    from benthos.infer.backends import onnx_forward, openvino_forward

    try:
        return onnx_forward(model_file) if backend == "onnx" else openvino_forward(model_file)
    except Exception as exc:  # the runtimes raise their own types for unreadable graphs
        raise BenthosError(f"{model_file}: {backend} cannot load it ({' '.join(str(exc).split())[:200]}); "
                           "export the run again") from None


def cached_export(run_dir: str | os.PathLike, meta: dict, digest: str, fmt: str,
                  progress: Callable[[str], None] | None = None) -> Path:
    """The run's own fp32 export for ``fmt`` (RUN/export/<fmt>/), written on first use and again when
    the run or benthos changed; a temporary folder when the run folder cannot be written."""
    from benthos import __version__

    folder = cached_folder(Path(run_dir) / CACHE / fmt,
                           {"weights_sha256": digest, "benthos": __version__, "benthos_export": EXPORT_FORMAT},
                           (MODEL_FILE[fmt],), lambda f: write_export(run_dir, fmt, f),
                           say=progress and (lambda f: progress(f"exporting the run for {fmt} (once; kept in {f})")))
    return folder / MODEL_FILE[fmt]


def cached_folder(folder: Path, want: dict, files: tuple[str, ...], write: Callable[[Path], Any],
                  record: str = INFO, say: Callable[[Path], None] | None = None) -> Path:
    """A folder of exported files kept for reuse: ``folder`` itself when its record (the JSON file
    ``record`` in it) holds every key of ``want`` with the same value and its ``files`` are there; else
    ``write(folder)`` makes it anew (``say(folder)`` first). Never reused on a mismatch. A folder that
    cannot be written: a temporary one of this process; another job's complete copy that got there
    first: that one. Returns the folder used."""
    def current(f: Path) -> bool:
        try:
            have = json.loads((f / record).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (isinstance(have, dict) and all(have.get(k) == v for k, v in want.items())
                and all((f / name).is_file() for name in files))

    if current(folder):
        return folder
    if say:
        say(folder)
    try:
        write(folder)
    except PermissionError:  # a read-only run folder: this job's own copy
        folder = Path(tempfile.mkdtemp(prefix="benthos-export-")) / folder.name
        write(folder)
    except OSError:
        if not current(folder):  # another job (a share on another machine) put its copy in place first: use it
            raise
    return folder


def compare_with_torch(run_dir: str | os.PathLike, export_dir: str | os.PathLike) -> dict | None:
    """The export against PyTorch on the run's test split (else validation), one view per image:
    how many top-1 labels agree, the largest probability difference, both accuracies and speeds.
    None when the run holds out no images."""
    import time

    from benthos.data import load_split
    from benthos.infer.predict import predict_samples
    from benthos.runs import load_run

    run_dir = Path(run_dir)
    model, meta = load_run(run_dir)
    path, record = read_record(export_dir)
    split_file = run_dir / (f"{meta['members'][0]}/split.json" if meta.get("members") else "split.json")
    splits = load_split(split_file) if split_file.is_file() else {}
    name = "test" if splits.get("test") else "val"
    index = {c: i for i, c in enumerate(meta["classes"])}
    samples = [s for s in splits.get(name) or [] if s.label in index]
    if not samples:
        return None
    t = float(record["temperature"])
    start = time.perf_counter()
    p_torch, _ = predict_samples(model, samples, meta["preprocessing"], temperature=t, device="cpu")
    torch_s = time.perf_counter() - start
    backend = "onnx" if path.suffix == ".onnx" else "openvino"
    start = time.perf_counter()
    p_export, _ = predict_samples(model, samples, meta["preprocessing"], temperature=t, device="cpu",
                                  forward=exported_forward(backend, path), backend=backend)
    export_s = time.perf_counter() - start
    y = np.array([index[s.label] for s in samples])
    return {"split": name, "n": len(samples), "same_top1": int((p_torch.argmax(1) == p_export.argmax(1)).sum()),
            "max_prob_diff": float(np.abs(p_torch - p_export).max()),
            "accuracy_torch": float((p_torch.argmax(1) == y).mean()),
            "accuracy_export": float((p_export.argmax(1) == y).mean()),
            "torch_images_per_s": len(samples) / torch_s, "export_images_per_s": len(samples) / export_s}


def run_forward(run_dir, meta: dict, backend: str | None = None, exported=None,
                progress: Callable[[str], None] | None = None, device=None) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    """The forward pass ``benthos predict`` uses for a run, and its name ("onnx", "openvino int8", ...).

    ``backend``: as :func:`choose_backend`. ``exported``: an export folder or model file of this run
    (:func:`write_export`, e.g. an INT8 one), refused if it is another run's or
    another version's; without it an exported backend runs the run's own fp32 export, written
    into the run folder on first use. None for PyTorch (the caller builds the model: an exported
    backend needs no PyTorch model at all)."""
    from benthos.infer.backends import choose_backend

    if exported is not None:
        path, record = read_record(exported)
        fits = ("onnx", "openvino") if path.suffix == ".onnx" else ("openvino",)
        backend = backend or fits[0]
        if backend not in fits:
            raise BenthosError(f"{path} is an {'ONNX' if path.suffix == '.onnx' else 'OpenVINO'} model: "
                               f"use --backend {' or '.join(fits)}")
        choose_backend(backend)
        check_record(record, path, run_dir, meta, run_digest(run_dir, meta))
        return exported_forward(backend, path), backend + (" int8" if record.get("int8") else "")
    name = choose_backend(backend, device)
    if name == "torch":
        return None, name
    path = cached_export(run_dir, meta, run_digest(run_dir, meta), name, progress)
    return exported_forward(name, path), name
