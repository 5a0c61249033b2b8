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


def box_likelihood(predicted: np.ndarray, spread: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """How well each box in ``boxes`` (M, 4) xyxy fits each predicted box (N, 4) xyxy given the prediction's
    error scale ``spread`` (N, 4): Laplace scales of the centre shift (in box widths / heights) and of the log
    size ratios. Returns (N, M) in (0, 1]: exp(-mean |error| / scale), 1 for a perfect fit; a fit too poor to
    tell from none gives the smallest positive float, not 0. Sides are taken as at least 1e-6 pixel, so a
    prediction that has shrunk to a line or a point still gives numbers.
    """
    if len(predicted) == 0 or len(boxes) == 0:
        return np.zeros((len(predicted), len(boxes)), dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)[:, None, :]
    return fit_likelihood(p, np.asarray(spread, dtype=np.float64)[:, None, :],
                          np.asarray(boxes, dtype=np.float64)[None, :, :])


def fit_likelihood(predicted: np.ndarray, spread: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """:func:`box_likelihood` pair by pair: ``predicted``, ``spread`` and ``boxes`` (..., 4) broadcast against
    each other -> (...)."""
    p, b = predicted, boxes
    pw = np.maximum(p[..., 2] - p[..., 0], _MIN_SIDE)
    ph = np.maximum(p[..., 3] - p[..., 1], _MIN_SIDE)
    bw, bh = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    inv = 1.0 / np.maximum(spread, 1e-3)
    err = np.abs((b[..., 0] + b[..., 2] - p[..., 0] - p[..., 2]) * 0.5 / pw) * inv[..., 0]
    err += np.abs((b[..., 1] + b[..., 3] - p[..., 1] - p[..., 3]) * 0.5 / ph) * inv[..., 1]
    err += np.abs(np.log(np.maximum(bw, _MIN_SIDE) / pw)) * inv[..., 2]
    err += np.abs(np.log(np.maximum(bh, _MIN_SIDE) / ph)) * inv[..., 3]
    return np.maximum(np.exp(-0.25 * err), _TINY)  # exp underflows to 0 for errors past ~3000 scales


_MIN_SIDE = 1e-6  # pixels: the smallest box side box_likelihood divides by or takes the log of
_TINY = np.finfo(np.float64).tiny


def blend_motion(similarity: np.ndarray, likelihood: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * similarity + weight * likelihood`` where the pair overlaps (``similarity > 0``), else 0: the
    state model's likelihood sets a well-placed box apart from an equally overlapping one, but never matches
    across space on its own. New array; inputs unchanged."""
    return np.where(similarity > 0, (1 - weight) * similarity + weight * likelihood, 0.0)


def fuse_appearance(similarity: np.ndarray, iou: np.ndarray, track_features: np.ndarray, features: np.ndarray, *,
                    weight: float, gate: float) -> np.ndarray:
    """Blend motion ``similarity`` (N, M) with the cosine similarity of L2-normalised appearance embeddings
    (N, D) tracks x (M, D) detections: ``weight`` of appearance, only where the boxes overlap; a pair farther
    apart than ``gate`` in cosine distance is halved instead. Pairs where either side has no embedding (all
    zeros) keep ``similarity``. New array; inputs unchanged."""
    cos_dist = 1.0 - track_features @ features.T
    fused = (1 - weight) * similarity + weight * (1.0 - cos_dist)
    fused = np.where(iou > 0, fused, 0.0)  # appearance never matches across space on its own here
    fused = np.where(cos_dist > gate, np.minimum(similarity, fused) * 0.5, fused)
    known = np.any(track_features != 0, axis=1)[:, None] & np.any(features != 0, axis=1)[None, :]
    return np.where(known, fused, similarity)


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
