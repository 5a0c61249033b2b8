"""Edited clips with exact shot boundaries: shots filmed from real footage, joined by cuts, fades and dissolves.

Each shot is a camera move (:func:`~vidgru.train.synth.render.render_sequence`) over a real video or photo, so
the footage's own motion carries on under a moving camera; shots of a clip come from different sources (or
from far-apart parts of one video). Consecutive shots are joined by

- ``cut``: the next shot starts on the next frame;
- ``fade``: the first shot fades to black, holds black for a moment or not at all, and the next fades in;
- ``dissolve``: a cross-fade, each frame a blend of the end of one shot and the start of the next;

and a clip may also be one motion-heavy shot with no transition at all (fast pans, zooms, shake: what a shot
detector must not call a boundary). Every boundary is known exactly: its centre in seconds and the span of
frames the transition covers. Deterministic given the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidgru.train.synth.camera import CAMERA_MOTION_CLASSES
from vidgru.train.synth.render import render_sequence, sample_degradations

TRANSITION_KINDS = ("cut", "fade", "dissolve")


@dataclass(frozen=True)
class ShotSource:
    """Real footage to film shots from: ``frames`` (H, W, 3) uint8 RGB, ``fps`` None for a photo."""

    name: str
    frames: Sequence[np.ndarray]
    fps: float | None


@dataclass(frozen=True)
class TrueBoundary:
    """A transition between two shots: ``time_s`` its centre; ``start_s``/``end_s`` the first and one past the
    last frame it changes (a cut's span is the gap between the two frames it joins)."""

    time_s: float
    kind: str
    start_s: float
    end_s: float

    def to_dict(self) -> dict:
        return {"time_s": round(self.time_s, 4), "kind": self.kind, "start_s": round(self.start_s, 4),
                "end_s": round(self.end_s, 4)}


@dataclass(frozen=True)
class EditedClip:
    """A rendered clip: ``frames`` (H, W, 3) uint8 RGB at ``fps``, its true boundaries and the shots' sources."""

    frames: list[np.ndarray]
    fps: float
    boundaries: list[TrueBoundary]
    sources: list[str]


def _shot(source: ShotSource, n_frames: int, fps: float, out_size: tuple[int, int], rng: np.random.Generator,
          *, motion_heavy: bool) -> list[np.ndarray]:
    """``n_frames`` frames of one shot: a camera move over ``source`` from a random start."""
    if motion_heavy:
        label = str(rng.choice(["pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake"]))
        ranges = {"speed_cw_per_s": (0.3, 1.0), "zoom_total": (1.5, 3.0), "shake_jitter_frac": (0.03, 0.06)}
    else:
        label = str(rng.choice(CAMERA_MOTION_CLASSES))
        ranges = {}
    start = 0
    if source.fps is not None and len(source.frames) > 1:
        span = int(math.ceil(n_frames / fps * source.fps)) + 1
        start = int(rng.integers(0, max(1, len(source.frames) - span)))
    frames, _ = render_sequence(source.frames, [(label, n_frames / fps)], out_size=out_size, fps=fps, rng=rng,
                                source_fps=source.fps, start_frame=start, crop_frac=float(rng.uniform(0.5, 0.9)),
                                degradations=sample_degradations(rng), **ranges)
    return frames[:n_frames]


def _blend(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """(1 - w) * a + w * b, uint8."""
    return np.clip(np.rint(a.astype(np.float32) * (1.0 - w) + b.astype(np.float32) * w), 0, 255).astype(np.uint8)


def join_shots(shots: Sequence[list[np.ndarray]], kinds: Sequence[str], lengths: Sequence[int], fps: float
               ) -> tuple[list[np.ndarray], list[TrueBoundary]]:
    """Join ``shots`` (lists of frames, same size) with transitions ``kinds[i]`` of ``lengths[i]`` frames between
    shot i and i + 1 (a cut's length is ignored; a fade's length is split between its fade-out and fade-in).
    Returns the frames and the true boundaries."""
    out = list(shots[0])
    boundaries = []
    for nxt, kind, length in zip(shots[1:], kinds, lengths):
        if kind not in TRANSITION_KINDS:
            raise ValueError(f"transition kind {kind!r} is not one of {', '.join(TRANSITION_KINDS)}")
        first = len(out)
        if kind == "cut":
            out.extend(nxt)
            t = first / fps
            boundaries.append(TrueBoundary(t - 0.5 / fps, kind, (first - 1) / fps, (first + 1) / fps))
            continue
        if kind == "dissolve":
            # the last `length` frames of the first shot blend into the first `length` frames of the next
            length = max(2, min(length, len(out) - 1, len(nxt) - 1))
            start = len(out) - length
            for k in range(length):
                out[start + k] = _blend(out[start + k], nxt[k], (k + 1) / (length + 1))
            out.extend(nxt[length:])
            boundaries.append(TrueBoundary((start + length / 2) / fps, kind, start / fps, (start + length) / fps))
            continue
        # fade: out over `down` frames to black, `hold` black frames, in over `up` frames
        down = max(1, length // 2)
        up = max(1, length - down)
        hold = int(round(length * 0.25)) if length >= 8 else 0
        start = len(out) - down
        for k in range(down):
            out[start + k] = _blend(out[start + k], np.zeros_like(out[start + k]), (k + 1) / (down + 1))
        out.extend(np.zeros_like(nxt[0]) for _ in range(hold))
        for k in range(up):
            out.append(_blend(np.zeros_like(nxt[k]), nxt[k], (k + 1) / (up + 1)))
        out.extend(nxt[up:])
        end = start + down + hold + up
        boundaries.append(TrueBoundary((start + end) / 2 / fps, kind, start / fps, end / fps))
    return out, boundaries


def render_edited_clip(sources: Sequence[ShotSource], rng: np.random.Generator, *, fps: float = 25.0,
                       out_size: tuple[int, int] = (320, 180), n_shots: int | None = None,
                       shot_s: tuple[float, float] = (1.0, 3.0), transition_s: tuple[float, float] = (0.2, 1.6),
                       kinds: Sequence[str] = TRANSITION_KINDS) -> EditedClip:
    """One clip of ``n_shots`` shots (default: 1 to 3; a single shot is motion-heavy) from distinct sources when
    there are enough, joined by random transitions of ``kinds`` lasting ``transition_s`` seconds.

    Args:
        sources: real footage (at least one).
        rng: the only source of randomness.
        fps, out_size: the clip's frame rate and (width, height).
        shot_s: range of shot lengths in seconds.
        transition_s: range of fade and dissolve lengths in seconds.
    """
    if not sources:
        raise ValueError("render_edited_clip needs at least one source")
    n = int(n_shots if n_shots is not None else rng.integers(1, 4))
    pick = rng.choice(len(sources), size=n, replace=len(sources) < n)
    shot_frames, names = [], []
    plan_kinds = [str(rng.choice(list(kinds))) for _ in range(n - 1)]
    plan_lengths = [max(2, int(round(rng.uniform(*transition_s) * fps))) for _ in range(n - 1)]
    for i, k in enumerate(pick):
        extra = (plan_lengths[i - 1] if i > 0 else 0) + (plan_lengths[i] if i < n - 1 else 0)
        frames = int(round(rng.uniform(*shot_s) * fps)) + extra
        shot_frames.append(_shot(sources[k], frames, fps, out_size, rng, motion_heavy=n == 1 or rng.random() < 0.3))
        names.append(sources[k].name)
    frames, boundaries = join_shots(shot_frames, plan_kinds, plan_lengths, fps)
    return EditedClip(frames, fps, boundaries, names)
