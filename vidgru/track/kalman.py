"""The constant-velocity Kalman filter, for all tracks at once.

State per track: centre x, centre y, width, height and their velocities per frame, (8,). Process and
measurement noise scale with the box height, so that one set of constants serves small and large objects (as
in ByteTrack and BoT-SORT). Tracks live in rows of struct-of-arrays; every step is one batched numpy call.
"""

from __future__ import annotations

import numpy as np

from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


class KalmanBank:
    """Constant-velocity Kalman filters for N tracks.

    ``predict()`` advances every track one frame and returns the predicted boxes; ``update(rows, boxes)``
    corrects the observed rows. ``boxes`` are the current estimates (the output boxes).
    """

    name = "kalman"

    def __init__(self, *, std_position: float = 1 / 20, std_velocity: float = 1 / 160) -> None:
        self.std_position = std_position
        self.std_velocity = std_velocity
        self.x = np.zeros((0, 8))
        self.p = np.zeros((0, 8, 8))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy current estimates."""
        return cxcywh_to_xyxy(self.x[:, :4])

    def add(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        z = xyxy_to_cxcywh(boxes)
        x = np.concatenate([z, np.zeros_like(z)], axis=1)
        h = z[:, 3:4]
        std = np.concatenate([2 * self.std_position * h.repeat(4, 1), 10 * self.std_velocity * h.repeat(4, 1)], 1)
        p = np.zeros((len(z), 8, 8))
        idx = np.arange(8)
        p[:, idx, idx] = std**2
        self.x = np.concatenate([self.x, x])
        self.p = np.concatenate([self.p, p])

    def keep(self, mask: np.ndarray) -> None:
        self.x = self.x[mask]
        self.p = self.p[mask]

    def predict(self) -> np.ndarray:
        if len(self.x):
            h = self.x[:, 3:4]
            std = np.concatenate([self.std_position * h.repeat(4, 1), self.std_velocity * h.repeat(4, 1)], 1)
            self.x = self.x @ _F.T
            self.x[:, 2:4] = np.maximum(self.x[:, 2:4], 1.0)
            q = np.zeros_like(self.p)
            idx = np.arange(8)
            q[:, idx, idx] = std**2
            self.p = _F @ self.p @ _F.T + q
        return self.boxes

    def update(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, dt_s: float | None = None) -> None:
        """Correct the observed ``rows`` with ``boxes`` (M, 4) xyxy. (Steps are frames; ``dt_s`` is unused.)"""
        if len(rows) == 0:
            return
        z = xyxy_to_cxcywh(boxes)
        x, p = self.x[rows], self.p[rows]
        h = x[:, 3:4]
        r_std = self.std_position * h.repeat(4, 1)
        s = p[:, :4, :4].copy()
        idx = np.arange(4)
        s[:, idx, idx] += r_std**2
        # K = P H^T S^-1, solved rather than inverted.
        k = np.linalg.solve(s, p[:, :4, :]).transpose(0, 2, 1)  # (M, 8, 4)
        innovation = z - x[:, :4]
        self.x[rows] = x + np.einsum("mij,mj->mi", k, innovation)
        self.p[rows] = p - k @ p[:, :4, :]
