"""`benthos export RUN --format onnx|openvino [--int8] --out DIR`: the run as a file other runtimes load."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained run to ONNX or OpenVINO (optionally INT8)",
                       description="Write the run's model to DIR as ONNX (model.onnx) or OpenVINO IR (model.xml/.bin), "
                                   "carrying its class names, preprocessing, calibration temperature and identity; "
                                   "then compare it with PyTorch on the run's test split.")
    p.add_argument("run", help="run folder written by `benthos train` or `benthos detect train` (a detector: the "
                               "whole network as one ONNX graph, image in, boxes out)")
    p.add_argument("--format", required=True, choices=["onnx", "openvino"])
    p.add_argument("--int8", action="store_true",
                   help="post-training INT8 quantisation, ranges measured on the run's training images")
    p.add_argument("--calibration-images", type=int, default=128, metavar="N",
                   help="training images that measure the INT8 ranges (default: 128)")
    p.add_argument("--out", required=True, help="folder to write (replaced as a whole)")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    import sys

    from benthos.infer.export import compare_with_torch, write_export
    from benthos.runs.run import read_meta

    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if read_meta(args.run)["kind"] == "detector":
        return _export_detector(args, say)
    record = write_export(args.run, args.format, args.out, int8=args.int8, calibration_images=args.calibration_images,
                          progress=say)
    print(f"exported {record['architecture']} ({len(record['classes'])} classes{', INT8' if args.int8 else ''}) "
          f"-> {args.out}")
    if args.no_check:
        return 0
    say("comparing with PyTorch")
    c = compare_with_torch(args.run, args.out)
    if c is None:
        print("not compared with PyTorch: the run has no held-out test or validation images")
        return 0
    print(f"against PyTorch on the run's {c['split']} split ({c['n']} images, one view each): same top-1 label on "
          f"{c['same_top1']}/{c['n']}, largest probability difference {c['max_prob_diff']:.2g}; accuracy "
          f"{c['accuracy_export']:.3f} (PyTorch {c['accuracy_torch']:.3f}); {c['export_images_per_s']:.0f} images/s "
          f"(PyTorch {c['torch_images_per_s']:.0f})")
    return 0


def _export_detector(args: argparse.Namespace, say) -> int:
    """A detector run: the whole network as one ONNX graph (:mod:`benthos.detect.export`)."""
    from benthos.tasks.detect import compare_detector_export, export_detector

    record = export_detector(args.run, args.format, args.out, int8=args.int8, progress=say)
    print(f"exported {record['architecture']} ({len(record['classes'])} classes, the whole detector) -> {args.out}")
    if args.no_check:
        return 0
    say("comparing with PyTorch")
    c = compare_detector_export(args.run, args.out)
    if c is None:
        print("not compared with PyTorch: the run's validation frames cannot be read")
        return 0
    print(f"against PyTorch on {c['frames']} of the run's validation frames: {c['matched']} of its {c['boxes_torch']} "
          f"boxes found again (same label, IoU >= 0.99; the export gave {c['boxes_export']}), largest score "
          f"difference {c['max_score_diff']:.2g}; {c['export_s_per_frame']:.3f} s per frame (PyTorch "
          f"{c['torch_s_per_frame']:.3f})")
    return 0
