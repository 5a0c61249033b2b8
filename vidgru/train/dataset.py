"""Labelled video data sets: a folder of class folders (UCF101 layout) or a CSV/TXT list of ``path,label``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidgru.errors import DatasetError, VideoOpenError
from vidgru.video import expand_inputs


@dataclass(frozen=True)
class Sample:
    """One labelled clip: a video file, an image folder or a glob."""

    path: str
    label: str


@dataclass(frozen=True)
class LabelledSet:
    samples: list[Sample]
    class_names: list[str]

    def indices(self) -> list[int]:
        lookup = {name: i for i, name in enumerate(self.class_names)}
        return [lookup[s.label] for s in self.samples]

    def counts(self) -> dict[str, int]:
        return {name: sum(s.label == name for s in self.samples) for name in self.class_names}


def _from_folder(root: Path) -> list[Sample]:
    samples = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            items = expand_inputs([class_dir])
        except VideoOpenError:
            continue  # an empty class folder: reported below if nothing at all is found
        samples.extend(Sample(item, class_dir.name) for item in items)
    return samples


def _from_list(path: Path) -> list[Sample]:
    samples = []
    with open(path, newline="") as f:
        dialect = "excel-tab" if "\t" in f.readline() else "excel"
        f.seek(0)
        for lineno, row in enumerate(csv.reader(f, dialect=dialect), 1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) == 1 and " " in row[0].strip():
                row = row[0].split()
            if lineno == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]:
                continue
            if len(row) < 2:
                raise DatasetError(f"{path}:{lineno}: expected 'path,label', got {','.join(row)!r}")
            clip = Path(row[0].strip()).expanduser()
            if not clip.is_absolute():
                clip = path.parent / clip
            samples.append(Sample(str(clip), row[1].strip()))
    return samples


def load_labelled_set(data: str | Path, class_names: list[str] | None = None) -> LabelledSet:
    """Read a data set. ``class_names`` fixes the label order (e.g. a trained model's); labels not in it raise.

    Raises:
        DatasetError: missing, empty, or a label unknown to ``class_names``.
    """
    root = Path(data).expanduser()
    if not root.exists():
        raise DatasetError(f"data set {data}: no such file or directory")
    samples = _from_folder(root) if root.is_dir() else _from_list(root)
    if not samples:
        raise DatasetError(
            f"data set {data}: no clips found; expected {data}/<class_name>/<video files> or a 'path,label' list"
        )
    names = sorted({s.label for s in samples}) if class_names is None else list(class_names)
    unknown = sorted({s.label for s in samples} - set(names))
    if unknown:
        raise DatasetError(f"data set {data}: labels {unknown} are not classes of the model ({', '.join(names)})")
    return LabelledSet(samples, names)


def stratified_split(data: LabelledSet, val_fraction: float, seed: int) -> tuple[LabelledSet, LabelledSet]:
    """Split each class separately so train and val keep the class balance; every class with at least two
    clips puts at least one in each part."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for name in data.class_names:
        members = [s for s in data.samples if s.label == name]
        order = rng.permutation(len(members))
        n_val = int(round(len(members) * val_fraction))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        else:
            n_val = 0
        val.extend(members[i] for i in order[:n_val])
        train.extend(members[i] for i in order[n_val:])
    if not val:
        raise DatasetError("validation split is empty: every class needs at least two clips (or pass --val-dir)")
    return LabelledSet(train, data.class_names), LabelledSet(val, data.class_names)
