"""The prediction journal: finished items survive a kill, a torn line is dropped, other settings start over;
items are written by count or by time; one process at a time holds it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from benthos.errors import BenthosError
from benthos.runs.journal import Journal


def test_items_come_back_on_reopening_with_the_same_header(tmp_path):
    path = tmp_path / "p.csv.partial.jsonl"
    with Journal(path, {"run": "a", "tta": "none"}) as j:
        assert j.done == {}
        j.add([{"image": "x.jpg", "probs": [0.1, 0.9]}, {"image": "y.jpg", "skipped": "cannot decode"}])
    again = Journal(path, {"run": "a", "tta": "none"})
    assert set(again.done) == {"x.jpg", "y.jpg"} and again.done["x.jpg"]["probs"] == [0.1, 0.9]
    again.add([{"image": "z.jpg", "probs": [1.0, 0.0]}])
    again.close(remove=True)
    assert not path.exists()


def test_a_line_torn_by_a_kill_is_dropped_and_the_file_stays_appendable(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path, {"run": "a"}) as j:
        j.add([{"image": "x.jpg", "probs": [1.0]}])
    with open(path, "a") as fh:
        fh.write('{"image": "y.jpg", "pro')  # killed mid-write
    with Journal(path, {"run": "a"}) as j:
        assert set(j.done) == {"x.jpg"}
        j.add([{"image": "y.jpg", "probs": [0.5]}])
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines][1:] == [{"image": "x.jpg", "probs": [1.0]}, {"image": "y.jpg", "probs": [0.5]}]


def test_another_header_sets_the_old_journal_aside_and_starts_again(tmp_path, caplog):
    path = tmp_path / "j.jsonl"
    with Journal(path, {"run": "a", "tta": "dihedral"}) as j:
        j.add([{"image": "x.jpg", "probs": [1.0]}])
    with Journal(path, {"run": "a", "tta": "none"}) as j:
        assert j.done == {}
    assert "other settings" in caplog.text
    assert (tmp_path / "j.jsonl.old").is_file()  # set aside, not deleted
    assert json.loads(path.read_text().splitlines()[0]) == {"run": "a", "tta": "none"}


def test_a_journal_from_before_a_new_header_key_resumes_when_it_implies_the_same_value(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path, {"run": "a", "tile": None}) as j:  # written before the box_vote key existed
        j.add([{"image": "x.jpg", "boxes": []}])
    with Journal(path, {"run": "a", "tile": None, "box_vote": 0.0}, implied={"box_vote": 0.0}) as j:
        assert set(j.done) == {"x.jpg"}  # it predicted without voting, as asked now
        j.add([{"image": "y.jpg", "boxes": []}])
    with Journal(path, {"run": "a", "tile": None, "box_vote": 0.6}, implied={"box_vote": 0.0}) as j:
        assert j.done == {}  # voting asked now, not then: start again, the old one set aside
    assert (tmp_path / "j.jsonl.old").is_file()


# -- flushing by count and by time; one process at a time ----------------------------------------

def _on_disk(path):
    return [json.loads(line)["image"] for line in path.read_text().splitlines()[1:]]


def test_items_wait_for_the_count_then_are_written_together(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path, {"run": "a"}, flush_every=3, flush_seconds=3600)
    j.add([{"image": "a.jpg"}, {"image": "b.jpg"}])
    assert _on_disk(path) == [] and set(j.done) == {"a.jpg", "b.jpg"}  # waiting, but known as done
    j.add([{"image": "c.jpg"}])
    assert _on_disk(path) == ["a.jpg", "b.jpg", "c.jpg"]
    j.add([{"image": "d.jpg"}])
    j.close()  # closing writes what waits
    assert _on_disk(path) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


def test_an_item_added_alone_is_written_after_flush_seconds_without_further_calls(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path, {"run": "a"}, flush_every=1000, flush_seconds=0.05) as j:
        j.add([{"image": "a.jpg"}])
        deadline = time.monotonic() + 30
        while not _on_disk(path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _on_disk(path) == ["a.jpg"]  # written by the timer while the job "works" on the next item


def test_an_exception_in_the_with_block_still_writes_what_waits(tmp_path):
    path = tmp_path / "j.jsonl"
    with pytest.raises(KeyboardInterrupt):
        with Journal(path, {"run": "a"}, flush_every=1000, flush_seconds=3600) as j:
            j.add([{"image": "a.jpg"}])
            raise KeyboardInterrupt
    assert set(Journal(path, {"run": "a"}).done) == {"a.jpg"}


HOLDER = """
import sys, time
from benthos.runs.journal import Journal
j = Journal(sys.argv[1], {"run": "a"}, flush_every=1000, flush_seconds=0.05)
j.add([{"image": "first.jpg"}])
while True:  # until the first item is on disk, then say so and keep the job (and the lock) open
    with open(sys.argv[1]) as fh:
        if len(fh.read().splitlines()) > 1:
            break
    time.sleep(0.02)
j.add([{"image": "in_flight.jpg"}])
print("ready", flush=True)
time.sleep(600)
"""


def _holder(path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_second_process_on_the_same_journal_is_refused_naming_the_first(tmp_path):
    path = tmp_path / "out.csv.partial.jsonl"
    proc = _holder(path)
    try:
        with pytest.raises(BenthosError, match=rf"another process \(pid {proc.pid}\) is working on this output"):
            Journal(path, {"run": "a"})
        assert _on_disk(path)[0] == "first.jpg"  # the refused one touched nothing
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_no_stuck_lock_and_its_flushed_work_resumes(tmp_path):
    path = tmp_path / "out.csv.partial.jsonl"
    proc = _holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert path.with_name(path.name + ".lock").exists()  # left behind by the kill, yet not in the way
    with Journal(path, {"run": "a"}) as j:
        assert "first.jpg" in j.done
        j.add([{"image": "next.jpg"}])
    j.close(remove=True)
    assert not path.exists() and not path.with_name(path.name + ".lock").exists()


def test_the_lock_is_released_on_close_and_taken_again(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path, {"run": "a"})
    with pytest.raises(BenthosError, match="another process"):
        Journal(path, {"run": "a"})  # a second journal on it, even in this process
    j.close()
    Journal(path, {"run": "a"}).close(remove=True)
