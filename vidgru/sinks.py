"""Writers for results: JSON Lines, CSV and annotated video.

Every file sink is a context manager that writes to a temporary name next to the target and renames it on
a clean close, so a crash or Ctrl-C never leaves a half-written file under the final name. ``-`` means
standard output for the text sinks (written through, line by line).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from vidgru.errors import VidgruError


class AtomicTextFile:
    """A text file written to ``<name>.partial`` and renamed to ``<name>`` by :meth:`commit`/clean exit.
    On an exception the partial file is removed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stdout = str(path) == "-"
        self._tmp = None if self._stdout else self.path.with_name(self.path.name + ".partial")
        self.handle: IO[str] | None = None

    def __enter__(self) -> AtomicTextFile:
        if self._stdout:
            self.handle = sys.stdout
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self._tmp, "w", newline="", encoding="utf-8")
        return self

    def write(self, text: str) -> None:
        self.handle.write(text)
        if self._stdout:
            self.handle.flush()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._stdout:
            self.handle.flush()
            return
        self.handle.close()
        if exc_type is None or issubclass(exc_type, (KeyboardInterrupt, VidgruError)):
            # Results finished before an interruption or a failing input are kept.
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


class JsonlSink(AtomicTextFile):
    """One JSON object per line."""

    def write_record(self, record: dict[str, Any]) -> None:
        self.write(json.dumps(record, ensure_ascii=False) + "\n")


class CsvSink(AtomicTextFile):
    """CSV rows with a fixed header."""

    def __init__(self, path: str | Path, header: list[str]) -> None:
        super().__init__(path)
        self.header = header

    def __enter__(self) -> CsvSink:
        super().__enter__()
        self.write_row(self.header)
        return self

    def write_row(self, row: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow(row)
        self.write(buf.getvalue())


CLASSIFY_CSV_HEADER = ["video", "kind", "start_s", "end_s", "label", "score"]


def classify_csv_rows(result) -> list[list[Any]]:
    """Rows of a :class:`~vidgru.types.ClipResult`: one ``clip`` row, then ``segment`` and ``window`` rows."""
    rows = [[result.video, "clip", 0.0, round(result.duration_s, 3), result.label, round(result.score, 6)]]
    rows += [[result.video, "segment", round(s.start_s, 3), round(s.end_s, 3), s.label, round(s.score, 6)]
             for s in result.segments]
    rows += [[result.video, "window", round(w.start_s, 3), round(w.end_s, 3), w.label, round(w.score, 6)]
             for w in result.windows]
    return rows


class VideoSink:
    """Writes RGB frames to an mp4 (MPEG-4 Part 2, ``mp4v``, which OpenCV's pip wheels always have).

    Frames are (H, W, 3) uint8 RGB, all the same size. The file appears under its final name on close.
    """

    def __init__(self, path: str | Path, fps: float, *, fourcc: str = "mp4v") -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.fourcc = fourcc
        self._tmp = self.path.with_name(self.path.stem + ".partial" + self.path.suffix)
        self._writer: cv2.VideoWriter | None = None
        self.frames_written = 0

    def __enter__(self) -> VideoSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise VidgruError(f"cannot write video {self.path}: OpenCV has no {self.fourcc} encoder")
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is not None:
            self._writer.release()
        if self.frames_written and (exc_type is None or issubclass(exc_type, (KeyboardInterrupt, VidgruError))):
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def draw_label(image: np.ndarray, text: str, *, progress: float | None = None, color=(255, 255, 255)) -> np.ndarray:
    """Return a copy of ``image`` (H, W, 3) uint8 RGB with ``text`` in a dark banner at the top and, when
    ``progress`` in [0, 1] is given, a thin position bar at the bottom."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 600)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(4, th // 3)
    cv2.rectangle(out, (0, 0), (min(w, tw + 2 * pad), th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(out, text, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
    if progress is not None:
        bar = max(2, h // 100)
        cv2.rectangle(out, (0, h - bar), (int(w * min(max(progress, 0.0), 1.0)), h), (255, 200, 0), -1)
    return out
