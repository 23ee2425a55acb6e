"""Darwin Core export for OBIS/GBIF: occurrence CSV and a Darwin Core Archive (zip with meta.xml)."""
from __future__ import annotations

import datetime as _dt
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import numpy as np

from benthos import __version__
from benthos.errors import DataError, closest
from benthos.ecology.tables import to_csv_text
from benthos.ecology.predictions import Predictions, lookup_metadata
from benthos.ecology.taxonomy import Taxonomy
from benthos.runs.atomic import atomic_write, atomic_write_text

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"
# event terms copied from the image metadata CSV when present (same name as the DwC term)
EVENT_TERMS = ["parentEventID", "eventDate", "eventTime", "samplingProtocol", "samplingEffort", "habitat", "fieldNumber",
               "locationID", "waterBody", "country", "countryCode", "locality", "decimalLatitude", "decimalLongitude",
               "geodeticDatum", "coordinateUncertaintyInMeters", "footprintWKT", "minimumDepthInMeters",
               "maximumDepthInMeters", "recordedBy", "datasetName", "institutionCode"]
HIGHER = ["kingdom", "phylum", "class", "order", "family", "genus"]
CORE = ["occurrenceID", "eventID", "basisOfRecord", "occurrenceStatus", "scientificName", "verbatimIdentification",
        "taxonRank", *HIGHER, "individualCount", "organismQuantity", "organismQuantityType",
        "identificationVerificationStatus", "identificationRemarks", "associatedMedia"]
# the licences GBIF accepts for occurrence data (OBIS publishes through the same IPT)
LICENCES = {
    "CC0-1.0": ("http://creativecommons.org/publicdomain/zero/1.0/legalcode",
                "Public Domain (CC0 1.0)"),
    "CC-BY-4.0": ("http://creativecommons.org/licenses/by/4.0/legalcode",
                  "Creative Commons Attribution (CC-BY) 4.0 License"),
    "CC-BY-NC-4.0": ("http://creativecommons.org/licenses/by-nc/4.0/legalcode",
                     "Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0 License"),
}


def term_uri(column: str) -> str:
    return (DCTERMS if column == "license" else DWC) + column


def check_archive_metadata(title: str, creator: str, licence: str) -> None:
    """A Darwin Core Archive for OBIS/GBIF needs a title, a creator and a licence they accept."""
    missing = [f for f, v in (("--title", title), ("--creator", creator), ("--licence", licence)) if not v.strip()]
    if missing:
        raise DataError(f"a Darwin Core Archive needs {', '.join(missing)} for its eml.xml (dataset title, creator "
                        f"'Given Surname', licence one of {', '.join(LICENCES)}); or write a .csv to check the table first.")
    check_licence(licence)


def check_licence(licence: str) -> None:
    if licence and licence not in LICENCES:
        raise DataError(f"--licence {licence}: OBIS and GBIF accept {', '.join(LICENCES)}.{closest(licence, list(LICENCES))}")


def model_identity(predictions: Any, model: str = "") -> str:
    """Which model made the predictions, for identificationRemarks: its architecture and the SHA-256
    of its weights, read from the record beside the predictions file and from its run's run.json."""
    from benthos.runs.shards import read_record

    record = read_record(predictions) if predictions is not None else None
    record = record or {}
    arch = record.get("architecture") or record.get("detector")
    run = record.get("run")
    if not arch and run:
        try:
            meta = json.loads((Path(run) / "run.json").read_text(encoding="utf-8"))
            arch = meta.get("architecture") or meta.get("detector")
        except (OSError, ValueError, AttributeError):
            pass
    name = model or arch or "not recorded"
    parts = [f"model {name}"]
    if model and arch and model != arch:
        parts[0] += f" ({arch})"
    sha = record.get("weights_sha256")
    parts.append(f"weights sha256 {sha}" if sha else "weights checksum not recorded")
    return ", ".join(parts)


def media_mapper(preds: Predictions, base: Any = None, url: str | None = None) -> tuple[Callable[[str], str], str | None]:
    """How each photo is named in associatedMedia: relative to ``base``, or under the published
    ``url`` (relative to ``base``, else to the photos' shared folder). Never a local absolute path:
    without either, associatedMedia stays empty, and the second value says so."""
    from benthos.ecology.predictions import short_names

    if base is None and not url:
        return (lambda image: ""), ("associatedMedia left empty: local paths mean nothing to OBIS or GBIF; pass "
                                    "--media-url URL (where the photos are published) or --media-base DIR (paths "
                                    "relative to DIR)")
    rel: dict[str, str] = {}
    if base is not None:
        root = Path(os.path.abspath(base))
        for i, image in enumerate(dict.fromkeys(preds.images)):
            p = Path(os.path.abspath(image))
            try:
                rel[image] = p.relative_to(root).as_posix()
            except ValueError:
                raise DataError(f"{preds.where(preds.images.index(image))}: photo {image} is not under --media-base {base}; "
                                "give the folder that holds every photo.") from None
    else:
        images = list(dict.fromkeys(preds.images))
        rel = dict(zip(images, (Path(n).as_posix() for n in short_names([os.path.abspath(i) for i in images]))))
        for image, name in rel.items():
            if Path(name).is_absolute():  # one photo, or nothing shared: keep the file name only
                rel[image] = Path(name).name
    if url:
        prefix = url.rstrip("/") + "/"
        return (lambda image: prefix + quote(rel[image])), None
    return (lambda image: rel[image]), None


def occurrences(preds: Predictions, events: list[str], taxonomy: Taxonomy | None = None,
                metadata: dict[str, dict[str, str]] | None = None, model: str = "model not recorded",
                min_score: float = 0.0, exclude: tuple[str, ...] = (), keep: np.ndarray | None = None,
                media: Callable[[str], str] | None = None, licence: str = "") -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """One occurrence row per taxon per event (image, station, ...), the column list, and notes:
    ``unnamed`` (labels exported without a scientificName: no taxonomy names them) and ``warnings``.

    scientificName comes only from ``taxonomy``; a label without a name there goes to
    verbatimIdentification. Labels the taxonomy marks as non-taxa (no ranks) and ``exclude``
    are left out. ``model``: the identificationRemarks' description of the model; ``keep``:
    the rows counted (:mod:`benthos.ecology.threshold`).
    """
    if taxonomy is not None:
        taxonomy.check_labels(preds.classes if preds.kind != "detection" else sorted(set(preds.labels) | set(taxonomy.labels)),
                              "the predictions' classes")
    check_licence(licence)
    event_cols = sorted({k for m in (metadata or {}).values() for k in m if k in EVENT_TERMS}, key=EVENT_TERMS.index)
    columns = CORE + event_cols + (["license"] if licence else [])
    keep = np.ones(len(preds), bool) if keep is None else np.asarray(keep, bool)
    by_event: dict[str, dict[str, list[int]]] = {}
    images_of: dict[str, list[str]] = {}
    for i, (ev, lb, s) in enumerate(zip(events, preds.labels, preds.scores)):
        if not keep[i] or s < min_score or lb in exclude or (taxonomy is not None and not taxonomy.is_taxon(lb)):
            continue  # substrate and other non-taxa are not occurrences
        by_event.setdefault(ev, {}).setdefault(lb, []).append(i)
        images_of.setdefault(ev, [])
        if preds.images[i] not in images_of[ev]:
            images_of[ev].append(preds.images[i])
    points = preds.kind == "points"
    points_per_image: dict[str, int] = {}
    if points:
        for im in preds.images:
            points_per_image[im] = points_per_image.get(im, 0) + 1
    rows = []
    unnamed: dict[str, None] = {}
    for ev, taxa in by_event.items():
        ev_fields = _event_fields(ev, images_of[ev], metadata, event_cols) if metadata else {}
        for lb, idx in taxa.items():
            sc = preds.scores[idx]
            name = taxonomy.name_of(lb) if taxonomy else None
            if not name:
                unnamed[lb] = None
            r: dict[str, Any] = {
                "occurrenceID": f"{ev}:{lb}", "eventID": ev, "basisOfRecord": "MachineObservation",
                "occurrenceStatus": "present",
                "scientificName": name or "",
                "verbatimIdentification": lb,
                "taxonRank": (taxonomy.rank_of(lb) if taxonomy else None) or "",
                # a machine identification that no expert has checked yet
                "identificationVerificationStatus": "unverified",
                "identificationRemarks": f"{model}; benthos {__version__}; {len(idx)} {'points' if points else 'predictions'}, "
                                         f"mean score {float(np.mean(sc)):.3f}, min score {float(np.min(sc)):.3f}",
                "associatedMedia": " | ".join(m for m in (media(im) for im in images_of[ev]) if m) if media else "",
            }
            if taxonomy:
                r.update({h: taxonomy.ancestor(lb, h) or "" for h in HIGHER if h in taxonomy.ranks})
            if points:
                total = sum(points_per_image[im] for im in images_of[ev])
                # points are not individuals: cover goes in organismQuantity, individualCount stays empty
                r.update(organismQuantity=f"{100.0 * len(idx) / total:.2f}", organismQuantityType="% cover (point count)")
            else:
                r["individualCount"] = len(idx)
            if licence:
                r["license"] = LICENCES[licence][0]
            r.update(ev_fields)
            rows.append(r)
    return rows, columns, {"unnamed": sorted(unnamed), "warnings": _absent(rows, metadata is not None)}


def _absent(rows: list[dict[str, Any]], have_metadata: bool) -> list[str]:
    """Warnings for occurrences without a date or a place (OBIS requires both)."""
    out = []
    for what, cols in (("eventDate", ("eventDate",)), ("coordinates", ("decimalLatitude", "decimalLongitude"))):
        missing = sum(1 for r in rows if not all(r.get(c) for c in cols))
        if not missing:
            continue
        how = ("give --metadata with an 'image' column and " if not have_metadata else "fill ") + \
            (", ".join(cols) + " (ISO 8601)" if what == "eventDate" else " and ".join(cols) + " (decimal degrees, WGS84)")
        out.append(f"{missing} of {len(rows)} occurrences have no {what}" + (" (their images disagree or have none)"
                   if have_metadata else "") + f": OBIS requires it; {how}")
    return out


def _event_fields(event: str, images: list[str], metadata: dict[str, dict[str, str]], cols: list[str]) -> dict[str, str]:
    values: dict[str, set[str]] = {c: set() for c in cols}
    for im in images:
        row = lookup_metadata(metadata, im)
        if row is None:
            raise DataError(f"image '{im}' (event '{event}') is not in the metadata CSV; add a row for it.")
        for c in cols:
            if row.get(c):
                values[c].add(row[c])
    # an event field is only filled when all its images agree on it
    return {c: next(iter(v)) for c, v in values.items() if len(v) == 1}


def write_occurrences(path: str | os.PathLike, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    """Darwin Core occurrence CSV."""
    return atomic_write_text(path, to_csv_text(rows, columns))


def _tsv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    clean = lambda v: "" if v is None else str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")  # noqa: E731
    return "\n".join(["\t".join(columns)] + ["\t".join(clean(r.get(c, "")) for c in columns) for r in rows]) + "\n"


def meta_xml(columns: list[str]) -> str:
    """meta.xml describing occurrence.txt (tab separated, header line, id = occurrenceID)."""
    fields = "\n".join(f'    <field index="{i}" term="{term_uri(c)}"/>' for i, c in enumerate(columns))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        f'  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" '
        f'rowType="{DWC}Occurrence">\n'
        "    <files><location>occurrence.txt</location></files>\n"
        '    <id index="0"/>\n'
        f"{fields}\n  </core>\n</archive>\n"
    )


def _person(name: str) -> str:
    given, _, sur = name.strip().rpartition(" ")
    inner = (f"<givenName>{escape(given)}</givenName>" if given else "") + f"<surName>{escape(sur)}</surName>"
    return f"<individualName>{inner}</individualName>"


def eml_xml(title: str, creator: str = "", abstract: str = "", licence: str = "") -> str:
    """EML 2.1.1 dataset metadata as the GBIF IPT writes it: title, creator, licence, abstract."""
    today = _dt.date.today().isoformat()
    rights = ""
    if licence:
        url, words = LICENCES[licence]
        rights = (f'    <intellectualRights><para>This work is licensed under a <ulink url="{url}"><citetitle>{escape(words)}'
                  "</citetitle></ulink>.</para></intellectualRights>\n")
    who = _person(creator) if creator.strip() else "<organizationName>not given</organizationName>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1" packageId="benthos-export" system="benthos" '
        'scope="system" xml:lang="en">\n'
        f"  <dataset>\n    <title>{escape(title)}</title>\n"
        f"    <creator>{who}</creator>\n"
        f"    <pubDate>{today}</pubDate>\n"
        f"    <abstract><para>{escape(abstract or 'Occurrences identified by a benthos machine-learning model; identifications are unverified.')}</para></abstract>\n"
        f"{rights}"
        f"    <contact>{who}</contact>\n"
        "  </dataset>\n</eml:eml>\n"
    )


def write_archive(path: str | os.PathLike, rows: list[dict[str, Any]], columns: list[str], title: str = "benthos occurrences",
                  creator: str = "", licence: str = "") -> Path:
    """Darwin Core Archive: occurrence.txt + meta.xml + eml.xml in one zip."""
    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("occurrence.txt", _tsv(rows, columns))
            z.writestr("meta.xml", meta_xml(columns))
            z.writestr("eml.xml", eml_xml(title, creator, licence=licence))

    return atomic_write(path, write)
