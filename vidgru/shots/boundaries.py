"""Shot boundaries from per-frame embeddings: change features, the parameter-free detector, and shots.

Everything here is numpy and reads only what classification already computed for every sampled frame: the
pooled appearance embedding (the first ``appearance_dim`` columns) and, when present, the frame-pair motion
descriptors after it (:mod:`vidgru.motion_features`). A hard cut makes consecutive embeddings unlike each other
and breaks the frame-pair descriptors (no shift matches, no corner is tracked); a fade passes through frames
whose embedding is that of a black frame; a dissolve changes the embedding steadily over several frames.

Frame ``i``'s features describe the change from frame ``i - 1`` to frame ``i``; a boundary found at frames
``i..j`` lies between ``timestamps_s[i - 1]`` and ``timestamps_s[j]``, and is put half-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidgru.motion_features import FLOW_NAMES, SHIFT_RADIUS, MotionSpec
from vidgru.types import Shot

TRANSITIONS = ("cut", "fade", "dissolve")
FEATURE_NAMES = ("change_1", "change_2", "change_4", "change_next_1", "change_next_2", "change_next_4",
                 "blackness", "norm_ratio", "best_shift_1", "best_shift_2", "tracked_1", "fit_1", "tracked_2",
                 "fit_2", "local_change_ratio")
DARK_SIMILARITY = 0.8  # cosine similarity to a black frame's embedding from which a frame counts as black
MAX_BLACK_S = 2.0  # a longer run of black frames is a dark shot, not the black of a fade
# Least appearance change across a learned boundary (cosine distance between the frames just outside it). Every
# transition in the training clips changes more than 0.32 (cuts 0.46, fades 0.32, dissolves 0.40 at least); a fast
# pan over a cartoon the model took for a dissolve changed 0.27.
MIN_BOUNDARY_CHANGE = 0.3
_EPS = 1e-6


@dataclass(frozen=True)
class Boundary:
    """A transition found between shots: ``time_s`` its centre, ``kind`` cut, fade or dissolve, ``score`` in
    [0, 1]."""

    time_s: float
    kind: str
    score: float


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _EPS)


def _change(unit: np.ndarray, gap: int) -> np.ndarray:
    """(N,) cosine distance between frame i and frame i - gap (0 where i < gap)."""
    out = np.zeros(len(unit), np.float32)
    if len(unit) > gap:
        out[gap:] = 1.0 - np.sum(unit[gap:] * unit[:-gap], axis=1)
    return out


def _motion_columns(spec: MotionSpec | None, gap_index: int) -> tuple[slice, int | None, int | None]:
    """Within the motion descriptors: the whole-map shift correlations of gap ``gap_index``, and the columns of
    its tracked and fitted corner shares (None without global motion)."""
    base = gap_index * spec.per_gap
    shifts = slice(base, base + (2 * SHIFT_RADIUS + 1) ** 2)
    if not spec.flow:
        return shifts, None, None
    flow0 = base + spec.per_gap - len(FLOW_NAMES)
    return shifts, flow0 + FLOW_NAMES.index("tracked_share"), flow0 + FLOW_NAMES.index("fit_share")


def change_features(embeddings: np.ndarray, *, appearance_dim: int, motion: MotionSpec | None,
                    black: np.ndarray) -> np.ndarray:
    """Per-frame change features (N, len(FEATURE_NAMES)) float32 from embeddings (N, D).

    Args:
        embeddings: (N, D) float32, appearance then motion descriptors, one row per sampled frame in order.
        appearance_dim: how many leading columns are the pooled appearance embedding.
        motion: the motion descriptors' spec (None when there are none: those features are then 0).
        black: (appearance_dim,) the appearance embedding of an all-black frame.
    """
    n = len(embeddings)
    app = np.asarray(embeddings[:, :appearance_dim], np.float32)
    unit = _unit(app)
    feats = np.zeros((n, len(FEATURE_NAMES)), np.float32)
    for k, gap in enumerate((1, 2, 4)):
        back = _change(unit, gap)
        feats[:, k] = back
        nxt = np.zeros(n, np.float32)  # change from frame i to frame i + gap - 1 (forward-looking context)
        if n > gap:
            nxt[: n - gap] = back[gap:]
        feats[:, 3 + k] = nxt
    black_unit = black / max(float(np.linalg.norm(black)), _EPS)
    feats[:, 6] = unit @ black_unit.astype(np.float32)
    norms = np.linalg.norm(app, axis=1)
    feats[:, 7] = norms / max(float(np.median(norms)) if n else 1.0, _EPS)
    # without motion descriptors the frame-pair columns stay 0: no evidence of continuation, so no veto on a cut
    if motion is not None:
        desc = embeddings[:, appearance_dim:]
        gaps = list(motion.gaps)
        for col, gap in ((8, 1), (9, 2)):
            if gap in gaps:
                shifts, _, _ = _motion_columns(motion, gaps.index(gap))
                feats[:, col] = desc[:, shifts].max(axis=1)
        for col, gap in ((10, 1), (12, 2)):
            if gap in gaps and motion.flow:
                _, tracked, fit = _motion_columns(motion, gaps.index(gap))
                feats[:, col] = desc[:, tracked]
                feats[:, col + 1] = desc[:, fit]
        feats[0, 8:14] = 1.0  # the first frame has no predecessor: no change
    feats[:, 14] = feats[:, 0] / (_local_median(feats[:, 0], 8) + 0.02)
    return feats


def _local_median(x: np.ndarray, radius: int) -> np.ndarray:
    """(N,) median of ``x`` over the ``radius`` frames on each side of each frame, the frame itself left out."""
    n = len(x)
    out = np.zeros(n, np.float32)
    for i in range(n):
        around = np.concatenate([x[max(0, i - radius): i], x[i + 1: i + 1 + radius]])
        out[i] = float(np.median(around)) if len(around) else 0.0
    return out


def detect_rules(features: np.ndarray, timestamps_s: np.ndarray) -> list[Boundary]:
    """The parameter-free detector (no learnt weights): hard cuts and fades through black.

    - a **cut** at frame i: its appearance change from frame i - 1 is large (cosine distance >= 0.25), at least
      2.5 times the median change of the 8 frames on each side, and the frame-pair descriptors find no
      continuation (best shift correlation below 0.5);
    - a **fade**: a run of black frames (cosine similarity to a black frame's embedding >= 0.8, at most 2 s
      long: a longer one is a dark shot) with content on both sides; the boundary is put at the run's centre,
      and no cut is looked for during the darkening and brightening around it.

    Dissolves are left to the learned detector (a gradual change looks too much like fast camera motion for a
    fixed rule). Returns boundaries in time order.
    """
    n = len(features)
    out: list[Boundary] = []
    dark = features[:, 6] >= DARK_SIMILARITY
    quiet = np.zeros(n, bool)  # frames of a fade (or a fade-in/out at either end): no cut is looked for there
    i = 0
    while i < n:
        if not dark[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and dark[j + 1]:
            j += 1
        if timestamps_s[j] - timestamps_s[i] <= MAX_BLACK_S:  # longer: a dark shot, whose edges may be cuts
            lo, hi = i, j
            while lo > 1 and features[lo - 1, 6] > features[lo - 2, 6] + 0.02:  # the darkening before the run
                lo -= 1
            while hi < n - 2 and features[hi + 1, 6] > features[hi + 2, 6] + 0.02:  # the brightening after it
                hi += 1
            quiet[max(lo - 1, 0): hi + 2] = True
            if i > 0 and j < n - 1:  # content before and after: a fade between shots
                out.append(Boundary(float(0.5 * (timestamps_s[i] + timestamps_s[j])), "fade", 1.0))
        i = j + 1
    change, shift = features[:, 0], features[:, 8]
    around = _local_median(change, 8)
    for i in range(1, n):
        if change[i] < 0.25 or change[i] < 2.5 * around[i] or shift[i] >= 0.5 or quiet[i]:
            continue
        out.append(Boundary(float(0.5 * (timestamps_s[i - 1] + timestamps_s[i])), "cut",
                            float(min(1.0, change[i] / 0.5))))
    return sorted(out, key=lambda b: b.time_s)


def boundaries_from_probabilities(probs: np.ndarray, timestamps_s: np.ndarray, *, threshold: float = 0.5,
                                  appearance: np.ndarray | None = None, min_change: float = MIN_BOUNDARY_CHANGE
                                  ) -> list[Boundary]:
    """Per-frame transition probabilities (N, 1 + len(TRANSITIONS)) (column 0: no transition) -> boundaries.

    Each run of frames whose transition probability (1 - column 0) reaches ``threshold`` is one boundary,
    centred on the run's probability-weighted middle (frame i stands for the change from frame i - 1 to i, so
    a one-frame run is half-way between them); its kind is the transition with the most probability over the
    run, its score the run's peak. With ``appearance`` (N, C), a run is kept only when the frames just before
    and just after it are unlike each other (cosine distance >= ``min_change``): a transition joins two shots,
    and a fast camera move that only looks like a dissolve does not get that far in appearance."""
    n = len(probs)
    p = 1.0 - probs[:, 0]
    out = []
    i = 0
    while i < n:
        if p[i] < threshold or i == 0:
            i += 1
            continue
        j = i
        while j + 1 < n and p[j + 1] >= threshold:
            j += 1
        if appearance is not None:
            after = min(j + 1, n - 1)
            a, b = appearance[i - 1], appearance[after]
            d = 1.0 - float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), _EPS)
            if d < min_change:
                i = j + 1
                continue
        w = p[i: j + 1]
        mids = 0.5 * (timestamps_s[i - 1: j] + timestamps_s[i: j + 1])
        kind = TRANSITIONS[int(probs[i: j + 1, 1:].sum(axis=0).argmax())]
        out.append(Boundary(float(np.sum(w * mids) / np.sum(w)), kind, float(w.max())))
        i = j + 1
    return out


def shots_from_boundaries(boundaries: Sequence[Boundary], duration_s: float) -> list[Shot]:
    """Boundaries (any order) -> shots covering [0, duration_s]; boundaries outside (0, duration_s) dropped."""
    inside = sorted((b for b in boundaries if 0 < b.time_s < duration_s), key=lambda b: b.time_s)
    shots = []
    start, kind, score = 0.0, "start", 1.0
    for b in inside:
        shots.append(Shot(start, b.time_s, kind, score))
        start, kind, score = b.time_s, b.kind, b.score
    shots.append(Shot(start, max(duration_s, start), kind, score))
    return shots
