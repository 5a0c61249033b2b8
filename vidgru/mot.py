"""MOTChallenge sequences: ``seqinfo.ini``, ``det/det.txt``, ``gt/gt.txt`` and the image folder.

A sequence folder looks like this (MOT15, MOT16/17, MOT20 all share it)::

    TUD-Campus/
      seqinfo.ini     [Sequence] name, frameRate, seqLength, imWidth, imHeight, imDir, imExt
      det/det.txt     frame,-1,x,y,w,h,score,-1,-1,-1        (public detections)
      gt/gt.txt       frame,id,x,y,w,h,flag,class,visibility (MOT16/17)  or
                      frame,id,x,y,w,h,flag,wx,wy,wz         (MOT15: world coordinates, no class)
      img1/000001.jpg ...

Frames in the text files are 1-based; boxes are top-left x, y and width, height in pixels (vidgru's own frame
indices are 0-based). Detections from det.txt are read by :func:`vidgru.detect.read_mot_detections`.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidgru.errors import DatasetError

SEQINFO = "seqinfo.ini"


@dataclass(frozen=True)
class MotSequence:
    """One MOTChallenge sequence folder.

    ``fps`` is frames per second; ``length`` the number of frames (``seqLength``; ``None`` when neither
    seqinfo.ini, images nor annotation files say); ``width``/``height`` the image size in pixels (``None``
    when unknown). ``det_path``, ``gt_path`` and ``image_dir`` are ``None`` when the folder lacks them (MOT15
    here has no images). ``image_ext`` is the image suffix with its dot (``".jpg"``).
    """

    name: str
    path: Path
    fps: float
    length: int | None
    width: int | None
    height: int | None
    image_dir: Path | None
    image_ext: str
    det_path: Path | None
    gt_path: Path | None

    @property
    def duration_s(self) -> float | None:
        return self.length / self.fps if self.length is not None else None


def is_mot_sequence(path: str | Path) -> bool:
    """True for a folder holding ``seqinfo.ini``, ``det/det.txt`` or ``gt/gt.txt``."""
    path = Path(path)
    return path.is_dir() and any(
        (path / rel).is_file() for rel in (SEQINFO, "det/det.txt", "gt/gt.txt"))


def open_mot_sequence(path: str | Path, *, fps: float | None = None) -> MotSequence:
    """Describe the MOTChallenge sequence in folder ``path``.

    ``fps`` overrides ``frameRate`` from seqinfo.ini and is required for a folder without one. The image
    folder is ``imDir`` from seqinfo.ini when it exists, else ``img1/``, else a folder named like the
    sequence (how ``mot17_mini`` ships its frames), else ``None``.

    Raises:
        DatasetError: ``path`` is not a sequence folder, seqinfo.ini is malformed (the message names the file
            and key), or the frame rate is unknown.

    Example::

        seq = open_mot_sequence("mot15/train/TUD-Campus")
        seq.fps, seq.length, seq.det_path   # 25.0, 71, .../det/det.txt
    """
    path = Path(path)
    if not is_mot_sequence(path):
        raise DatasetError(
            f"{path} is not a MOTChallenge sequence (expected {SEQINFO}, det/det.txt or gt/gt.txt in it)")
    if fps is not None and not fps > 0:
        raise DatasetError(f"fps must be positive, got {fps}")
    det_path = path / "det" / "det.txt"
    gt_path = path / "gt" / "gt.txt"
    det_path = det_path if det_path.is_file() else None
    gt_path = gt_path if gt_path.is_file() else None

    info = _read_seqinfo(path / SEQINFO) if (path / SEQINFO).is_file() else {}
    name = info.get("name") or path.name
    if fps is None:
        if "frameRate" not in info:
            where = f"{path / SEQINFO} has no 'frameRate'" if info else f"{path} has no {SEQINFO}"
            raise DatasetError(f"{where}: pass the frame rate (fps) of sequence {name}")
        fps = info["frameRate"]
    image_ext = info.get("imExt", ".jpg")
    image_dir = _find_image_dir(path, name, info.get("imDir"))

    length, width, height = info.get("seqLength"), info.get("imWidth"), info.get("imHeight")
    images = sorted(image_dir.glob(f"*{image_ext}")) if image_dir is not None else []
    if length is None:
        if images:
            length = len(images)
        else:
            last = [int(read_mot_txt(p)[:, 0].max(initial=0)) for p in (det_path, gt_path) if p is not None]
            length = max(last, default=0) or None
    if (width is None or height is None) and images:
        from vidgru.video.images import read_image

        first = read_image(images[0])
        if first is not None:
            height, width = first.shape[:2]
    return MotSequence(name=name, path=path, fps=float(fps), length=length, width=width, height=height,
                       image_dir=image_dir, image_ext=image_ext, det_path=det_path, gt_path=gt_path)


def find_mot_sequences(root: str | Path, *, fps: float | None = None) -> list[MotSequence]:
    """The sequences directly under a split folder such as ``MOT17/train``, sorted by name; ``root`` itself
    when it is a sequence. Other folders (e.g. ``results/``) are skipped; ``[]`` when there are none.

    Raises:
        DatasetError: ``root`` is not a folder, or a sequence in it is malformed.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    if is_mot_sequence(root):
        return [open_mot_sequence(root, fps=fps)]
    folders = sorted((p for p in root.iterdir() if is_mot_sequence(p)), key=lambda p: p.name)
    return [open_mot_sequence(p, fps=fps) for p in folders]


def gt_format(rows: np.ndarray) -> str:
    """How a gt.txt's rows (N, >=7) are laid out: ``"MOT17"`` when columns 8 and 9 look like class (whole numbers
    1-13) and visibility (0-1), as in MOT16/17/20 and DanceTrack; else ``"MOT15"`` (world coordinates or -1)."""
    if rows.ndim == 2 and rows.shape[1] >= 9 and len(rows):
        classes, visibility = rows[:, 7], rows[:, 8]
        if (np.all(classes == np.round(classes)) and classes.min() >= 1 and classes.max() <= 13
                and visibility.min() >= 0 and visibility.max() <= 1):
            return "MOT17"
    return "MOT15"


MOT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "score")


def read_mot_txt(path: str | Path, *, min_columns: int = 6, keep: int | None = None) -> np.ndarray:
    """All rows of a MOTChallenge text file (det.txt, gt.txt or a tracker's output) as (N, C) float64: the one
    reader of these files in vidgru.

    Comma- or whitespace-separated; blank lines are skipped; an empty file gives (0, ``min_columns``). Every row
    must have the same number of columns, unless ``keep`` is given: then only the first ``keep`` columns are
    read (det.txt files whose trailing columns vary). Values must be finite, frames whole numbers >= 1 and
    widths and heights >= 0.

    Raises:
        DatasetError: the file cannot be read, or a line is malformed (the message names the file and line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read MOTChallenge rows ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: cannot read MOTChallenge rows (not UTF-8 text)") from None
    lines = text.splitlines()
    numbers = [i for i, line in enumerate(lines, 1) if line.strip().rstrip(",")]  # 1-based, non-empty
    if not numbers:
        return np.zeros((0, keep or min_columns), np.float64)
    fields = [_fields(lines[i - 1]) for i in numbers]
    try:  # fast path: a rectangular table of numbers
        rows = np.array([f[:keep] if keep else f for f in fields], dtype=np.float64)
        ok = rows.ndim == 2 and rows.shape[1] >= min_columns and (keep is None or rows.shape[1] == keep)
    except ValueError:
        ok = False
    if not ok:
        rows = _parse_slowly(path, fields, numbers, min_columns, keep)
    bad = ~np.isfinite(rows).all(axis=1)
    bad |= (rows[:, 0] < 1) | (rows[:, 0] != np.round(rows[:, 0]))
    if rows.shape[1] >= 6:
        bad |= (rows[:, 4] < 0) | (rows[:, 5] < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(f"{path}:{numbers[i]}: expected frame >= 1 (integer), finite numbers and width, height "
                           f">= 0; got {lines[numbers[i] - 1].strip()[:80]!r}")
    return rows


def _fields(line: str) -> list[str]:
    line = line.strip().rstrip(",")
    return line.split(",") if "," in line else line.split()


def _parse_slowly(path: Path, fields: list[list[str]], numbers: list[int], min_columns: int, keep: int | None
                  ) -> np.ndarray:
    """Line by line, to say which line is malformed and how."""
    need = keep or min_columns
    width = None
    out = []
    for items, number in zip(fields, numbers):
        if len(items) < need:
            raise DatasetError(f"{path}:{number}: {len(items)} columns, expected at least {need} "
                               f"({','.join(MOT_COLUMNS[:need])},...)")
        items = items[:keep] if keep else items
        if width is not None and len(items) != width:
            raise DatasetError(f"{path}:{number}: {len(items)} columns, expected {width} like the lines before")
        width = len(items)
        row = []
        for col, item in enumerate(items):
            try:
                row.append(float(item))
            except ValueError:
                name = f" ({MOT_COLUMNS[col]})" if col < len(MOT_COLUMNS) else ""
                raise DatasetError(f"{path}:{number}: not a MOTChallenge row: column {col + 1}{name} is not a "
                                   f"number: {item.strip()[:40]!r}") from None
        out.append(row)
    return np.asarray(out, np.float64)


# [Sequence] keys vidgru reads -> their type; keys are matched case-insensitively. Numbers must be > 0.
_SEQINFO_KEYS = {
    "name": str,
    "frameRate": float,
    "seqLength": int,
    "imWidth": int,
    "imHeight": int,
    "imDir": str,
    "imExt": str,
}


def _read_seqinfo(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not a valid ini file ({str(e).splitlines()[0]})") from e
    if not parser.has_section("Sequence"):
        raise DatasetError(f"{path}: no [Sequence] section")
    section = parser["Sequence"]  # ConfigParser lower-cases keys, so frameRate == framerate
    info: dict = {}
    for key, kind in _SEQINFO_KEYS.items():
        raw = section.get(key)
        if raw is None or not raw.strip():
            continue
        raw = raw.strip()
        if kind is str:
            info[key] = raw
            continue
        try:
            value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise DatasetError(f"{path}: [Sequence] {key}={raw!r} is not a positive number")
        info[key] = value
    if "imExt" in info and not info["imExt"].startswith("."):
        info["imExt"] = "." + info["imExt"]
    return info


def _find_image_dir(path: Path, name: str, im_dir: str | None) -> Path | None:
    for candidate in (im_dir, "img1", name, path.name):
        if candidate and (path / candidate).is_dir():
            return path / candidate
    return None
