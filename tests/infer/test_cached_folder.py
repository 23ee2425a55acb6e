"""infer.export.cached_folder: the one rule every kept export follows (the classifier's exports, the
detector's whole graph, a detector's trunk): reused only when its record matches, made anew otherwise,
a temporary copy when the folder cannot be written."""
import json
from pathlib import Path

import pytest

from benthos.infer.export import cached_folder

WANT = {"weights_sha256": "a" * 64, "benthos": "1.0", "settings": {"test_proposals": 500}}


def _writer(calls: list, fail: type[Exception] | None = None):
    def write(folder: Path) -> None:
        calls.append(folder)
        if fail is not None and len(calls) == 1:
            raise fail("cannot write there")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_text("graph")
        (folder / "record.json").write_text(json.dumps({**WANT, "extra": 1}))
    return write


def test_reused_only_when_every_wanted_key_matches_and_the_files_are_there(tmp_path):
    calls: list = []
    folder = tmp_path / "export" / "detector"
    args = (("model.onnx",), _writer(calls))
    assert cached_folder(folder, WANT, *args, record="record.json") == folder and len(calls) == 1
    assert cached_folder(folder, WANT, *args, record="record.json") == folder and len(calls) == 1  # reused
    other = {**WANT, "settings": {"test_proposals": 300}}
    cached_folder(folder, other, *args, record="record.json")
    assert len(calls) == 2  # other settings: never the old graph
    (folder / "model.onnx").unlink()
    cached_folder(folder, WANT, *args, record="record.json")
    assert len(calls) == 3  # a file gone
    (folder / "record.json").write_text("{torn")
    cached_folder(folder, WANT, *args, record="record.json")
    assert len(calls) == 4  # a torn record


def test_a_folder_that_cannot_be_written_gets_a_temporary_copy(tmp_path):
    calls: list = []
    folder = tmp_path / "run" / "export" / "onnx"
    used = cached_folder(folder, WANT, ("model.onnx",), _writer(calls, PermissionError), record="record.json")
    assert used != folder and used.name == "onnx" and (used / "model.onnx").is_file() and len(calls) == 2


def test_another_jobs_finished_copy_is_used_and_other_failures_are_raised(tmp_path):
    folder = tmp_path / "export" / "onnx"

    def racing(f: Path) -> None:  # another share wrote the export first; our rename then fails
        _writer([])(f)
        raise OSError("Directory not empty")

    assert cached_folder(folder, WANT, ("model.onnx",), racing, record="record.json") == folder

    def broken(f: Path) -> None:
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        cached_folder(tmp_path / "elsewhere", WANT, ("model.onnx",), broken, record="record.json")
