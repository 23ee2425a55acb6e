"""The prediction journal: finished items survive a kill, a torn line is dropped, other settings start over."""
import json

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
