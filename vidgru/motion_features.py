"""Frame-pair motion descriptors computed from the backbone's feature maps.

A pooled embedding says *what* is in a frame but almost nothing about *where*, so a sequence of pooled
embeddings hides camera and object motion (a GRU over them cannot tell a pan left from a pan right). These
descriptors restore that cheaply (MobileNetV2 on 2 CPU cores: 65 frames/s without, 55 with them): for each
sampled frame t and each gap k, the L2-normalised
feature map F_t (C, h, w) -- the same forward pass that gives the embedding -- is compared with F_{t-k}:

- shift correlations: the mean cosine similarity between F_t and F_{t-k} displaced by (dx, dy) in
  {-1, 0, 1}^2 cells, over the whole map and over four overlapping quadrants (content moving the same way
  everywhere is a pan or tilt; quadrants moving apart is a zoom);
- scale correlations: the cosine similarity between F_t and F_{t-k} resampled about the centre at a few
  scales (content growing or shrinking).

They have no parameters. Each describes the change between two frames, so which frame came first matters:
the order-less baseline head does not use them, only the temporal model does.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidgru.errors import ConfigError

if TYPE_CHECKING:
    import torch

SHIFT_RADIUS = 1  # displacements of -1..1 feature-map cells


@dataclass(frozen=True)
class MotionSpec:
    """Which motion descriptors to compute. ``gaps`` are in sampled frames (at 8 frames/s, 1 = 0.125 s)."""

    gaps: tuple[int, ...] = (1, 2, 4)
    scales: tuple[float, ...] = (0.9, 0.95, 1 / 0.95, 1 / 0.9)
    quadrants: bool = True
    version: int = 1

    def __post_init__(self) -> None:
        if not self.gaps or any(g < 1 for g in self.gaps):
            raise ConfigError(f"motion gaps must be >= 1, got {self.gaps}")
        if any(s <= 0 for s in self.scales):
            raise ConfigError(f"motion scales must be > 0, got {self.scales}")

    @property
    def dim(self) -> int:
        shifts = (2 * SHIFT_RADIUS + 1) ** 2 * (5 if self.quadrants else 1)
        return len(self.gaps) * (shifts + len(self.scales))

    def to_dict(self) -> dict[str, Any]:
        return {"gaps": list(self.gaps), "scales": list(self.scales), "quadrants": self.quadrants,
                "version": self.version}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MotionSpec:
        return cls(tuple(int(g) for g in d["gaps"]), tuple(float(s) for s in d["scales"]), bool(d["quadrants"]),
                   int(d.get("version", 1)))


def _regions(h: int, w: int, quadrants: bool) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the whole map and, optionally, four overlapping quadrants (7 cells -> 0..3, 3..6)."""
    out = [(0, h, 0, w)]
    if quadrants:
        hh, hw = (h + 2) // 2, (w + 2) // 2
        out += [(y0, y0 + hh, x0, x0 + hw) for y0 in (0, h - hh) for x0 in (0, w - hw)]
    return out


@functools.lru_cache(maxsize=16)
def _shift_averaging_matrix(h: int, w: int, quadrants: bool, device: str) -> torch.Tensor:
    """(h*w*h*w, regions * 9): column (region, dy, dx) averages the cosines sim[i, j] of every pair (cur cell
    i, prev cell j = i displaced by (-dy, -dx)) with both cells inside the region, i.e. content that moved
    by (dx, dy) cells between the two frames."""
    import torch

    r = SHIFT_RADIUS
    columns = []
    for y0, y1, x0, x1 in _regions(h, w, quadrants):
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                col = torch.zeros(h * w * h * w)
                ys = range(y0 + max(0, dy), y1 + min(0, dy))
                xs = range(x0 + max(0, dx), x1 + min(0, dx))
                pairs = [(y * w + x) * h * w + (y - dy) * w + (x - dx) for y in ys for x in xs]
                col[pairs] = 1.0 / len(pairs)
                columns.append(col)
    return torch.stack(columns, dim=1).to(device)


def _shift_correlations(cur: torch.Tensor, prev: torch.Tensor, quadrants: bool) -> torch.Tensor:
    """cur, prev: (N, C, h, w) unit vectors per cell -> (N, regions * 9) mean cosine per region and
    displacement (dy, dx in -1..1, row-major), from one cell-to-cell similarity matrix per frame."""
    import torch

    n, c, h, w = cur.shape
    sim = torch.bmm(cur.flatten(2).transpose(1, 2), prev.flatten(2))  # (N, hw, hw): cos(cur i, prev j)
    return sim.flatten(1) @ _shift_averaging_matrix(h, w, quadrants, str(cur.device))


def _scale_correlations(cur: torch.Tensor, prev: torch.Tensor, scales: tuple[float, ...]) -> torch.Tensor:
    """(N, C, h, w) -> (N, len(scales)): cosine between cur and prev resampled about the centre."""
    import torch
    import torch.nn.functional as F

    n = cur.shape[0]
    out = []
    for s in scales:
        theta = cur.new_tensor([[s, 0.0, 0.0], [0.0, s, 0.0]]).expand(n, 2, 3)
        grid = F.affine_grid(theta, list(prev.shape), align_corners=False)
        warped = F.normalize(F.grid_sample(prev, grid, align_corners=False, padding_mode="border"), dim=1)
        out.append((cur * warped).sum(dim=1).mean(dim=(-1, -2)))
    return torch.stack(out, dim=-1)


def pair_descriptors(cur: torch.Tensor, prev: torch.Tensor, spec: MotionSpec) -> torch.Tensor:
    """Descriptors for one gap: cur, prev (N, C, h, w) unit-normalised maps -> (N, K / len(gaps))."""
    import torch

    parts = [_shift_correlations(cur, prev, spec.quadrants)]
    if spec.scales:
        parts.append(_scale_correlations(cur, prev, spec.scales))
    return torch.cat(parts, dim=-1)


class MotionStream:
    """Motion descriptors for consecutive frames of ONE sequence, fed batch by batch in order.

    Keeps the last ``max(gaps)`` normalised feature maps between calls; make a new stream (or ``reset()``)
    for each video. Before frame t has a predecessor at gap k, the oldest available frame stands in (for the
    very first frame: itself, i.e. "no motion").
    """

    def __init__(self, spec: MotionSpec) -> None:
        self.spec = spec
        self._history: deque = deque(maxlen=max(spec.gaps))

    def reset(self) -> None:
        self._history.clear()

    def update(self, maps: torch.Tensor) -> torch.Tensor:
        """maps: (N, C, h, w) feature maps of the next N frames -> (N, spec.dim) float32."""
        import torch
        import torch.nn.functional as F

        cur = F.normalize(maps.float(), dim=1)
        n = cur.shape[0]
        past = list(self._history)  # oldest first, each (C, h, w)
        seq = torch.cat([torch.stack(past), cur]) if past else cur  # (P + N, C, h, w)
        offset = len(past)
        rows = []
        for gap in self.spec.gaps:
            idx = torch.arange(offset, offset + n) - gap
            rows.append(pair_descriptors(cur, seq[idx.clamp(min=0)], self.spec))
        for frame in cur[-self._history.maxlen :]:
            self._history.append(frame)
        return torch.cat(rows, dim=-1)


def descriptor_permutation(spec: MotionSpec, *, flip_x: bool = False, flip_y: bool = False,
                           reverse: bool = False) -> list[int]:
    """Index permutation ``perm`` (length ``spec.dim``) such that ``d[..., perm]`` are the descriptors of the
    mirrored (``flip_x``: left-right, ``flip_y``: top-bottom) and/or time-reversed frame pair.

    Mirroring swaps displacements (dx -> -dx, dy -> -dy) and the quadrants on either side; reversing a pair
    negates the displacement and inverts the scale (it needs ``scales`` that come in pairs s, 1/s, in
    increasing order, as the default). Shift correlations of a mirrored pair equal the permuted ones up to
    the backbone's own asymmetry; of a reversed pair, exactly (cosine is symmetric). Used to augment training
    data without re-embedding (see ``vidgru train --motion-augment``).

    Raises:
        ConfigError: ``reverse`` with scales that are not closed under 1/s.
    """
    r = SHIFT_RADIUS
    side = 2 * r + 1
    # Quadrant order of _regions: (top, left), (top, right), (bottom, left), (bottom, right).
    regions = [0] + [1 + 2 * qy + qx for qy in (0, 1) for qx in (0, 1)] if spec.quadrants else [0]
    sx = -1 if flip_x != reverse else 1
    sy = -1 if flip_y != reverse else 1
    if reverse:
        inv = [1 / s for s in spec.scales]
        if any(abs(a - b) > 1e-6 for a, b in zip(sorted(inv), spec.scales)):
            raise ConfigError(f"motion scales {spec.scales} are not in pairs s, 1/s: cannot reverse them")
    scale_perm = [len(spec.scales) - 1 - i for i in range(len(spec.scales))] if reverse else \
        list(range(len(spec.scales)))
    per_gap = len(regions) * side * side + len(spec.scales)
    perm: list[int] = []
    for g in range(len(spec.gaps)):
        base = g * per_gap
        for region in regions:
            if region == 0:
                src_region = 0
            else:
                qy, qx = divmod(region - 1, 2)
                src_region = 1 + 2 * (1 - qy if flip_y else qy) + (1 - qx if flip_x else qx)
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    perm.append(base + src_region * side * side + (sy * dy + r) * side + (sx * dx + r))
        perm.extend(base + len(regions) * side * side + i for i in scale_perm)
    return perm
