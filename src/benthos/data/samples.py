"""The two plain data classes every classification reader returns."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benthos.data.issues import DataIssue, summarise_issues

Box = tuple[float, float, float, float]


@dataclass
class Sample:
    """One labelled image, or one region (``box``) of an image, to classify."""

    path: Path                      # image file
    label: str                      # class name
    group: str | None = None        # split key: samples sharing it stay on one side of a split
    box: Box | None = None          # (x0, y0, x1, y1) pixels to cut; may extend past the image
    meta: dict = field(default_factory=dict)  # e.g. {"row": 120, "column": 300, "line": 7}

    def to_dict(self) -> dict:
        return {"path": str(self.path), "label": self.label, "group": self.group,
                "box": list(self.box) if self.box is not None else None, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> "Sample":
        box = d.get("box")
        return cls(Path(d["path"]), d["label"], d.get("group"),
                   tuple(float(v) for v in box) if box is not None else None, dict(d.get("meta") or {}))

    @classmethod
    def example(cls) -> "Sample":
        """A sample for tests and docs (the file need not exist)."""
        return cls(Path("reef/IMG_0001.jpg"), "starfish", "IMG_0001", (10.0, 20.0, 110.0, 120.0), {"ann": 1})


@dataclass
class ClassificationData:
    """What :func:`benthos.data.load_classification` returns."""

    samples: list[Sample]
    classes: list[str]                       # sorted class names
    issues: list[DataIssue] = field(default_factory=list)
    source: str = "folder"                   # "folder" | "csv" | "coco" | "coralnet"
    added: int = 0                           # the last `added` samples are for training only (`train --add`)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def counts(self) -> dict[str, int]:
        """Samples per class, in class order (zero for classes with none)."""
        c = Counter(s.label for s in self.samples)
        return {name: c.get(name, 0) for name in self.classes}

    def labels(self) -> list[int]:
        idx = self.class_to_idx
        return [idx[s.label] for s in self.samples]

    def subset(self, indices: list[int]) -> list[Sample]:
        return [self.samples[i] for i in indices]

    def unit(self) -> str:
        """What a sample is, for messages: "patches" when they are cut from photos (boxes, points),
        followed by how many photos; else "images"."""
        if any(s.box is not None for s in self.samples):
            n = len({s.path for s in self.samples})
            return f"patches (cut from {n} photo{'s' if n != 1 else ''})"
        return "images"

    def summary(self) -> str:
        """One paragraph: sizes, per-class counts and the issues found."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        lines = [f"{len(self.samples)} samples in {len(self.classes)} classes ({self.source}): {counts}",
                 summarise_issues(self.issues)]
        lines += [f"  {i}" for i in self.issues[:10]]
        if len(self.issues) > 10:
            lines.append(f"  ... and {len(self.issues) - 10} more (see .issues)")
        return "\n".join(lines)
