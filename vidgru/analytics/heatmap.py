"""Where tracks went: time spent per cell of the frame, rendered as a colour image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


class Heatmap:
    """Seconds that track anchors spent in each ``cell_px`` x ``cell_px`` cell of a (width, height) frame.

    Example::

        heat = Heatmap((1920, 1080))
        heat.add(anchor_points(frame_tracks.tracks), seconds=1 / fps)
        heat.save("heat.png", background=frame.image)
    """

    def __init__(self, size: tuple[int, int], *, cell_px: int = 8) -> None:
        self.width, self.height = int(size[0]), int(size[1])
        self.cell_px = int(cell_px)
        self.grid = np.zeros((math.ceil(self.height / cell_px), math.ceil(self.width / cell_px)), np.float64)

    def reset(self) -> None:
        self.grid[:] = 0

    def add(self, points: np.ndarray, *, seconds: float) -> None:
        """Add ``seconds`` at each of the (N, 2) pixel points (points outside the frame are ignored)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        col = np.floor(p[:, 0] / self.cell_px).astype(np.int64)
        row = np.floor(p[:, 1] / self.cell_px).astype(np.int64)
        ok = (col >= 0) & (col < self.grid.shape[1]) & (row >= 0) & (row < self.grid.shape[0])
        np.add.at(self.grid, (row[ok], col[ok]), seconds)

    def render(self, background: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB: the heat (blurred, on a log scale, turbo colours) over ``background`` (H, W, 3)
        RGB (darkened), or over black."""
        import cv2

        heat = cv2.GaussianBlur(self.grid.astype(np.float32), (0, 0), sigmaX=1.5)
        heat = np.log1p(heat / max(float(heat.max()), 1e-9) * 100) / np.log1p(100)  # (h, w) in [0, 1]
        heat = cv2.resize(heat, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        colours = cv2.cvtColor(cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_TURBO),
                               cv2.COLOR_BGR2RGB).astype(np.float32)
        if background is None or background.shape[:2] != (self.height, self.width):
            base = np.zeros((self.height, self.width, 3), np.float32)
        else:
            base = background.astype(np.float32) * 0.6
        alpha = np.clip(heat * 1.5, 0, 0.85)[..., None]
        return np.uint8(np.clip(base * (1 - alpha) + colours * alpha, 0, 255))

    def save(self, path: str | Path, *, background: np.ndarray | None = None) -> None:
        """Write :meth:`render` as a PNG, whole or not at all.

        Raises:
            VidgruError: the file cannot be written.
        """
        import cv2

        from vidgru.errors import VidgruError
        from vidgru.fileio import write_bytes_atomic

        ok, data = cv2.imencode(".png", cv2.cvtColor(self.render(background), cv2.COLOR_RGB2BGR))
        if not ok:
            raise VidgruError(f"cannot encode the heatmap for {path}")
        write_bytes_atomic(path, data.tobytes())
