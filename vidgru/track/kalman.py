"""The constant-velocity Kalman filter, for all tracks at once.

State per track: centre x, centre y, width, height and their velocities per frame. Process and measurement
noise scale with the box height, so that one set of constants serves small and large objects (as in ByteTrack
and BoT-SORT). Because the transition couples each coordinate only with its own velocity and all noise is
diagonal, the 8x8 covariance is four independent 2x2 blocks (position, velocity) — kept as (N, 4) arrays
``p_pp``, ``p_pv``, ``p_vv``. That is the exact same filter as the textbook matrix form, in closed form, and
several times cheaper per frame.

:func:`kf_predict` and :func:`kf_update` are written with elementwise operations only, so the GRU state model
(:mod:`vidgru.track.gru_motion`) runs the very same filter in PyTorch for training (``xp=torch``) and in numpy
for tracking.
"""

from __future__ import annotations

import numpy as np

from vidgru.track.association import box_likelihood
from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh

STD_POSITION = 1 / 20  # position noise per frame, as a fraction of the box height
STD_VELOCITY = 1 / 160  # velocity noise per frame, as a fraction of the box height


def kf_init(z, std_position: float = STD_POSITION, std_velocity: float = STD_VELOCITY, xp=np):
    """A new filter per box ``z`` (N, 4) cxcywh: (pos, vel, p_pp, p_pv, p_vv), each (N, 4)."""
    h = z[:, 3:4]
    ones, zeros = xp.ones_like(z), xp.zeros_like(z)
    return z, zeros, (2 * std_position * h) ** 2 * ones, zeros, (10 * std_velocity * h) ** 2 * ones


def kf_predict(pos, vel, p_pp, p_pv, p_vv, std_position: float = STD_POSITION, std_velocity: float = STD_VELOCITY,
               xp=np):
    """One frame ahead: x <- F x, P <- F P F^T + Q with F = [[1, 1], [0, 1]] per coordinate. Sizes stay >= 1."""
    h2 = pos[:, 3:4] ** 2
    pos = pos + vel
    pos = xp.concatenate([pos[:, :2], xp.maximum(pos[:, 2:4], xp.ones_like(pos[:, 2:4]))], 1)
    p_pp = p_pp + 2 * p_pv + p_vv + std_position**2 * h2
    p_pv = p_pv + p_vv
    p_vv = p_vv + std_velocity**2 * h2
    return pos, vel, p_pp, p_pv, p_vv


def kf_update(pos, vel, p_pp, p_pv, p_vv, z, observed, std_position: float = STD_POSITION):
    """Correct with measurements ``z`` (N, 4) cxcywh where ``observed`` (N, 1) is 1; rows with 0 are unchanged.
    Returns the new (pos, vel, p_pp, p_pv, p_vv)."""
    s = p_pp + (std_position * pos[:, 3:4]) ** 2
    k_p, k_v = p_pp / s * observed, p_pv / s * observed
    innovation = z - pos
    return (pos + k_p * innovation, vel + k_v * innovation, (1 - k_p) * p_pp, (1 - k_p) * p_pv,
            p_vv - k_v * p_pv)


class KalmanBank:
    """Constant-velocity Kalman filters for N tracks.

    ``predict()`` advances every track one frame and returns the predicted boxes (N, 4) xyxy;
    ``update(rows, boxes)`` corrects the observed rows. ``boxes`` are the current estimates (the output boxes).
    """

    name = "kalman"

    def __init__(self, *, std_position: float = STD_POSITION, std_velocity: float = STD_VELOCITY) -> None:
        self.std_position = std_position
        self.std_velocity = std_velocity
        self.pos = np.zeros((0, 4))  # cx, cy, w, h
        self.vel = np.zeros((0, 4))  # per frame
        self.p_pp = np.zeros((0, 4))
        self.p_pv = np.zeros((0, 4))
        self.p_vv = np.zeros((0, 4))
        self._fit: tuple[np.ndarray, np.ndarray] | None = None  # predicted boxes xyxy and spread, until the state moves

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy current estimates."""
        return cxcywh_to_xyxy(self.pos)

    @property
    def spread(self) -> np.ndarray:
        """(N, 4) error scale of the current prediction, as the association reads it (see
        :func:`vidgru.track.association.box_likelihood`): the filter's predicted measurement standard deviation
        in box units, as a Laplace scale (std / sqrt 2); the two size terms are the same as the centre's."""
        size = np.concatenate([self.pos[:, 2:4], self.pos[:, 2:4]], 1)
        return np.sqrt((self.p_pp + (self.std_position * self.pos[:, 3:4]) ** 2) / 2) / size

    def likelihood(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(K, M) how well each detection ``boxes`` (M, 4) xyxy fits the prediction of each track ``rows`` (K,)
        under the filter's error scale (:func:`vidgru.track.association.box_likelihood`); scores unused."""
        if self._fit is None:
            self._fit = cxcywh_to_xyxy(self.pos), self.spread
        predicted, spread = self._fit
        return box_likelihood(predicted[rows], spread[rows], boxes)

    def add(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        new = kf_init(xyxy_to_cxcywh(boxes), self.std_position, self.std_velocity)
        self.pos, self.vel, self.p_pp, self.p_pv, self.p_vv = (
            np.concatenate([old, n]) for old, n in zip(self._state(), new))
        self._fit = None

    def keep(self, mask: np.ndarray) -> None:
        self.pos, self.vel, self.p_pp, self.p_pv, self.p_vv = (a[mask] for a in self._state())
        self._fit = None

    def predict(self) -> np.ndarray:
        if len(self.pos):
            self.pos, self.vel, self.p_pp, self.p_pv, self.p_vv = kf_predict(
                *self._state(), self.std_position, self.std_velocity)
        predicted = self.boxes
        self._fit = predicted, self.spread  # what the association reads until the update
        return predicted

    def update(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, dt_s: float | None = None) -> None:
        """Correct the observed ``rows`` with ``boxes`` (M, 4) xyxy. (Steps are frames; ``dt_s`` is unused.)"""
        if len(rows) == 0:
            return
        self._fit = None
        state = tuple(a[rows] for a in self._state())
        new = kf_update(*state, xyxy_to_cxcywh(boxes), np.ones((len(rows), 1)), self.std_position)
        for a, n in zip(self._state(), new):
            a[rows] = n

    def _state(self) -> tuple[np.ndarray, ...]:
        return self.pos, self.vel, self.p_pp, self.p_pv, self.p_vv
