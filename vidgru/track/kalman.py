"""The constant-velocity Kalman filter, for all tracks at once.

State per track: centre x, centre y, width, height and their velocities per frame. Process and measurement
noise scale with the box height, so that one set of constants serves small and large objects (as in ByteTrack
and BoT-SORT). Because the transition couples each coordinate only with its own velocity and all noise is
diagonal, the 8x8 covariance is four independent 2x2 blocks (position, velocity) — kept as (N, 4) arrays
``p_pp``, ``p_pv``, ``p_vv``. That is the exact same filter as the textbook matrix form, in closed form, and
several times cheaper per frame.
"""

from __future__ import annotations

import numpy as np

from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh


class KalmanBank:
    """Constant-velocity Kalman filters for N tracks.

    ``predict()`` advances every track one frame and returns the predicted boxes (N, 4) xyxy;
    ``update(rows, boxes)`` corrects the observed rows. ``boxes`` are the current estimates (the output boxes).
    """

    name = "kalman"

    def __init__(self, *, std_position: float = 1 / 20, std_velocity: float = 1 / 160) -> None:
        self.std_position = std_position
        self.std_velocity = std_velocity
        self.pos = np.zeros((0, 4))  # cx, cy, w, h
        self.vel = np.zeros((0, 4))  # per frame
        self.p_pp = np.zeros((0, 4))
        self.p_pv = np.zeros((0, 4))
        self.p_vv = np.zeros((0, 4))

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy current estimates."""
        return cxcywh_to_xyxy(self.pos)

    def add(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        z = xyxy_to_cxcywh(boxes)
        h = z[:, 3:4]
        ones = np.ones((1, 4))
        self.pos = np.concatenate([self.pos, z])
        self.vel = np.concatenate([self.vel, np.zeros_like(z)])
        self.p_pp = np.concatenate([self.p_pp, (2 * self.std_position * h) ** 2 * ones])
        self.p_pv = np.concatenate([self.p_pv, np.zeros_like(z)])
        self.p_vv = np.concatenate([self.p_vv, (10 * self.std_velocity * h) ** 2 * ones])

    def keep(self, mask: np.ndarray) -> None:
        self.pos, self.vel = self.pos[mask], self.vel[mask]
        self.p_pp, self.p_pv, self.p_vv = self.p_pp[mask], self.p_pv[mask], self.p_vv[mask]

    def predict(self) -> np.ndarray:
        if len(self.pos):
            h2 = self.pos[:, 3:4] ** 2
            self.pos = self.pos + self.vel
            np.maximum(self.pos[:, 2:4], 1.0, out=self.pos[:, 2:4])
            # P <- F P F^T + Q with F = [[1, 1], [0, 1]] per coordinate.
            self.p_pp = self.p_pp + 2 * self.p_pv + self.p_vv + self.std_position**2 * h2
            self.p_pv = self.p_pv + self.p_vv
            self.p_vv = self.p_vv + self.std_velocity**2 * h2
        return self.boxes

    def update(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, dt_s: float | None = None) -> None:
        """Correct the observed ``rows`` with ``boxes`` (M, 4) xyxy. (Steps are frames; ``dt_s`` is unused.)"""
        if len(rows) == 0:
            return
        z = xyxy_to_cxcywh(boxes)
        pos, vel = self.pos[rows], self.vel[rows]
        p_pp, p_pv, p_vv = self.p_pp[rows], self.p_pv[rows], self.p_vv[rows]
        s = p_pp + (self.std_position * pos[:, 3:4]) ** 2
        k_p, k_v = p_pp / s, p_pv / s
        innovation = z - pos
        self.pos[rows] = pos + k_p * innovation
        self.vel[rows] = vel + k_v * innovation
        self.p_pp[rows] = (1 - k_p) * p_pp
        self.p_pv[rows] = (1 - k_p) * p_pv
        self.p_vv[rows] = p_vv - k_v * p_pv
