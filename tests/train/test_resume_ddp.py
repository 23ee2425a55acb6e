"""A killed training process resumes from its last checkpoint; a 2-process DDP fit runs on CPU."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ARGS = ["--model", "mobilenet_v3_small", "--weights", "none", "--input-size", "32", "--batch-size", "8",
        "--num-workers", "0", "--no-report", "--patience", "50", "--ema-decay", "0"]


def _benthos(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "benthos", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


@pytest.mark.slow
@pytest.mark.ci
def test_kill_and_resume(colour_folder, tmp_path):
    run = tmp_path / "run"
    proc = _benthos("train", str(colour_folder), "--out", str(run), "--epochs", "6", *ARGS)
    ckpt = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: the checkpoint must already be whole
    proc.wait()
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=True)  # loadable, never unpickled
    done = state["epoch"]
    assert not (run / "run.json").exists()
    res = subprocess.run([sys.executable, "-m", "benthos", "train", "--resume", str(run)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    meta = json.loads((run / "run.json").read_text())
    epochs = [h["epoch"] for h in meta["history"]]
    assert epochs == list(range(6))  # the history before the kill travelled in the checkpoint
    assert meta["timings"]["resumed_from_epoch"] >= done + 1  # it continued, not restarted


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(colour_folder, tmp_path):
    run = tmp_path / "ddp"
    res = subprocess.run([sys.executable, "-m", "benthos", "train", str(colour_folder), "--out", str(run), "--epochs", "1",
                          "--accelerator", "cpu", "--devices", "2", "--ddp-strategy", "ddp", *ARGS],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "MEMBER: 2/2" in res.stdout + res.stderr  # the second process joined the gloo group
    assert (run / "run.json").is_file() and (run / "model.safetensors").is_file()


@pytest.mark.slow
def test_ddp_on_points_cuts_the_patches_once(tmp_path):
    """Two processes training on CoralNet points: one cuts the patches, both read them, none is
    removed before both are done, and none is left afterwards."""
    import csv

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for k in range(2):
        Image.fromarray(rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)).save(tmp_path / f"p{k}.png")
        rows += [[f"p{k}.png", int(rng.integers(10, 150)), int(rng.integers(10, 190)), ("red", "blue")[i % 2]] for i in range(8)]
    with open(tmp_path / "points.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["Name", "Row", "Column", "Label"], *rows])
    run = tmp_path / "ddp"
    res = subprocess.run([sys.executable, "-m", "benthos", "train", str(tmp_path / "points.csv"), "--images", str(tmp_path),
                          "--out", str(run), "--epochs", "2", "--patch-size", "24", "--accelerator", "cpu", "--devices", "2",
                          "--ddp-strategy", "ddp", *ARGS], capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "MEMBER: 2/2" in out and out.count("patches from 2 photos once") == 1
    assert (run / "run.json").is_file() and not (run / "patches").exists()
