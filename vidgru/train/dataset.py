"""Labelled video data sets: a folder of class folders (UCF101 layout) or a CSV/TXT list of ``path,label``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidgru.errors import DatasetError, VideoOpenError
from vidgru.video import expand_inputs
from vidgru.video.inputs import glob_files, is_glob


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


def _read_list_text(path: Path) -> str:
    """A list file's text; DatasetError when it is binary, not UTF-8 or unreadable."""
    expected = "expected a CSV/TXT list of 'path,label' lines"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"data set {path}: cannot read ({exc.strerror or exc})") from None
    if b"\0" in raw:
        raise DatasetError(f"data set {path}: a binary file, {expected}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"data set {path}:{line}: not UTF-8 text (byte {exc.start}), {expected}") from None


def _clip_exists(clip: Path) -> bool:
    text = str(clip)
    return clip.exists() or (is_glob(text) and bool(glob_files(text)))


def _from_list(path: Path) -> list[Sample]:
    samples = []
    text = _read_list_text(path)
    first = text.split("\n", 1)[0]
    with io.StringIO(text, newline="") as f:
        dialect = "excel-tab" if "\t" in first else "excel"
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
            label = row[1].strip()
            if not label:
                raise DatasetError(f"{path}:{lineno}: empty label for {row[0].strip()!r}; expected 'path,label'")
            if not _clip_exists(clip):
                raise DatasetError(f"{path}:{lineno}: {clip}: no such file or directory")
            samples.append(Sample(str(clip), label))
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
    if len(data.class_names) < 2:
        raise DatasetError(f"need at least two classes to train, found {data.class_names}")
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
