"""Frame-pair motion descriptors computed from the backbone's feature maps and input crops.

A pooled embedding says *what* is in a frame but almost nothing about *where*, so a sequence of pooled
embeddings hides camera and object motion (a GRU over them cannot tell a pan left from a pan right). These
descriptors restore that (their cost is measured by ``benchmarks/motion_descriptor_cost.py``). For each
sampled frame t and each gap k, the L2-normalised feature map F_t (C, h, w) -- from the same forward pass that
gives the embedding -- is compared with F_{t-k}:

- shift correlations: the mean cosine similarity between F_t and F_{t-k} displaced by (dx, dy) in
  {-1, 0, 1}^2 cells, over the whole map and over four overlapping quadrants (content moving the same way
  everywhere is a pan or tilt; quadrants moving apart is a zoom);
- scale correlations: the cosine similarity between F_t and F_{t-k} resampled about the centre at a few
  scales (content growing or shrinking).

- global motion (``MotionSpec.flow``): corners of the earlier frame's crop tracked into the later one by
  pyramidal Lucas-Kanade (kept when tracking back lands within a pixel), then a similarity transform (shift,
  scale, rotation about the centre) fitted by RANSAC. Its parameters, the share of points that fit it and how
  far the others move describe what the camera did at sub-pixel precision, which the 7x7 maps cannot (a slow
  zoom moves their cells by a fraction of a cell), and the robust fit follows the background rather than
  people walking through it.

They have no learnt parameters. Each describes the change between two frames, so which frame came first
matters: the order-less baseline head does not use them, only the temporal model does.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidgru.errors import ConfigError

SHIFT_RADIUS = 1  # displacements of -1..1 feature-map cells

# Global-motion descriptors, per gap: signed quantities are split into their positive and negative parts so
# that mirroring or reversing a clip permutes descriptors instead of negating them; all are compressed by
# log1p(FLOW_GAIN * |value|) so that a slow zoom (0.5 % per gap) and a fast pan (10 % of the frame) are both
# visible to the model.
FLOW_NAMES = ("shift_x+", "shift_x-", "shift_y+", "shift_y-", "zoom+", "zoom-", "rotation+", "rotation-",
              "fit_share", "tracked_share", "residual")
FLOW_GAIN = 100.0  # shifts and residual in fractions of the crop side, zoom as log scale, rotation in radians
FLOW_CORNERS = 200
FLOW_VERSION = 1  # stored in checkpoints and cache keys: bump when the global-motion descriptors change
_FLOW_MIN_POINTS = 8
_FIT, _TRACKED, _RESIDUAL = (FLOW_NAMES.index(n) for n in ("fit_share", "tracked_share", "residual"))
_MAGNITUDES = [i for i, name in enumerate(FLOW_NAMES) if not name.endswith("_share")]  # log1p-compressed


@dataclass(frozen=True)
class MotionSpec:
    """Which motion descriptors to compute. ``gaps`` are in sampled frames (at 8 frames/s, 1 = 0.125 s)."""

    gaps: tuple[int, ...] = (1, 2, 4)
    scales: tuple[float, ...] = (0.9, 0.95, 1 / 0.95, 1 / 0.9)
    quadrants: bool = True
    flow: bool = False  # global-motion descriptors from tracked corners of the crops (see the module text)
    version: int = 1

    def __post_init__(self) -> None:
        if not self.gaps or any(g < 1 for g in self.gaps):
            raise ConfigError(f"motion gaps must be >= 1, got {self.gaps}")
        if any(s <= 0 for s in self.scales):
            raise ConfigError(f"motion scales must be > 0, got {self.scales}")

    @property
    def dim(self) -> int:
        return len(self.gaps) * self.per_gap

    @property
    def per_gap(self) -> int:
        """Descriptors of one gap: shift correlations, then scale correlations, then global motion."""
        shifts = (2 * SHIFT_RADIUS + 1) ** 2 * (5 if self.quadrants else 1)
        return shifts + len(self.scales) + (len(FLOW_NAMES) if self.flow else 0)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"gaps": list(self.gaps), "scales": list(self.scales), "quadrants": self.quadrants,
                             "version": self.version}
        if self.flow:  # written only when on, so specs (and embedding caches) from before it keep their identity
            d["flow"] = FLOW_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MotionSpec:
        if int(d.get("flow", 0)) > FLOW_VERSION:
            raise ConfigError(f"motion descriptors: global-motion version {d['flow']} is newer than this vidgru's "
                              f"({FLOW_VERSION}); upgrade vidgru to use this model")
        return cls(tuple(int(g) for g in d["gaps"]), tuple(float(s) for s in d["scales"]), bool(d["quadrants"]),
                   bool(d.get("flow", False)), int(d.get("version", 1)))


def _regions(h: int, w: int, quadrants: bool) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the whole map and, optionally, four overlapping quadrants (7 cells -> 0..3, 3..6)."""
    out = [(0, h, 0, w)]
    if quadrants:
        hh, hw = (h + 2) // 2, (w + 2) // 2
        out += [(y0, y0 + hh, x0, x0 + hw) for y0 in (0, h - hh) for x0 in (0, w - hw)]
    return out


@functools.lru_cache(maxsize=16)
def _shift_averaging_matrix(h: int, w: int, quadrants: bool) -> np.ndarray:
    """(h*w*h*w, regions * 9) float32: column (region, dy, dx) averages the cosines sim[i, j] of every pair (cur
    cell i, prev cell j = i displaced by (-dy, -dx)) with both cells inside the region, i.e. content that moved
    by (dx, dy) cells between the two frames."""
    r = SHIFT_RADIUS
    columns = []
    for y0, y1, x0, x1 in _regions(h, w, quadrants):
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                col = np.zeros(h * w * h * w, np.float32)
                ys = range(y0 + max(0, dy), y1 + min(0, dy))
                xs = range(x0 + max(0, dx), x1 + min(0, dx))
                pairs = [(y * w + x) * h * w + (y - dy) * w + (x - dx) for y in ys for x in xs]
                col[pairs] = 1.0 / len(pairs)
                columns.append(col)
    return np.stack(columns, axis=1)


@functools.lru_cache(maxsize=16)
def _resampling_matrices(h: int, w: int, scales: tuple[float, ...]) -> np.ndarray:
    """(len(scales), h*w, h*w) float32: row i of matrix s gives the weights of the prev cells that bilinear
    resampling about the centre at scale s (``grid_sample``'s rule: align_corners=False, border padding) mixes
    into cell i. Resampling a map is then a matrix product over its cells."""
    out = np.zeros((len(scales), h * w, h * w), np.float32)
    for k, s in enumerate(scales):
        for y in range(h):
            for x in range(w):
                # output cell centre in normalised coordinates, scaled, back to input pixel coordinates
                gx, gy = s * ((2 * x + 1) / w - 1), s * ((2 * y + 1) / h - 1)
                ix = min(max(((gx + 1) * w - 1) / 2, 0.0), w - 1.0)  # border padding clamps the sample point
                iy = min(max(((gy + 1) * h - 1) / 2, 0.0), h - 1.0)
                x0, y0 = int(np.floor(ix)), int(np.floor(iy))
                fx, fy = ix - x0, iy - y0
                for yy, wy in ((y0, 1 - fy), (y0 + 1, fy)):
                    for xx, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                        if wy * wx > 0 and yy < h and xx < w:
                            out[k, y * w + x, yy * w + xx] += wy * wx
    return out


@functools.lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it the products are only slower under load
        return None
    return ThreadpoolController()


def one_blas_thread():
    """A context in which numpy's BLAS uses one thread. The products here are many small (hw x C x hw) ones, which
    a multi-threaded OpenBLAS runs up to 100x slower on a busy machine (its threads spin against the backbone's and
    the decoder's); the pipeline is parallel across stages instead."""
    import contextlib

    ctl = _blas_controller()
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=1, user_api="blas")


def unit_cells(maps):
    """(N, C, h, w) feature maps -> (N, C, h*w) float32 with each cell's C-vector scaled to unit length (numpy, or a
    torch tensor on its device)."""
    xp = _namespace(maps)
    flat = (maps.float() if xp is not np else np.asarray(maps, np.float32)).reshape(maps.shape[0], maps.shape[1], -1)
    return flat / (xp.einsum("nci,nci->ni", flat, flat) ** 0.5).clip(1e-12)[:, None, :]


def gram(units):
    """(N, C, hw) unit cells -> (N, hw, hw) cosines between the cells of each map (kept per frame: a frame is
    the earlier one of several pairs)."""
    return units.swapaxes(1, 2) @ units


def pair_descriptors(cur, prev, spec: MotionSpec, *, prev_gram=None):
    """Descriptors for one gap: cur, prev (N, C, h, w) unit-normalised maps -> (N, K / len(gaps)) (numpy or
    torch in, the same kind out). ``prev_gram``: ``gram`` of prev's cells when already known.

    Everything comes from the (hw, hw) cell-to-cell cosine matrix of the pair, so one (hw x C x hw) product per
    pair is the whole cost: shift correlations average its entries along displacements; the cosine of cur with
    prev resampled at scale s is sum_j W_s[i, j] sim[i, j] over the resampled cell's norm, which the Gram
    matrix of prev's cells gives (sqrt(W_s G W_s^T) on the diagonal)."""
    n, c, h, w = cur.shape
    on_device = _on_device(cur)
    cur_x = (cur.float() if on_device else _numpy(cur)).reshape(n, c, h * w)
    prev_x = (prev.float() if on_device else _numpy(prev)).reshape(n, c, h * w)
    with one_blas_thread():
        out = _pair_rows(cur_x, prev_x, gram(prev_x) if spec.scales and prev_gram is None else prev_gram,
                         (h, w), spec)
    return _like(out, cur) if not isinstance(cur, np.ndarray) else out


def _pair_rows(cur, prev, prev_gram, size: tuple[int, int], spec: MotionSpec):
    """cur, prev (N, C, hw) unit cells -> (N, per-gap feature-map descriptors) float32 (numpy, or torch on the
    maps' device)."""
    xp = _namespace(cur)
    h, w = size
    n = cur.shape[0]
    sim = cur.swapaxes(1, 2) @ prev  # (N, hw, hw): cos(cur cell i, prev cell j)
    parts = [sim.reshape(n, -1) @ _constant(_shift_averaging_matrix(h, w, spec.quadrants), cur)]
    if spec.scales:
        mats = _constant(_resampling_matrices(h, w, tuple(spec.scales)), cur)  # (S, hw, hw)
        dots = xp.einsum("sij,nij->nsi", mats, sim)  # (N, S, hw): cur_i . (resampled prev)_i
        sq = ((mats[None] @ prev_gram[:, None]) * mats[None]).sum(-1)  # |resampled prev cell i|^2
        parts.append((dots / (sq.clip(0.0) ** 0.5).clip(1e-12)).mean(-1))
    return _cat(parts)


def _namespace(x):
    """numpy for arrays, torch for tensors."""
    if isinstance(x, np.ndarray):
        return np
    import torch

    return torch


def _on_device(x) -> bool:
    """A torch tensor on an accelerator: its descriptors are computed there."""
    return not isinstance(x, np.ndarray) and x.device.type != "cpu"


def _cat(parts: list):
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)
    import torch

    return torch.cat(parts, dim=-1)


def _constant(a: np.ndarray, like):
    """A fixed numpy matrix as the kind (and device) of ``like``."""
    return a if isinstance(like, np.ndarray) else _like(a, like)


def _numpy(x) -> np.ndarray:
    """A torch tensor (any device) or array -> float32 numpy."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float32, copy=False)
    return x.detach().float().cpu().numpy()


def _like(a, ref):
    """numpy ``a`` (or a tensor) as a tensor on ``ref``'s device."""
    import torch

    t = a if not isinstance(a, np.ndarray) else torch.from_numpy(np.ascontiguousarray(a))
    return t.to(ref.device)


def _gray(crop: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)


def corners(gray: np.ndarray) -> np.ndarray | None:
    """The corners :func:`global_motion` tracks from a grey frame: (K, 1, 2) float32, or None if there are none."""
    import cv2

    return cv2.goodFeaturesToTrack(gray, FLOW_CORNERS, 0.01, max(gray.shape) / 32, blockSize=7)


def global_motion(prev: np.ndarray, cur: np.ndarray, prev_corners: np.ndarray | None = None) -> np.ndarray:
    """Global-motion descriptors (len(FLOW_NAMES),) float32 of two grey (H, W) uint8 frames.

    Shifts are the displacement of content about the frame centre (positive x: content moved right), zoom is
    the log of the fitted scale (positive: content grew), rotation is in radians; all three are 0 with
    ``fit_share`` 0 when fewer than 8 corners can be tracked (a blank or washed-out frame). ``prev_corners``:
    ``corners(prev)`` when already known (a frame is the earlier one of several pairs).
    """
    import cv2

    h, w = prev.shape
    side = float(max(h, w))
    out = np.zeros(len(FLOW_NAMES), np.float32)
    pts = corners(prev) if prev_corners is None else prev_corners
    if pts is None or len(pts) < _FLOW_MIN_POINTS:
        return out
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, **lk)
    back, st_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, None, **lk)
    ok = (st[:, 0] == 1) & (st_back[:, 0] == 1) & (np.linalg.norm((back - pts)[:, 0], axis=1) < 1.0)
    out[_TRACKED] = ok.sum() / FLOW_CORNERS
    if ok.sum() < _FLOW_MIN_POINTS:
        return _compressed(out)
    centre = np.array([(w - 1) / 2, (h - 1) / 2], np.float32)
    p0, p1 = pts[ok, 0] - centre, nxt[ok, 0] - centre
    a, inliers = cv2.estimateAffinePartial2D(p0, p1, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                             maxIters=500, confidence=0.995, refineIters=10)
    if a is None:
        return _compressed(out)
    scale = float(np.hypot(a[0, 0], a[1, 0]))
    signed = (a[0, 2] / side, a[1, 2] / side, np.log(max(scale, 1e-6)), np.arctan2(a[1, 0], a[0, 0]))
    for i, v in enumerate(signed):
        out[2 * i] = max(v, 0.0)
        out[2 * i + 1] = max(-v, 0.0)
    out[_FIT] = inliers[:, 0].mean()
    residual = np.linalg.norm(p0 @ a[:, :2].T + a[:, 2] - p1, axis=1)
    out[_RESIDUAL] = np.median(residual) / side
    return _compressed(out)


def _compressed(raw: np.ndarray) -> np.ndarray:
    out = raw.copy()
    out[_MAGNITUDES] = np.log1p(FLOW_GAIN * raw[_MAGNITUDES])
    return out


class GlobalMotionStream:
    """Global-motion descriptors (:func:`global_motion`) for consecutive frames of ONE sequence, fed in order.

    Needs only the backbone's input crops, not its feature maps, so it can run where frames are decoded (the
    batch workers do, and send the rows along with the crops). Before frame t has a predecessor at gap k, the
    oldest available frame stands in, as in :class:`MotionStream`.
    """

    def __init__(self, gaps: tuple[int, ...], *, workers: int = 1) -> None:
        self.gaps = tuple(gaps)
        self.workers = max(1, int(workers))
        self._pool = None
        self._frames: deque = deque(maxlen=max(self.gaps))  # (grey frame, its corners), oldest first

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)

    @property
    def dim(self) -> int:
        return len(self.gaps) * len(FLOW_NAMES)

    def update(self, crops: np.ndarray) -> np.ndarray:
        """crops: (N, H, W, 3) uint8 RGB -> (N, len(gaps) * len(FLOW_NAMES)) float32, gap-major.

        With ``workers`` > 1 the frame pairs are tracked in that many threads (OpenCV releases the GIL); the
        rows are the same."""
        offset = len(self._frames)
        new = [_gray(c) for c in crops]
        frames = [*self._frames, *((g, corners(g)) for g in new)]  # each frame's corners found once
        out = np.zeros((len(crops), self.dim), np.float32)
        k = len(FLOW_NAMES)
        pairs = [(g_idx, i, max(offset + i - gap, 0)) for g_idx, gap in enumerate(self.gaps)
                 for i in range(len(crops))]

        def one(pair: tuple[int, int, int]) -> None:
            g_idx, i, j = pair
            prev, prev_corners = frames[j]
            out[i, g_idx * k : (g_idx + 1) * k] = global_motion(prev, frames[offset + i][0], prev_corners)

        if self.workers > 1 and len(pairs) > 1:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vidgru-flow")
            list(self._pool.map(one, pairs))
        else:
            for pair in pairs:
                one(pair)
        for f in frames[-self._frames.maxlen :]:
            self._frames.append(f)
        return out


class MotionStream:
    """Motion descriptors for consecutive frames of ONE sequence, fed batch by batch in order.

    Keeps the last ``max(gaps)`` normalised feature maps (and, with ``spec.flow``, a :class:`GlobalMotionStream`
    for the crops) between calls; make a new stream (or ``reset()``) for each video. Before frame t has a
    predecessor at gap k, the oldest available frame stands in (for the very first frame: itself, i.e. "no
    motion")."""

    def __init__(self, spec: MotionSpec) -> None:
        self.spec = spec
        self._history: deque = deque(maxlen=max(spec.gaps))
        self._flow = GlobalMotionStream(spec.gaps) if spec.flow else None

    def reset(self) -> None:
        self._history.clear()
        if self._flow is not None:
            self._flow = GlobalMotionStream(self.spec.gaps)

    def update(self, maps, crops: np.ndarray | None = None, *, flow: np.ndarray | None = None):
        """maps: (N, C, h, w) feature maps of the next N frames (a torch tensor or a numpy array) -> (N, spec.dim)
        float32 of the same kind (a tensor on the maps' device).

        With ``spec.flow``, also give either ``crops`` -- (N, H, W, 3) uint8 RGB, the backbone's input crops of
        the same frames -- or ``flow``, their rows already computed by a :class:`GlobalMotionStream` of this
        sequence (use one or the other for a whole sequence).
        """
        n = maps.shape[0]
        if self.spec.flow:
            if flow is None:
                if crops is None or len(crops) != n:
                    raise ConfigError("motion descriptors with flow need the frames' crops along with their "
                                      "feature maps")
                flow = self._flow.update(crops)
            elif flow.shape != (n, len(self.spec.gaps) * len(FLOW_NAMES)):
                raise ConfigError(f"precomputed global motion has shape {flow.shape}, expected "
                                  f"({n}, {len(self.spec.gaps) * len(FLOW_NAMES)})")
        if _on_device(maps):  # computed where the feature maps are (a GPU): no copy to the host
            return self.update_rows(maps.detach(), None if flow is None else _like(np.asarray(flow, np.float32), maps))
        with one_blas_thread():
            out = self.update_rows(_numpy(maps), flow)
        return out if isinstance(maps, np.ndarray) else _like(out, maps)

    def update_rows(self, maps, flow=None):
        """:meth:`update` on numpy maps (N, C, h, w) with the global-motion rows (N, len(gaps) * 11) already
        computed (None without ``spec.flow``) -> (N, spec.dim) float32 (torch tensors on one device in, a tensor
        there out). Each frame's unit cells and their Gram matrix are computed once and kept for the later frames
        that pair with it."""
        xp = _namespace(maps)
        n, c, h, w = maps.shape
        cur = unit_cells(maps)  # (N, C, hw)
        grams = gram(cur) if self.spec.scales else None  # (N, hw, hw)
        past = list(self._history)  # oldest first, each (unit cells (C, hw), gram (hw, hw) or None)
        offset = len(past)
        seq = xp.concatenate([xp.stack([p[0] for p in past]), cur]) if past else cur  # (P + N, C, hw)
        seq_gram = None
        if grams is not None:
            seq_gram = xp.concatenate([xp.stack([p[1] for p in past]), grams]) if past else grams
        k = len(FLOW_NAMES)
        rows = []
        for g_idx, gap in enumerate(self.spec.gaps):
            idx = np.clip(np.arange(offset, offset + n) - gap, 0, None)
            if xp is not np:
                idx = xp.from_numpy(idx).to(maps.device)
            rows.append(_pair_rows(cur, seq[idx], None if seq_gram is None else seq_gram[idx], (h, w), self.spec))
            if self.spec.flow:
                part = flow[:, g_idx * k : (g_idx + 1) * k]
                rows.append(np.asarray(part, np.float32) if xp is np else part.float())
        keep = self._history.maxlen
        for i in range(max(0, n - keep), n):
            self._history.append((_copy(cur[i]), None if grams is None else _copy(grams[i])))
        return _cat(rows)


def _copy(x):
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def descriptor_permutation(spec: MotionSpec, *, flip_x: bool = False, flip_y: bool = False,
                           reverse: bool = False) -> list[int]:
    """Index permutation ``perm`` (length ``spec.dim``) such that ``d[..., perm]`` are the descriptors of the
    mirrored (``flip_x``: left-right, ``flip_y``: top-bottom) and/or time-reversed frame pair.

    Mirroring swaps displacements (dx -> -dx, dy -> -dy) and the quadrants on either side; reversing a pair
    negates the displacement and inverts the scale (it needs ``scales`` that come in pairs s, 1/s, in
    increasing order, as the default). Shift correlations of a mirrored pair equal the permuted ones up to
    the backbone's own asymmetry; of a reversed pair, exactly (cosine is symmetric). Global-motion descriptors
    swap the (+, -) parts of the quantities whose sign flips (reversed: up to the small difference between a
    similarity's inverse and its negated parameters, and the corners being found in the other frame). Used to
    augment training data without re-embedding (see ``vidgru train --motion-augment``).

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
    per_gap = spec.per_gap
    # Global motion: (+, -) pairs of shift x, shift y, zoom, rotation swap when their sign flips.
    flips = {0: flip_x != reverse, 1: flip_y != reverse, 2: reverse, 3: (flip_x != flip_y) != reverse}
    flow_perm: list[int] = []
    for q in range(4):
        flow_perm += [2 * q + 1, 2 * q] if flips[q] else [2 * q, 2 * q + 1]
    flow_perm += list(range(8, len(FLOW_NAMES)))
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
        if spec.flow:
            perm.extend(base + len(regions) * side * side + len(spec.scales) + i for i in flow_perm)
    return perm
