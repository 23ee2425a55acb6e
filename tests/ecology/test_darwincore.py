from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from benthos.ecology._io import write_csv
from benthos.ecology.darwincore import DWC, occurrences, write_archive, write_occurrences
from benthos.ecology.predictions import group_keys, read_metadata, read_predictions
from benthos.ecology.taxonomy import Taxonomy
from benthos.errors import DataError


def _taxonomy():
    t = Taxonomy.example()
    t.lineage.pop("Crossaster papposus")
    t.lines.pop("Crossaster papposus")
    return t


def test_occurrences_from_detections_with_event_metadata(files):
    preds = read_predictions(files / "dets.csv")
    images = list(dict.fromkeys(preds.images))
    write_csv(files / "meta.csv", [dict(image=im, station=im.split("/")[0], eventDate="2024-05-0" + im[8],
                                        decimalLatitude="54.1", decimalLongitude="7.9", minimumDepthInMeters="30") for im in images],
              ["image", "station", "eventDate", "decimalLatitude", "decimalLongitude", "minimumDepthInMeters"])
    meta = read_metadata(files / "meta.csv")
    rows, cols, notes = occurrences(preds, group_keys(preds, "station", meta), _taxonomy(), meta, model="model demo-net")
    assert {"scientificName", "taxonRank", "individualCount", "eventID", "basisOfRecord", "identificationVerificationStatus",
            "identificationRemarks", "eventDate", "decimalLatitude", "minimumDepthInMeters"} <= set(cols)
    assert sum(r["individualCount"] for r in rows) == len(preds)
    r = rows[0]
    assert r["basisOfRecord"] == "MachineObservation" and r["taxonRank"] == "species" and r["phylum"]
    assert r["identificationRemarks"].startswith("model demo-net; benthos ") and "mean score " in r["identificationRemarks"]
    assert notes == {"unnamed": [], "warnings": []}
    assert r["decimalLatitude"] == "54.1" and r["eventDate"] == "2024-05-01"  # every station_1 image shares it
    assert len({r["occurrenceID"] for r in rows}) == len(rows)


def test_points_give_cover_and_skip_non_taxa(files):
    preds = read_predictions(files / "points.csv")
    rows, _, _ = occurrences(preds, group_keys(preds, "image"), _taxonomy())
    assert all(r["scientificName"] != "sand" for r in rows)
    assert all("individualCount" not in r and r["organismQuantityType"].startswith("% cover") for r in rows)


def test_archive_meta_xml_matches_the_table(files):
    preds = read_predictions(files / "preds.csv")
    rows, cols, _ = occurrences(preds, group_keys(preds, "folder"), _taxonomy())
    path = write_archive(files / "dwca.zip", rows, cols, title="test survey")
    with zipfile.ZipFile(path) as z:
        assert set(z.namelist()) == {"occurrence.txt", "meta.xml", "eml.xml"}
        table = list(csv.reader(io.StringIO(z.read("occurrence.txt").decode()), delimiter="\t"))
        meta = ET.fromstring(z.read("meta.xml"))
        eml = ET.fromstring(z.read("eml.xml"))
    ns = {"d": "http://rs.tdwg.org/dwc/text/"}
    core = meta.find("d:core", ns)
    assert core.get("rowType") == DWC + "Occurrence" and core.find("d:files/d:location", ns).text == "occurrence.txt"
    fields = core.findall("d:field", ns)
    assert [f.get("term") for f in fields] == [DWC + c for c in table[0]]
    assert len(table) == len(rows) + 1 and all(len(r) == len(table[0]) for r in table)
    assert eml.find("dataset/title").text == "test survey"
    write_occurrences(files / "occ.csv", rows, cols)
    assert (files / "occ.csv").read_text().startswith("occurrenceID,eventID,basisOfRecord")


def test_taxonomy_must_cover_labels(files):
    preds = read_predictions(files / "preds.csv")
    t = _taxonomy()
    t.lineage.pop("sand")
    t.lines.pop("sand")
    with pytest.raises(DataError, match="no row for 'sand'"):
        occurrences(preds, group_keys(preds, "image"), t)
