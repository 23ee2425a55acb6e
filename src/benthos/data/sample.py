"""The bundled sample: public-aquarium photos (Roboflow "Aquarium Combined", CC BY 4.0).

See ``benthos/sample/aquarium/NOTICE.md`` for the attribution and what was changed.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from benthos.errors import DataError

SAMPLE_KINDS = {
    "aquarium": "",                     # the whole sample folder
    "crops": "crops",                   # crops/<class>/*.jpg, one folder per class
    "manifest": "crops/manifest.csv",   # path,label,group for a grouped split
    "detection": "detection",           # detection/images/*.jpg + annotations.json
    "coco": "detection/annotations.json",
}


def sample_path(kind: str = "crops") -> Path:
    """Where the installed sample lives: ``kind`` is one of crops, manifest, detection, coco, aquarium."""
    if kind not in SAMPLE_KINDS:
        raise DataError(f"unknown sample kind {kind!r}; use one of {', '.join(SAMPLE_KINDS)}.")
    root = resources.files("benthos") / "sample" / "aquarium"
    path = Path(str(root / SAMPLE_KINDS[kind])) if SAMPLE_KINDS[kind] else Path(str(root))
    if not path.exists():
        raise DataError(f"the bundled sample is missing ({path}); reinstall benthos, or rebuild it with "
                        "scripts/make_sample.py.")
    return path
