"""Property-based tests: the ecology CSV readers (long counts, image metadata) driven with generated bad
CSVs give one DataError naming the line, or exactly the values written."""
import csv
import io

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benthos.ecology.counts import read_counts
from benthos.ecology.predictions import read_metadata
from benthos.errors import BenthosError

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
cell = st.one_of(st.sampled_from(["st1", "st2", "Asterias", "Ophiura", "0", "3", "12", "-1", "2.5", "nan", "inf",
                                  "1e400", "", " 4 ", "2026-13-45", "999"]), st.text(max_size=6))


@st.composite
def count_rows(draw):
    """Distinct (sample, taxon) pairs with counts, about one row in four replaced by other cells."""
    pairs = draw(st.lists(st.tuples(st.sampled_from(["st1", "st2"]), st.sampled_from(["Asterias", "Ophiura", "Pagurus"])),
                          min_size=1, max_size=6, unique=True))
    return [draw(st.sampled_from([True, True, True, False]).flatmap(
        lambda ok: st.just([s, t, str(draw(st.integers(0, 30)))]) if ok else st.lists(cell, max_size=4)))
        for s, t in pairs]


def _csv(header, rows, encoding="utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue().encode(encoding, errors="replace")


@SETTINGS
@given(header=st.sampled_from([["sample", "taxon", "count"], ["sample", "taxon", "count"], ["taxon", "sample", "count"],
                               ["sample", "count"], ["sample", "taxon", "count", "count"]]),
       rows=count_rows(), latin=st.booleans())
def test_read_counts_names_its_errors_and_keeps_values(tmp_path, header, rows, latin):
    path = tmp_path / "counts.csv"
    path.write_bytes(_csv(header, rows, "latin-1" if latin else "utf-8"))
    try:
        table = read_counts(path)
    except BenthosError as exc:
        event("refused")
        assert str(path) in str(exc)
        return
    event("read")
    written = {(r[header.index("sample")].strip(), r[header.index("taxon")].strip()): int(r[header.index("count")])
               for r in rows if any(c.strip() for c in r)}  # blank rows are skipped
    for i, s in enumerate(table.samples):
        for j, t in enumerate(table.taxa):
            assert table.counts[i, j] == written.get((s, t), 0)


@SETTINGS
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=4), min_size=1, max_size=5),
       header=st.sampled_from([["image", "station", "eventDate"], ["image", "decimalLatitude"], ["station"]]))
def test_read_metadata_names_its_errors_and_keeps_values(tmp_path, rows, header):
    path = tmp_path / "meta.csv"
    path.write_bytes(_csv(header, rows))
    try:
        meta = read_metadata(path)
    except BenthosError:
        event("refused")
        return
    event("read")
    kept = [r for r in rows if any(c.strip() for c in r)]
    assert sorted(meta) == sorted(r[0].strip() for r in kept)
    for r in kept:
        assert {k: v for k, v in meta[r[0].strip()].items() if k != "_line"} == dict(zip(header, (c.strip() for c in r)))


@SETTINGS
@given(field=st.sampled_from([("eventDate", "yesterday"), ("eventDate", "2026-13-45"), ("decimalLatitude", "999"),
                              ("decimalLongitude", "-181"), ("decimalLatitude", "north")]))
def test_darwin_core_metadata_values_are_checked_where_they_enter(tmp_path, field):
    """Issue 34 saw these accepted silently; refused (naming the column) where the metadata are read."""
    path = tmp_path / "meta.csv"
    path.write_bytes(_csv(["image", field[0]], [["a.jpg", field[1]]]))
    with pytest.raises(BenthosError, match=field[0]):
        read_metadata(path)
