"""Box format conversions. xyxy = corners (x1, y1, x2, y2); cxcywh = centre, width, height. (N, 4) arrays."""

from __future__ import annotations

import numpy as np


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    out = np.empty_like(b)
    np.subtract(b[:, 2:4], b[:, 0:2], out=out[:, 2:4])
    np.add(b[:, 0:2], b[:, 2:4], out=out[:, 0:2])
    out[:, 0:2] *= 0.5
    return out


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    out = np.empty_like(b)
    half = b[:, 2:4] * 0.5
    np.subtract(b[:, 0:2], half, out=out[:, 0:2])
    np.add(b[:, 0:2], half, out=out[:, 2:4])
    return out
