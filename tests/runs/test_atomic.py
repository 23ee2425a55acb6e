"""Atomic writes never replace a stream, a device or a link with a regular file."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import benthos
from benthos.runs.atomic import atomic_write, atomic_write_text, is_stream


def test_regular_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "one")
    inode = path.stat().st_ino
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and path.stat().st_ino != inode  # a new file renamed over the old one
    assert not is_stream(path) and not is_stream(tmp_path / "missing.txt")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary left behind


def test_symlink_keeps_being_a_link_and_its_target_gets_the_text(tmp_path):
    target = tmp_path / "data" / "counts.csv"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new" and link.read_text() == "new"
    # a dangling link: its target is created
    dangling = tmp_path / "next.csv"
    dangling.symlink_to(tmp_path / "data" / "later.csv")
    atomic_write_text(dangling, "x")
    assert dangling.is_symlink() and (tmp_path / "data" / "later.csv").read_text() == "x"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    assert is_stream(fifo)
    atomic_write_text(fifo, "through the pipe\n")
    reader.join(10)
    assert got == ["through the pipe\n"] and fifo.exists() and not fifo.is_file()


def test_stdout_paths_are_streams(tmp_path):
    assert is_stream("/dev/stdout") and is_stream("/dev/fd/1") and is_stream("/proc/self/fd/1")
    assert is_stream("/dev/null")  # a character device
    calls = []
    atomic_write("/dev/null", calls.append)  # written in place, never renamed over
    assert calls == ["/dev/null"] and Path("/dev/null").is_char_device()


def test_cli_writes_to_dev_stdout_without_replacing_it(tmp_path):
    """`ecology counts --wide /dev/stdout` into a pipe and into a file the shell redirected to."""
    from benthos.ecology.predictions import Predictions

    Predictions.example("classification", n_images=4).write(tmp_path / "preds.csv")
    env = {**os.environ, "PYTHONPATH": str(Path(benthos.__file__).parents[1])}
    cmd = [sys.executable, "-m", "benthos", "ecology", "counts", str(tmp_path / "preds.csv"), "--by", "folder",
           "--out", str(tmp_path / "long.csv"), "--wide", "/dev/stdout"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("sample,Asterias rubens,") and "station_1," in res.stdout
    with open(tmp_path / "redirected.txt", "w") as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "redirected.txt").read_text()
    assert text.startswith("sample,Asterias rubens,") and "-> " in text  # the CSV, then the summary line after it
