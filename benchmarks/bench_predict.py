"""Whole-process prediction speed: `benthos predict` (defaults) against a plain eager PyTorch loop
(benchmarks/plain_loop.py) on the same run and images, side by side in one invocation.

    python benchmarks/bench_predict.py RUN ../shared/data/ccr_benthic_patches
    python benchmarks/bench_predict.py RUN DATA --variant "--backend torch --tta dihedral" --rss

Each command is a fresh process, timed from its start to its exit (imports, model loading, image
decoding, writing the CSV); the commands alternate, ``--repeats`` times each, and the median is
reported. ``--variant`` adds `benthos predict` with other flags (repeatable). ``--rss``: peak resident
memory of `benthos predict` on DATA and on DATA repeated 10 times (symbolic links in a temporary
folder), to show that memory does not grow with the number of images. The load average is printed:
on a shared machine, compare ratios from one invocation only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds and peak RSS (MiB) of that process alone."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    # communicate() has reaped it; resource use of the child comes from the last wait4 of subprocess
    usage = getattr(proc, "rusage", None)
    if proc.returncode:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"wall_s": wall, "stdout": out, "stderr": err, "usage": usage}


class Popen(subprocess.Popen):
    """subprocess.Popen that keeps the child's own rusage (os.wait4), for its CPU time and peak RSS."""

    def _try_wait(self, wait_flags):
        try:
            pid, sts, self.rusage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            pid, sts = self.pid, 0
        return pid, sts


subprocess.Popen = Popen  # only this script's children


def count_rows(csv_path: Path) -> int:
    with open(csv_path) as fh:
        return sum(1 for _ in fh) - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("data", help="image folder")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--variant", action="append", default=[], metavar="FLAGS",
                    help="also time `benthos predict` with these flags, e.g. \"--backend torch --tta dihedral\"")
    ap.add_argument("--rss", action="store_true", help="peak RSS on DATA and on DATA x 10")
    args = ap.parse_args()
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    files = sorted(p for p in Path(args.data).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for f in files:  # every command then reads the images from the page cache
        f.read_bytes()
    import torch

    print(f"machine: {platform.machine()} {platform.processor()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); load average at start {os.getloadavg()[0]:.1f}")
    print(f"{len(files)} images in {args.data}; run {args.run}\n")
    # the first `benthos predict` of a run writes its ONNX/OpenVINO export into the run folder: not timed
    subprocess.run([py, "-m", "benthos", "predict", args.run, str(files[0]), "--out", str(tmp / "warm.csv")],
                   check=True, capture_output=True)
    methods = {"plain eager PyTorch loop (NCHW fp32, no_grad, batch 32, 1 view)":
               lambda out: [py, str(HERE / "plain_loop.py"), args.run, args.data, str(out)],
               "benthos predict (defaults)": lambda out: [py, "-m", "benthos", "predict", args.run, args.data, "--out", str(out)]}
    for v in args.variant:
        methods[f"benthos predict {v}"] = lambda out, v=v: [py, "-m", "benthos", "predict", args.run, args.data,
                                                            "--out", str(out), *shlex.split(v)]
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for r in range(args.repeats):
        for i, (name, cmd) in enumerate(methods.items()):
            out = tmp / f"m{i}_r{r}.csv"
            res = timed(cmd(out))
            res["images"] = count_rows(out) + (1 if "plain" in name else 0)  # the plain CSV has no header
            if "plain" in name:
                res.update(json.loads(res["stdout"].strip().splitlines()[-1]))
            else:
                res["said"] = res["stdout"].strip().splitlines()[-1]
            runs[name].append(res)
            print(f"  {name}: {res['images']} images in {res['wall_s']:.1f} s", file=sys.stderr, flush=True)
    plain = statistics.median(r["images"] / r["wall_s"] for r in runs[next(iter(methods))])
    print("| command | images | wall s (median) | images/s | CPU s | peak RSS MiB | vs plain loop |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        rate = statistics.median(r["images"] / r["wall_s"] for r in rs)
        cpu = statistics.median(r["usage"].ru_utime + r["usage"].ru_stime for r in rs)
        rss = max(r["usage"].ru_maxrss for r in rs) / 1024
        print(f"| {name} | {rs[0]['images']} | {wall:.1f} | {rate:.1f} | {cpu:.1f} | {rss:.0f} | {rate / plain:.2f}x |")
    for name, rs in runs.items():
        if "said" in rs[0]:
            print(f"\n{name}: {rs[0]['said']}")
        elif "forward_s" in rs[0]:
            print(f"\n{name}: {statistics.median(r['forward_s'] for r in rs):.1f} s of its time in the model's forward passes")
    if args.rss:
        big = tmp / "x10"
        for k in range(10):
            for f in files:
                link = big / f"copy{k}" / f.relative_to(args.data)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f.resolve())
        print("\n| images | wall s | images/s | peak RSS MiB |")
        print("|---|---|---|---|")
        for folder in (args.data, str(big)):
            out = tmp / f"rss_{Path(folder).name}.csv"
            res = timed([py, "-m", "benthos", "predict", args.run, folder, "--out", str(out)])
            n = count_rows(out)
            print(f"| {n} | {res['wall_s']:.1f} | {n / res['wall_s']:.1f} | {res['usage'].ru_maxrss / 1024:.0f} |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
