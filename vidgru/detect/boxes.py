"""Box post-processing shared by every detector: score threshold, class selection, minimum box size and
class-wise non-maximum suppression. Boxes are (N, 4) float32 pixel corners (x1, y1, x2, y2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidgru.errors import DetectorError
from vidgru.types import Detections

# Per detector kind (the part of the spec before ":"). Low on purpose (see :mod:`vidgru.detect`); ``None`` keeps
# every box (a det.txt's scores may be on any scale, e.g. DPM's).
DEFAULT_SCORE_THRESHOLDS: dict[str, float | None] = {
    "torchvision": 0.1,
    "onnx": 0.1,
    "bgsub": 0.0,
    "file": None,
}


def filter_detections(
    detections: Detections,
    *,
    score_threshold: float | None = None,
    class_ids: Sequence[int] | np.ndarray | None = None,
    min_box_size: float = 0.0,
) -> Detections:
    """Keep the boxes with ``score >= score_threshold``, a class id in ``class_ids`` and ``min(width, height) >=
    min_box_size`` pixels. ``None``/``0`` disables a test. Returns a new record (the input is not changed).

    Every detector applies its settings through this one function.
    """
    keep = np.ones(len(detections), bool)
    if score_threshold is not None:
        keep &= detections.scores >= score_threshold
    if class_ids is not None:
        keep &= np.isin(detections.class_ids, np.asarray(class_ids, np.int64))
    if min_box_size > 0:
        wh = detections.xyxy[:, 2:4] - detections.xyxy[:, 0:2]  # (N, 2)
        keep &= wh.min(axis=1) >= min_box_size
    return detections if keep.all() else detections[keep]


@dataclass(frozen=True)
class BoxFilter:
    """A detector's box filter settings, validated once (see :func:`filter_detections`)."""

    score_threshold: float | None = None
    class_ids: tuple[int, ...] | None = None
    min_box_size: float = 0.0

    def __call__(self, detections: Detections) -> Detections:
        return filter_detections(detections, score_threshold=self.score_threshold, class_ids=self.class_ids,
                                 min_box_size=self.min_box_size)


def make_box_filter(
    where: str,
    kind: str,
    class_names: Sequence[str],
    *,
    classes: Sequence[str] | None,
    score_threshold: float | None,
    min_box_size: float,
    ignore_names: Sequence[str] = (),
) -> BoxFilter:
    """Check the filter settings of the detector ``where`` (of ``kind``, a key of
    :data:`DEFAULT_SCORE_THRESHOLDS`) and turn class names into ids. ``ignore_names`` are placeholder categories
    that cannot be asked for (torchvision's ``__background__`` and ``N/A``).

    Raises:
        DetectorError: an unknown class name (the message lists the valid ones), classes for a class-less
            detector, or a negative/non-finite number.
    """
    threshold = DEFAULT_SCORE_THRESHOLDS[kind] if score_threshold is None else float(score_threshold)
    if threshold is not None and not math.isfinite(threshold):
        raise DetectorError(f"{where}: score_threshold must be a finite number, got {score_threshold}")
    if not (math.isfinite(min_box_size) and min_box_size >= 0):
        raise DetectorError(f"{where}: min_box_size must be >= 0 pixels, got {min_box_size}")
    class_ids = None
    if classes is not None:
        wanted = [classes] if isinstance(classes, str) else list(classes)
        if not class_names:
            raise DetectorError(f"{where}: this detector has no classes, so classes={wanted} cannot select any; "
                                "leave classes unset")
        if not wanted:
            raise DetectorError(f"{where}: classes is an empty list; leave it unset to keep every class")
        index = {name: i for i, name in enumerate(class_names) if name not in ignore_names}
        unknown = [name for name in wanted if name not in index]
        if unknown:
            raise DetectorError(f"{where}: unknown class {unknown[0]!r}; valid classes: {', '.join(index)}")
        class_ids = tuple(sorted({index[name] for name in wanted}))
    return BoxFilter(threshold, class_ids, float(min_box_size))


def classwise_nms(
    xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, *, iou_threshold: float, max_detections: int
) -> np.ndarray:
    """Non-maximum suppression within each class: of two boxes of one class overlapping by more than
    ``iou_threshold`` IoU, the lower-scoring one goes.

    Args:
        xyxy: (K, 4) boxes, pixel corners.
        scores: (K,) float scores.
        class_ids: (K,) integer class ids.
        iou_threshold: in (0, 1].
        max_detections: keep at most this many boxes.

    Returns:
        (M,) int64 indices of the kept boxes, best score first (stable for ties), M <= ``max_detections``.
    """
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)  # (K, 4)
    keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float32), class_ids.astype(np.int32), 0.0,
                                              iou_threshold), dtype=np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")][:max_detections]


def check_batch_size(where: str, batch_size: int) -> int:
    """``batch_size`` as an int, or :class:`DetectorError` when it is below 1."""
    if int(batch_size) < 1:
        raise DetectorError(f"{where}: batch_size must be >= 1, got {batch_size}")
    return int(batch_size)
