"""Darwin Core export for OBIS/GBIF: occurrence CSV and a Darwin Core Archive (zip with meta.xml)."""
from __future__ import annotations

import datetime as _dt
import os
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from benthos import __version__
from benthos.errors import DataError
from benthos.ecology._io import to_csv_text
from benthos.ecology.predictions import Predictions, lookup_metadata
from benthos.ecology.taxonomy import Taxonomy
from benthos.runs.atomic import atomic_write, atomic_write_text

DWC = "http://rs.tdwg.org/dwc/terms/"
# event terms copied from the image metadata CSV when present (same name as the DwC term)
EVENT_TERMS = ["parentEventID", "eventDate", "eventTime", "samplingProtocol", "samplingEffort", "habitat", "fieldNumber",
               "locationID", "waterBody", "country", "countryCode", "locality", "decimalLatitude", "decimalLongitude",
               "geodeticDatum", "coordinateUncertaintyInMeters", "footprintWKT", "minimumDepthInMeters",
               "maximumDepthInMeters", "recordedBy", "datasetName", "institutionCode"]
HIGHER = ["kingdom", "phylum", "class", "order", "family", "genus"]
CORE = ["occurrenceID", "eventID", "basisOfRecord", "occurrenceStatus", "scientificName", "taxonRank", *HIGHER,
        "individualCount", "organismQuantity", "organismQuantityType", "identificationVerificationStatus",
        "identificationRemarks", "associatedMedia"]


def occurrences(preds: Predictions, events: list[str], taxonomy: Taxonomy | None = None,
                metadata: dict[str, dict[str, str]] | None = None, model: str = "benthos classifier",
                min_score: float = 0.0, exclude: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """One occurrence row per taxon per event (image, station, ...) and the column list."""
    if taxonomy is not None:
        taxonomy.check_labels(preds.classes if preds.kind != "detection" else sorted(set(preds.labels) | set(taxonomy.labels)),
                              "the predictions' classes")
    event_cols = sorted({k for m in (metadata or {}).values() for k in m if k in EVENT_TERMS}, key=EVENT_TERMS.index)
    columns = CORE + event_cols
    by_event: dict[str, dict[str, list[int]]] = {}
    images_of: dict[str, list[str]] = {}
    for i, (ev, lb, s) in enumerate(zip(events, preds.labels, preds.scores)):
        if s < min_score or lb in exclude or (taxonomy is not None and not taxonomy.is_taxon(lb)):
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
    for ev, taxa in by_event.items():
        ev_fields = _event_fields(ev, images_of[ev], metadata, event_cols) if metadata else {}
        for lb, idx in taxa.items():
            sc = preds.scores[idx]
            r: dict[str, Any] = {
                "occurrenceID": f"{ev}:{lb}", "eventID": ev, "basisOfRecord": "MachineObservation",
                "occurrenceStatus": "present",
                "scientificName": (taxonomy.name_of(lb) if taxonomy else None) or lb,
                "taxonRank": (taxonomy.rank_of(lb) if taxonomy else None) or "",
                # a machine identification that no expert has checked yet
                "identificationVerificationStatus": "unverified",
                "identificationRemarks": f"model={model}; benthos {__version__}; n={len(idx)}; mean score={float(np.mean(sc)):.3f}; "
                                         f"min score={float(np.min(sc)):.3f}",
                "associatedMedia": " | ".join(images_of[ev]) if len(images_of[ev]) <= 5 else "",
            }
            if taxonomy:
                r.update({h: taxonomy.ancestor(lb, h) or "" for h in HIGHER if h in taxonomy.ranks})
            if points:
                total = sum(points_per_image[im] for im in images_of[ev])
                # points are not individuals: cover goes in organismQuantity, individualCount stays empty
                r.update(organismQuantity=f"{100.0 * len(idx) / total:.2f}", organismQuantityType="% cover (point count)")
            else:
                r["individualCount"] = len(idx)
            r.update(ev_fields)
            rows.append(r)
    return rows, columns


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
    fields = "\n".join(f'    <field index="{i}" term="{DWC}{c}"/>' for i, c in enumerate(columns))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        f'  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" ignoreHeaderLines="1" '
        f'rowType="{DWC}Occurrence">\n'
        "    <files><location>occurrence.txt</location></files>\n"
        '    <id index="0"/>\n'
        f"{fields}\n  </core>\n</archive>\n"
    )


def eml_xml(title: str, creator: str = "", abstract: str = "") -> str:
    """Minimal EML 2.1.1 dataset metadata (edit it before publishing)."""
    today = _dt.date.today().isoformat()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1" packageId="benthos-export" system="benthos" '
        'scope="system" xml:lang="en">\n'
        f"  <dataset>\n    <title>{escape(title)}</title>\n"
        f"    <creator><organizationName>{escape(creator or 'unknown')}</organizationName></creator>\n"
        f"    <pubDate>{today}</pubDate>\n"
        f"    <abstract><para>{escape(abstract or 'Occurrences identified by a benthos machine-learning model; identifications are unverified.')}</para></abstract>\n"
        f"    <contact><organizationName>{escape(creator or 'unknown')}</organizationName></contact>\n"
        "  </dataset>\n</eml:eml>\n"
    )


def write_archive(path: str | os.PathLike, rows: list[dict[str, Any]], columns: list[str], title: str = "benthos occurrences",
                  creator: str = "") -> Path:
    """Darwin Core Archive: occurrence.txt + meta.xml + eml.xml in one zip."""
    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("occurrence.txt", _tsv(rows, columns))
            z.writestr("meta.xml", meta_xml(columns))
            z.writestr("eml.xml", eml_xml(title, creator))

    return atomic_write(path, write)



