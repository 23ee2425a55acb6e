from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from benthos.ecology.tables import write_csv
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


def _cli(capsys, *argv):
    from benthos.cli.main import main

    code = main(["ecology", "darwincore", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _meta(files, preds, **over):
    rows = []
    for i, im in enumerate(dict.fromkeys(preds.images)):
        r = dict(image=im, station=im.split("/")[0], eventDate="2024-05-11", decimalLatitude="54.1", decimalLongitude="7.9")
        r.update({k: v(i) if callable(v) else v for k, v in over.items()})
        rows.append(r)
    write_csv(files / "meta.csv", rows, list(rows[0]))
    return files / "meta.csv"


def test_scientific_names_only_from_a_taxonomy(files, capsys):
    code, out, err = _cli(capsys, files / "preds.csv", "--out", files / "occ.csv")
    rows = list(csv.DictReader(open(files / "occ.csv")))
    assert code == 0 and all(r["scientificName"] == "" for r in rows)
    assert {r["verbatimIdentification"] for r in rows} == {"Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "sand"}
    assert "4 labels have no scientific name" in out and "sand" in out and "OBIS and GBIF reject" in err
    # with a taxonomy: names from it, and the substrate (a row without ranks) left out
    _taxonomy().write(files / "tax.csv")
    code, out, err = _cli(capsys, files / "preds.csv", "--out", files / "occ.csv", "--taxonomy", files / "tax.csv")
    rows = list(csv.DictReader(open(files / "occ.csv")))
    assert code == 0 and "no scientific name" not in out
    assert {r["scientificName"] for r in rows} == {"Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus"}
    assert all(r["verbatimIdentification"] == r["scientificName"] for r in rows)
    # --exclude leaves a label out without a taxonomy
    _cli(capsys, files / "preds.csv", "--out", files / "occ2.csv", "--exclude", "sand")
    assert "sand" not in {r["verbatimIdentification"] for r in csv.DictReader(open(files / "occ2.csv"))}


def test_identification_remarks_name_the_model_from_the_record(files, capsys):
    import json

    run = files / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"architecture": "resnet50", "classes": []}))
    sha = "0123456789abcdef" * 4
    (files / "preds.csv.json").write_text(json.dumps({"job": "benthos predict", "run": str(run), "weights_sha256": sha}))
    code, _, _ = _cli(capsys, files / "preds.csv", "--out", files / "occ.csv")
    remark = next(csv.DictReader(open(files / "occ.csv")))["identificationRemarks"]
    assert code == 0 and remark.startswith(f"model resnet50, weights sha256 {sha}; benthos ")
    assert "preds" not in remark  # the model, not the CSV file's name
    (files / "preds.csv.json").unlink()
    _cli(capsys, files / "preds.csv", "--out", files / "occ.csv")
    assert next(csv.DictReader(open(files / "occ.csv")))["identificationRemarks"].startswith(
        "model not recorded, weights checksum not recorded")


@pytest.mark.parametrize("column,value,match", [
    ("eventDate", "yesterday", "eventDate 'yesterday' is not written YYYY"),
    ("eventDate", "2026-13-45", "eventDate '2026-13-45' is not a date on the calendar"),
    ("eventDate", "2024-05-11/2024-05-01", "the interval ends before it starts"),
    ("decimalLatitude", "999", "decimalLatitude 999 is outside -90..90"),
    ("decimalLongitude", "east", "decimalLongitude 'east' is not a number"),
])
def test_dates_and_coordinates_are_checked_naming_the_row(files, capsys, column, value, match):
    preds = read_predictions(files / "preds.csv")
    meta = _meta(files, preds, **{column: lambda i: value if i == 2 else {"eventDate": "2024-05-11", "decimalLatitude": "54.1",
                                                                          "decimalLongitude": "7.9"}[column]})
    code, _, err = _cli(capsys, files / "preds.csv", "--out", files / "occ.csv", "--metadata", meta)
    assert code == 2 and f"meta.csv: line 4: {column}" in err and match in err and err.count("\n") == 1


def test_iso8601_forms_darwin_core_takes():
    from benthos.ecology.predictions import iso8601_problem

    for ok in ("2024", "2024-05", "2024-05-11", "2024-05-11T14:30", "2024-05-11T14:30:05Z", "2024-05-11T14:30:05.5+02:00",
               "2024-05-11T14:30-0300", "2024-05-11/2024-05-13", "2024-02-29"):
        assert iso8601_problem(ok) is None, ok
    for bad in ("2023-02-29", "11/05/2024", "2024-5-1", "2024-05-11 14:30", "2024-05-11T25:00"):
        assert iso8601_problem(bad), bad


def test_missing_dates_and_places_are_warned_about(files, capsys):
    code, _, err = _cli(capsys, files / "preds.csv", "--out", files / "occ.csv")
    assert code == 0 and "occurrences have no eventDate" in err and "have no coordinates" in err
    preds = read_predictions(files / "preds.csv")
    meta = _meta(files, preds)
    code, _, err = _cli(capsys, files / "preds.csv", "--out", files / "occ.csv", "--metadata", meta, "--by", "group", "station")
    assert code == 0 and "no eventDate" not in err and "no coordinates" not in err


def test_archive_needs_creator_licence_title_and_writes_them(files, capsys):
    code, _, err = _cli(capsys, files / "preds.csv", "--out", files / "dwca.zip")
    assert code == 2 and "needs --title, --creator, --licence" in err
    code, _, err = _cli(capsys, files / "preds.csv", "--out", files / "dwca.zip", "--title", "T", "--creator", "Ana Souza",
                        "--licence", "CC-BY-SA-4.0")
    assert code == 2 and "OBIS and GBIF accept CC0-1.0, CC-BY-4.0, CC-BY-NC-4.0" in err
    code, _, _ = _cli(capsys, files / "preds.csv", "--out", files / "dwca.zip", "--title", "North Sea stations",
                      "--creator", "Ana Souza", "--licence", "CC-BY-4.0")
    with zipfile.ZipFile(files / "dwca.zip") as z:
        eml = ET.fromstring(z.read("eml.xml"))
        meta = ET.fromstring(z.read("meta.xml"))
        table = list(csv.reader(io.StringIO(z.read("occurrence.txt").decode()), delimiter="\t"))
    assert code == 0 and eml.find("dataset/title").text == "North Sea stations"
    assert eml.find("dataset/creator/individualName/surName").text == "Souza"
    assert eml.find("dataset/creator/individualName/givenName").text == "Ana"
    assert "creativecommons.org/licenses/by/4.0" in eml.find("dataset/intellectualRights/para/ulink").get("url")
    terms = [f.get("term") for f in meta.find("{http://rs.tdwg.org/dwc/text/}core").findall("{http://rs.tdwg.org/dwc/text/}field")]
    assert terms[table[0].index("license")] == "http://purl.org/dc/terms/license"
    assert terms[table[0].index("verbatimIdentification")] == DWC + "verbatimIdentification"


def test_media_are_relative_to_a_base_or_under_a_url_never_local_paths(files, capsys, tmp_path):
    from benthos.ecology.predictions import Predictions

    p = Predictions.example("classification", n_images=4)
    p.images = [str(tmp_path / "survey" / im) for im in p.images]  # absolute, as `benthos predict` writes them
    p.write(files / "abs.csv")
    code, _, err = _cli(capsys, files / "abs.csv", "--out", files / "occ.csv")
    assert code == 0 and all(r["associatedMedia"] == "" for r in csv.DictReader(open(files / "occ.csv")))
    assert "associatedMedia left empty" in err
    _cli(capsys, files / "abs.csv", "--out", files / "occ.csv", "--media-base", tmp_path / "survey")
    media = [m for r in csv.DictReader(open(files / "occ.csv")) for m in r["associatedMedia"].split(" | ")]
    assert media and all(m.startswith("station_") and not m.startswith("/") for m in media)
    _cli(capsys, files / "abs.csv", "--out", files / "occ.csv", "--media-url", "https://example.org/photos/")
    media = [m for r in csv.DictReader(open(files / "occ.csv")) for m in r["associatedMedia"].split(" | ")]
    assert all(m.startswith("https://example.org/photos/station_") for m in media)
    code, _, err = _cli(capsys, files / "abs.csv", "--out", files / "occ.csv", "--media-base", tmp_path / "elsewhere")
    assert code == 2 and "is not under --media-base" in err
