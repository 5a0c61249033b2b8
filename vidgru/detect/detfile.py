"""Precomputed detections from MOTChallenge ``det.txt`` files: the reader, the sequence layout, the detector."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidgru.detect.boxes import make_box_filter
from vidgru.errors import DatasetError, DetectorError
from vidgru.types import Detections, Frame


def read_mot_detections(path: str | os.PathLike) -> dict[int, Detections]:
    """Read a MOTChallenge ``det.txt``: ``frame,id,x,y,w,h,score[,...]`` per line, 1-based frames, boxes as top-left
    corner and size in pixels. Columns after the seventh (MOT15's world coordinates, or -1) are ignored.

    Returns:
        0-based frame index (``Frame.index``, i.e. the file's frame - 1) -> that frame's detections, class-less
        (class ids -1), in file order. Frames without detections are absent.

    Raises:
        DetectorError: the file is missing, or a line is malformed (the message gives ``file:line``).
    """
    from vidgru.mot import read_mot_txt

    try:
        rows = read_mot_txt(path, min_columns=7, keep=7)
    except DatasetError as exc:
        raise DetectorError(str(exc)) from None
    frames = rows[:, 0].astype(np.int64) - 1
    order = np.argsort(frames, kind="stable")  # some det.txt files are not sorted by frame
    rows, frames = rows[order], frames[order]
    xyxy = np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], axis=1).astype(np.float32)  # (N, 4)
    scores = rows[:, 6].astype(np.float32)
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]]) if len(frames) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(frames)]
    return {
        int(frames[s]): Detections(xyxy[s:e], scores[s:e], np.full(e - s, -1, np.int64))
        for s, e in zip(starts, ends)
    }


def sequence_detections_path(sequence_dir: str | os.PathLike) -> Path:
    """The public detections of a MOTChallenge sequence folder: ``<sequence_dir>/det/det.txt``.

    Raises:
        DetectorError: the file does not exist.
    """
    path = Path(sequence_dir) / "det" / "det.txt"
    if not path.is_file():
        raise DetectorError(f"detector file: {path} does not exist (expected MOTChallenge layout "
                            "<sequence>/det/det.txt); pass the detections as file:PATH")
    return path


class FileDetector:
    """Precomputed detections from a MOTChallenge ``det.txt`` (see :func:`read_mot_detections`), all held in
    memory and looked up by ``Frame.index`` (0-based; the file's frame numbers are 1-based). Class-less.

    For tracking benchmarks without images, :meth:`at` gives a frame's detections by index alone.

    Raises:
        DetectorError: as :func:`read_mot_detections`, or a bad setting.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        score_threshold: float | None = None,
        min_box_size: float = 0.0,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.class_names: tuple[str, ...] = ()
        self.box_filter = make_box_filter(f"detector {self.name}", "file", (), classes=classes,
                                          score_threshold=score_threshold, min_box_size=min_box_size)
        self.detections: dict[int, Detections] = {
            index: self.box_filter(det) for index, det in read_mot_detections(self.path).items()
        }
        self.num_frames = max(self.detections, default=-1) + 1  # frames up to the last one with a detection

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def at(self, frame_index: int) -> Detections:
        """The detections of 0-based frame ``frame_index`` (empty when the file has none for it)."""
        det = self.detections.get(frame_index)
        return Detections.empty() if det is None else det

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Frames -> their detections from the file, by ``Frame.index``; the images are not looked at."""
        return [self.at(frame.index) for frame in frames]
