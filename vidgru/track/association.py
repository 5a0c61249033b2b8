"""Matching tracks to detections: IoU matrices and a thresholded Hungarian assignment.

Boxes are (N, 4) float pixel corners (x1, y1, x2, y2). Everything here is vectorised and allocation-light,
because it runs once or twice per frame for every frame of a video.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M) float."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).T  # (4, M): rows broadcast against columns
    iw = np.minimum(a[:, 2:3], b[2]) - np.maximum(a[:, 0:1], b[0])
    ih = np.minimum(a[:, 3:4], b[3]) - np.maximum(a[:, 1:2], b[1])
    np.maximum(iw, 0, out=iw)
    np.maximum(ih, 0, out=ih)
    inter = iw * ih
    area_a = (a[:, 2:3] - a[:, 0:1]) * (a[:, 3:4] - a[:, 1:2])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    return inter / np.maximum(union, 1e-9)


def assign(similarity: np.ndarray, min_similarity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-total-similarity one-to-one assignment of rows to columns (Hungarian, via scipy).

    Pairs below ``min_similarity`` are not matched. Returns ``(matches (K, 2) int, unmatched_rows,
    unmatched_cols)``; ``similarity`` is not modified.
    """
    n, m = similarity.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(n), np.arange(m)
    # Pairs that could never be accepted are priced out, so they cannot displace an acceptable pair.
    cost = np.where(similarity >= min_similarity, -similarity, 1e6)
    rows, cols = linear_sum_assignment(cost)
    keep = similarity[rows, cols] >= min_similarity
    rows, cols = rows[keep], cols[keep]
    free_rows = np.ones(n, dtype=bool)
    free_rows[rows] = False
    free_cols = np.ones(m, dtype=bool)
    free_cols[cols] = False
    # (nonzero()[0] rather than np.flatnonzero: this runs several times per frame and the wrapper costs more.)
    return np.column_stack((rows, cols)), free_rows.nonzero()[0], free_cols.nonzero()[0]
