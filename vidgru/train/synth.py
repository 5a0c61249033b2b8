"""Synthetic camera-motion clips: a virtual camera (a crop window) moving over real footage.

vidgru's default clip classifier recognises camera motion in the classes of :data:`CAMERA_MOTION_CLASSES`.
Real labelled footage of every kind of move is scarce, so training clips are made by moving a crop window over
real videos and photos. The definitions are from the camera's point of view:

============  ========================================================================================
class         what the viewer sees
============  ========================================================================================
static        the camera does not move (objects in the scene may)
pan_left      the camera turns left: scene content moves RIGHT across the frame
pan_right     the camera turns right: content moves LEFT
tilt_up       the camera points up: content moves DOWN
tilt_down     the camera points down: content moves UP
zoom_in       the view narrows: content grows about the centre
zoom_out      the view widens: content shrinks
shake         hand-held jitter with no steady direction
============  ========================================================================================

The pieces, in the order data flows::

    sample_move(label, duration_s, rng)  ->  CameraMove      (source-independent: speeds in crop widths/s)
    plan_camera_path(moves, ...)         ->  CameraPath      (crop window per output frame, in source pixels)
    render_clip(source, path, ...)       ->  frames          ((H, W, 3) uint8 RGB, mildly degraded)
    generate_camera_motion_dataset(...)  ->  out_dir/<class>/<clip>.mp4 + manifest.jsonl

:func:`sample_camera_path` is the one-call version for a single-class clip, and :func:`render_sequence`
renders one continuous clip whose motion changes from segment to segment (the window carries on from where it
was).

Coordinates: source pixel ``(col, row)`` covers ``[col, col + 1) x [row, row + 1)``, so a window with centre
``(cx, cy)`` and size ``(w, h)`` spans ``[cx - w/2, cx + w/2]`` and lies inside a ``W x H`` source when its
(possibly rotated) corners are within ``[0, W] x [0, H]``. Everything is deterministic given the seeds.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vidgru.errors import ConfigError, DatasetError, VideoOpenError, VidgruError
from vidgru.types import Segment

__all__ = [
    "CAMERA_MOTION_CLASSES",
    "DEFAULT_FPS_CHOICES",
    "DEFAULT_OUT_SIZES",
    "EASINGS",
    "CameraMove",
    "CameraPath",
    "Degradations",
    "apply_degradations",
    "generate_camera_motion_dataset",
    "load_source_frames",
    "plan_camera_path",
    "render_clip",
    "render_sequence",
    "sample_camera_path",
    "sample_degradations",
    "sample_move",
    "write_clip",
]

logger = logging.getLogger(__name__)

CAMERA_MOTION_CLASSES: tuple[str, ...] = (
    "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake",
)
EASINGS: tuple[str, ...] = ("linear", "ease_in_out", "accelerate", "decelerate")
DEFAULT_OUT_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (384, 216), (256, 256), (480, 270))
DEFAULT_FPS_CHOICES: tuple[float, ...] = (10.0, 15.0, 25.0, 30.0)

# Unit direction of the crop window's centre for each directional class (x right, y down, in crop widths).
# The window moves opposite to the content: pan_left moves the window left, so content moves right.
_WINDOW_DIRECTION: dict[str, tuple[float, float]] = {
    "pan_left": (-1.0, 0.0),
    "pan_right": (1.0, 0.0),
    "tilt_up": (0.0, -1.0),
    "tilt_down": (0.0, 1.0),
}
_ZOOMS = ("zoom_in", "zoom_out")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_MAX_DRIFT = 0.25  # perpendicular drift allowed in a pan/tilt, as a fraction of the main displacement
_MAX_ZOOM_DRIFT_CW = 0.1  # centre drift allowed during a zoom, in crop widths
_MAX_STATIC_JITTER_FRAC = 0.002  # rms sensor jitter allowed for "static", in crop widths
_SHAKE_ROLL_DEG_PER_FRAC = 25.0  # shake roll rms (degrees) per unit of jitter_frac: 0.04 -> 1 degree


def _check_label(label: str) -> None:
    if label not in CAMERA_MOTION_CLASSES:
        valid = ", ".join(CAMERA_MOTION_CLASSES)
        raise ValueError(f"unknown camera-motion class {label!r}; expected one of {valid}")


@dataclass(frozen=True)
class CameraMove:
    """One camera move lasting ``duration_s``, described independently of any source size.

    Attributes:
        label: one of :data:`CAMERA_MOTION_CLASSES`.
        duration_s: how long the move takes, seconds (> 0).
        easing: how progress follows time, one of :data:`EASINGS`. All easings keep the speed between 0.4x and
            1.6x of the mean, so a move never stalls.
        shift_cw: total displacement ``(dx, dy)`` of the window centre over the move, in crop widths at the
            start of the move (x right, y down). For pans and tilts this is the main move plus a small
            perpendicular drift; the content moves the opposite way.
        zoom_total: crop-width ratio start / end: > 1 zooms in, < 1 zooms out, 1 otherwise.
        jitter_frac: rms jitter per axis as a fraction of the crop width: hand-held jitter for ``shake``
            (band-limited, returns to its start), tiny sensor jitter for ``static``; 0 otherwise.
        jitter_seed: seed of the jitter waveform.

    Raises:
        ValueError: when the numbers do not describe the class (e.g. a ``pan_left`` whose window moves right).
    """

    label: str
    duration_s: float
    easing: str = "linear"
    shift_cw: tuple[float, float] = (0.0, 0.0)
    zoom_total: float = 1.0
    jitter_frac: float = 0.0
    jitter_seed: int = 0

    def __post_init__(self) -> None:
        _check_label(self.label)
        if not self.duration_s > 0:
            raise ValueError(f"CameraMove.duration_s must be > 0, got {self.duration_s}")
        if self.easing not in EASINGS:
            raise ValueError(f"unknown easing {self.easing!r}; expected one of {', '.join(EASINGS)}")
        if not self.zoom_total > 0:
            raise ValueError(f"CameraMove.zoom_total must be > 0, got {self.zoom_total}")
        if self.jitter_frac < 0:
            raise ValueError(f"CameraMove.jitter_frac must be >= 0, got {self.jitter_frac}")
        dx, dy = self.shift_cw
        label = self.label
        if label in _WINDOW_DIRECTION:
            ux, uy = _WINDOW_DIRECTION[label]
            main = dx * ux + dy * uy
            side = abs(dx * uy - dy * ux)
            if not main > 0 or side > _MAX_DRIFT * main:
                raise ValueError(
                    f"{label}: window shift {self.shift_cw} crop widths must point along {(ux, uy)} "
                    f"with perpendicular drift <= {_MAX_DRIFT} of the main move"
                )
        elif math.hypot(dx, dy) > (_MAX_ZOOM_DRIFT_CW if label in _ZOOMS else 0.0):
            raise ValueError(f"{label}: window shift {self.shift_cw} crop widths is too large for this class")
        if (label == "zoom_in") != (self.zoom_total > 1) or (label == "zoom_out") != (self.zoom_total < 1):
            raise ValueError(f"{label}: zoom_total {self.zoom_total} does not match the class")
        if label == "shake" and self.jitter_frac <= 0:
            raise ValueError("shake: jitter_frac must be > 0")
        if label == "static" and self.jitter_frac > _MAX_STATIC_JITTER_FRAC:
            raise ValueError(f"static: jitter_frac {self.jitter_frac} > {_MAX_STATIC_JITTER_FRAC} is a shake")
        if label not in ("shake", "static") and self.jitter_frac:
            raise ValueError(f"{label}: jitter_frac must be 0")

    @property
    def speed_cw_per_s(self) -> float:
        """Mean speed of the window centre in crop widths per second (0 for zoom, shake, static)."""
        return math.hypot(*self.shift_cw) / self.duration_s

    def to_dict(self) -> dict:
        """A JSON-ready dict (the manifest's ``moves`` entries), with the derived speed added."""
        d = asdict(self)
        d["shift_cw"] = list(self.shift_cw)
        d["speed_cw_per_s"] = self.speed_cw_per_s
        return d


@dataclass(frozen=True, eq=False)  # eq=False: compare paths by their arrays explicitly, not with ==
class CameraPath:
    """The crop window for each output frame, in source pixels; all arrays are (n_frames,) float64.

    Output frame ``i`` is shown at ``i / fps`` seconds. The window is centred on ``(cx[i], cy[i])``, is
    ``width[i] x height[i]`` source pixels and is rotated by ``roll_deg[i]`` (counter-clockwise on screen when
    positive). ``moves`` are the camera moves the path was planned from, back to back; ``src_size`` is the
    ``(width, height)`` of the source the window was placed in.
    """

    fps: float
    cx: np.ndarray
    cy: np.ndarray
    width: np.ndarray
    height: np.ndarray
    roll_deg: np.ndarray
    moves: tuple[CameraMove, ...]
    src_size: tuple[int, int]

    def __post_init__(self) -> None:
        n = len(self.cx)
        for name in ("cy", "width", "height", "roll_deg"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"CameraPath.{name} must have shape ({n},) like cx, got {arr.shape}")
        if n < 1 or not self.moves:
            raise ValueError("CameraPath needs at least one frame and one move")
        if not self.fps > 0:
            raise ValueError(f"CameraPath.fps must be > 0, got {self.fps}")

    @property
    def n_frames(self) -> int:
        return len(self.cx)

    @property
    def label(self) -> str:
        """The class of a single-move path; ``"mixed"`` when the moves have different classes."""
        labels = {m.label for m in self.moves}
        return self.moves[0].label if len(labels) == 1 else "mixed"

    def segments(self) -> list[Segment]:
        """The true label over time: one :class:`~vidgru.types.Segment` per move, in seconds. The last one
        ends at the clip's duration ``n_frames / fps``."""
        out, t = [], 0.0
        for k, move in enumerate(self.moves):
            end = self.n_frames / self.fps if k == len(self.moves) - 1 else t + move.duration_s
            out.append(Segment(start_s=t, end_s=end, label=move.label, score=1.0))
            t += move.duration_s
        return out

    def corners(self) -> np.ndarray:
        """The window's four corners per frame in source pixel coordinates, (n_frames, 4, 2) as (x, y)."""
        half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) / 2  # (4, 2)
        theta = np.deg2rad(self.roll_deg)[:, None]
        local_x = half[None, :, 0] * self.width[:, None]  # (n, 4)
        local_y = half[None, :, 1] * self.height[:, None]
        # Positive roll turns the content counter-clockwise on screen, i.e. the window clockwise in the source
        # (y down): the same rotation as the output -> source matrix in render_clip.
        xs = self.cx[:, None] + np.cos(theta) * local_x - np.sin(theta) * local_y
        ys = self.cy[:, None] + np.sin(theta) * local_x + np.cos(theta) * local_y
        return np.stack([xs, ys], axis=-1)

    def fits(self, src_w: int, src_h: int, *, tol_px: float = 1e-6) -> bool:
        """Whether every window lies inside a ``src_w x src_h`` source."""
        c = self.corners()
        return bool(
            c[..., 0].min() >= -tol_px and c[..., 0].max() <= src_w + tol_px
            and c[..., 1].min() >= -tol_px and c[..., 1].max() <= src_h + tol_px
        )

    def to_dict(self) -> dict:
        """A JSON-ready summary: the moves plus the first and last window (the arrays follow from these)."""
        return {
            "fps": self.fps,
            "n_frames": self.n_frames,
            "src_size": list(self.src_size),
            "moves": [m.to_dict() for m in self.moves],
            "start_window": _window_dict(self, 0),
            "end_window": _window_dict(self, -1),
        }


def _window_dict(path: CameraPath, i: int) -> dict:
    return {
        "cx": round(float(path.cx[i]), 3), "cy": round(float(path.cy[i]), 3),
        "width": round(float(path.width[i]), 3), "height": round(float(path.height[i]), 3),
        "roll_deg": round(float(path.roll_deg[i]), 4),
    }


def _ease(easing: str, u: np.ndarray) -> np.ndarray:
    """Progress in [0, 1] for time fraction ``u`` in [0, 1]; the speed stays within 0.4x..1.6x of the mean."""
    if easing == "linear":
        return u
    if easing == "ease_in_out":
        return u - 0.6 / (2 * np.pi) * np.sin(2 * np.pi * u)  # speed 1 - 0.6 cos(2 pi u)
    if easing == "accelerate":
        return 0.4 * u + 0.6 * u**2  # speed 0.4 -> 1.6
    if easing == "decelerate":
        return 1.6 * u - 0.6 * u**2  # speed 1.6 -> 0.4
    raise ValueError(f"unknown easing {easing!r}; expected one of {', '.join(EASINGS)}")


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def sample_move(
    label: str,
    duration_s: float,
    *,
    rng: np.random.Generator,
    speed_cw_per_s: tuple[float, float] = (0.05, 0.6),
    zoom_total: tuple[float, float] = (1.1, 2.5),
    shake_jitter_frac: tuple[float, float] = (0.01, 0.04),
    max_drift: float = 0.1,
    static_jitter_max_px: float = 0.3,
    out_width: int = 320,
) -> CameraMove:
    """Draw a random :class:`CameraMove` of class ``label``.

    Args:
        label: one of :data:`CAMERA_MOTION_CLASSES`.
        duration_s: length of the move in seconds.
        rng: the only source of randomness.
        speed_cw_per_s: range of pan/tilt speeds in crop widths per second, drawn log-uniformly (subtle to
            fast).
        zoom_total: range of the total zoom factor over the move, drawn log-uniformly (inverted for zoom_out).
        shake_jitter_frac: range of the shake's rms jitter per axis, as a fraction of the crop width.
        max_drift: largest perpendicular drift of a pan/tilt, as a fraction of its main displacement.
        static_jitter_max_px: largest sensor jitter of a static camera, in output pixels.
        out_width: output width in pixels, to express ``static_jitter_max_px`` in crop widths.

    Example:
        >>> move = sample_move("pan_left", 2.0, rng=np.random.default_rng(0))
        >>> move.shift_cw[0] < 0  # the window moves left, so the content moves right
        True
    """
    _check_label(label)
    easing = str(rng.choice(EASINGS))
    jitter_seed = int(rng.integers(2**31))
    if label in _WINDOW_DIRECTION:
        ux, uy = _WINDOW_DIRECTION[label]
        main = _log_uniform(rng, *speed_cw_per_s) * duration_s
        side = rng.uniform(-max_drift, max_drift) * main
        shift = (ux * main - uy * side, uy * main + ux * side)
        return CameraMove(label, duration_s, easing, shift_cw=shift, jitter_seed=jitter_seed)
    if label in _ZOOMS:
        z = _log_uniform(rng, *zoom_total)
        drift = tuple(float(v) for v in rng.uniform(-0.02, 0.02, size=2))
        return CameraMove(label, duration_s, easing, shift_cw=drift,
                          zoom_total=z if label == "zoom_in" else 1 / z, jitter_seed=jitter_seed)
    if label == "shake":
        frac = rng.uniform(*shake_jitter_frac)
        return CameraMove(label, duration_s, "linear", jitter_frac=frac, jitter_seed=jitter_seed)
    # static: uniform jitter in [-a, a] has rms a / sqrt(3); a <= static_jitter_max_px output pixels.
    amp_px = rng.uniform(0.0, static_jitter_max_px)
    return CameraMove(label, duration_s, "linear", jitter_frac=amp_px / math.sqrt(3) / out_width,
                      jitter_seed=jitter_seed)


def _shake_waveform(seed: int, t_s: np.ndarray, duration_s: float, fps: float) -> np.ndarray:
    """Band-limited jitter (x, y, roll), each with rms ~1 and exactly 0 at the move's start and end: (n, 3).

    A sum of four sinusoids per channel between max(0.7 Hz, 1.5 cycles per move) and min(7 Hz, 0.4 fps),
    amplitudes falling with frequency like hand tremor; the straight line between the end values is subtracted
    so there is no net displacement (no steady direction).
    """
    rng = np.random.default_rng(seed)
    f_hi = max(min(7.0, 0.4 * fps), 1.0)
    f_lo = min(max(0.7, 1.5 / duration_s), f_hi)  # even a short shake goes back and forth
    out = np.zeros((len(t_s), 3))
    for ch in range(3):
        freqs = np.exp(rng.uniform(np.log(f_lo), np.log(f_hi), size=4))
        amps = rng.uniform(0.5, 1.0, size=4) / np.sqrt(freqs)
        amps /= np.sqrt(np.sum(amps**2) / 2)  # rms 1
        phases = rng.uniform(0, 2 * np.pi, size=4)

        def wave(t: np.ndarray, freqs=freqs, amps=amps, phases=phases) -> np.ndarray:
            return (amps * np.sin(2 * np.pi * freqs * t[..., None] + phases)).sum(-1)

        ends = wave(np.array([0.0, duration_s]))
        out[:, ch] = wave(t_s) - (ends[0] + (ends[1] - ends[0]) * t_s / duration_s)
    return out


@dataclass(frozen=True)
class _RelativePath:
    """A path in units of the first window's width, centred on the first window: arrays (n,)."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    roll_deg: np.ndarray


def _relative_path(moves: Sequence[CameraMove], n_frames: int, fps: float) -> _RelativePath:
    t = np.arange(n_frames) / fps
    x, y, logw, roll = (np.zeros(n_frames) for _ in range(4))
    x0 = y0 = logw0 = 0.0
    t0 = 0.0
    for k, move in enumerate(moves):
        last = k == len(moves) - 1
        sel = (t >= t0 - 1e-9) & ((t < t0 + move.duration_s - 1e-9) | last)
        u = np.clip((t[sel] - t0) / move.duration_s, 0.0, 1.0)
        p = _ease(move.easing, u)
        w_start = math.exp(logw0)
        x[sel] = x0 + move.shift_cw[0] * w_start * p
        y[sel] = y0 + move.shift_cw[1] * w_start * p
        logw[sel] = logw0 - math.log(move.zoom_total) * p
        if move.label == "shake":
            wave = _shake_waveform(move.jitter_seed, t[sel] - t0, move.duration_s, fps)
            amp = move.jitter_frac * w_start
            x[sel] += amp * wave[:, 0]
            y[sel] += amp * wave[:, 1]
            roll[sel] = _SHAKE_ROLL_DEG_PER_FRAC * move.jitter_frac * wave[:, 2]
        elif move.label == "static" and move.jitter_frac > 0:
            noise = np.random.default_rng(move.jitter_seed).uniform(-1.0, 1.0, size=(int(sel.sum()), 2))
            amp = move.jitter_frac * math.sqrt(3) * w_start
            x[sel] += amp * noise[:, 0]
            y[sel] += amp * noise[:, 1]
        x0 += move.shift_cw[0] * w_start
        y0 += move.shift_cw[1] * w_start
        logw0 -= math.log(move.zoom_total)
        t0 += move.duration_s
    return _RelativePath(x=x, y=y, w=np.exp(logw), roll_deg=roll)


def _largest_width(src_w: int, src_h: int, aspect: float) -> float:
    """Width of the largest window of ``aspect`` (width / height) that fits the source."""
    return min(float(src_w), src_h * aspect)


def plan_camera_path(
    moves: Sequence[CameraMove],
    *,
    fps: float,
    n_frames: int,
    src_size: tuple[int, int],
    out_size: tuple[int, int],
    crop_frac: float,
    rng: np.random.Generator,
    min_crop_frac: float = 0.0,
) -> CameraPath:
    """Place ``moves`` (played back to back) in a source so that every window lies inside it.

    Args:
        moves: the camera moves; each starts where the previous one ended.
        fps: output frame rate; frame ``i`` is at ``i / fps`` s.
        n_frames: number of output frames.
        src_size: source ``(width, height)`` in pixels.
        out_size: output ``(width, height)``; the window has the same aspect.
        crop_frac: the largest window of the path as a fraction of the largest window of that aspect that fits
            the source (0 < crop_frac <= 1). The window is made smaller when the motion needs the room.
        rng: draws the start position uniformly among the positions where the whole path fits.
        min_crop_frac: the smallest acceptable value of that fraction after shrinking.

    Returns:
        The :class:`CameraPath`; its speeds in crop widths per second are exactly those of ``moves``.

    Raises:
        ValueError: when the path cannot fit with a window of at least ``min_crop_frac``.
    """
    src_w, src_h = src_size
    out_w, out_h = out_size
    if not 0 < crop_frac <= 1:
        raise ValueError(f"crop_frac must be in (0, 1], got {crop_frac}")
    aspect = out_w / out_h
    rel = _relative_path(moves, n_frames, fps)
    theta = np.deg2rad(rel.roll_deg)
    half_x = rel.w * (0.5 * np.abs(np.cos(theta)) + 0.5 / aspect * np.abs(np.sin(theta)))
    half_y = rel.w * (0.5 * np.abs(np.sin(theta)) + 0.5 / aspect * np.abs(np.cos(theta)))
    span_x = float(np.max(rel.x + half_x) - np.min(rel.x - half_x))
    span_y = float(np.max(rel.y + half_y) - np.min(rel.y - half_y))
    largest = _largest_width(src_w, src_h, aspect)
    w_max_rel = float(rel.w.max())
    # All extents scale with the first window's width w0, so the largest w0 that fits has a closed form.
    w0 = min(crop_frac * largest / w_max_rel, src_w / span_x, src_h / span_y) * (1 - 1e-9)
    if w0 * w_max_rel < min_crop_frac * largest - 1e-9:
        raise ValueError(
            f"camera path {[m.label for m in moves]} does not fit a {src_w}x{src_h} source with a window of "
            f"at least {min_crop_frac:.2f} of the largest ({w0 * w_max_rel / largest:.3f} would be needed)"
        )
    lo_x, hi_x = float(np.max(half_x - rel.x)) * w0, src_w - float(np.max(rel.x + half_x)) * w0
    lo_y, hi_y = float(np.max(half_y - rel.y)) * w0, src_h - float(np.max(rel.y + half_y)) * w0
    start_x = rng.uniform(lo_x, max(lo_x, hi_x))
    start_y = rng.uniform(lo_y, max(lo_y, hi_y))
    width = rel.w * w0
    return CameraPath(
        fps=float(fps), cx=start_x + rel.x * w0, cy=start_y + rel.y * w0, width=width, height=width / aspect,
        roll_deg=rel.roll_deg, moves=tuple(moves), src_size=(int(src_w), int(src_h)),
    )


def sample_camera_path(
    label: str,
    *,
    n_frames: int,
    fps: float,
    src_size: tuple[int, int],
    out_size: tuple[int, int],
    rng: np.random.Generator,
    crop_frac: tuple[float, float] = (0.45, 0.85),
    zoom_crop_frac: tuple[float, float] = (0.7, 0.98),
    **move_ranges: tuple[float, float] | float,
) -> CameraPath:
    """A random single-class camera path of ``n_frames`` frames that fits a source of ``src_size``.

    The move lasts ``(n_frames - 1) / fps`` seconds, so the last frame shows its end. When a fast pan or tilt
    does not fit the source even with the smallest window of ``crop_frac``, its speed is lowered until it does
    (the path records the speed actually used).

    Args:
        label: one of :data:`CAMERA_MOTION_CLASSES`.
        n_frames: number of output frames (>= 2).
        fps: output frame rate.
        src_size: source ``(width, height)`` in pixels.
        out_size: output ``(width, height)``; sets the window's aspect.
        rng: the only source of randomness.
        crop_frac: range of the window size as a fraction of the largest window that fits the source.
        zoom_crop_frac: the same for the widest window of a zoom (larger, so the narrowest one is not too
            blurry after upsampling).
        **move_ranges: passed to :func:`sample_move` (``speed_cw_per_s``, ``zoom_total``, ...).

    Example:
        >>> path = sample_camera_path("zoom_in", n_frames=16, fps=15, src_size=(768, 576),
        ...                           out_size=(320, 240), rng=np.random.default_rng(0))
        >>> bool(path.width[-1] < path.width[0]) and path.fits(768, 576)
        True
    """
    if n_frames < 2:
        raise ValueError(f"a camera-motion clip needs n_frames >= 2, got {n_frames}")
    move = sample_move(label, (n_frames - 1) / fps, rng=rng, out_width=out_size[0], **move_ranges)
    lo, hi = zoom_crop_frac if label in _ZOOMS else crop_frac
    frac = rng.uniform(lo, hi)
    for _ in range(60):
        try:
            return plan_camera_path([move], fps=fps, n_frames=n_frames, src_size=src_size, out_size=out_size,
                                    crop_frac=frac, rng=rng, min_crop_frac=lo)
        except ValueError:
            move = CameraMove(move.label, move.duration_s, move.easing,
                              shift_cw=(move.shift_cw[0] * 0.85, move.shift_cw[1] * 0.85),
                              zoom_total=move.zoom_total ** 0.85, jitter_frac=move.jitter_frac * 0.85,
                              jitter_seed=move.jitter_seed)
    raise ValueError(f"cannot fit a {label} path into a {src_size[0]}x{src_size[1]} source")


# ----------------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Degradations:
    """Mild per-clip image degradations, applied in camera order: blur, brightness/contrast, noise, JPEG.

    Attributes:
        blur_sigma: Gaussian blur sigma in output pixels (0 = none).
        brightness: added to every value, in 0..255 units.
        contrast: gain about mid-grey 128.
        noise_sigma: std of additive Gaussian noise, 0..255 units, drawn afresh per frame (0 = none).
        jpeg_quality: JPEG re-compression quality 1..100 (0 = none).
        noise_seed: seed of the per-frame noise.
    """

    blur_sigma: float = 0.0
    brightness: float = 0.0
    contrast: float = 1.0
    noise_sigma: float = 0.0
    jpeg_quality: int = 0
    noise_seed: int = 0

    def __post_init__(self) -> None:
        if self.blur_sigma < 0 or self.noise_sigma < 0 or self.contrast <= 0:
            raise ValueError(f"Degradations need blur_sigma >= 0, noise_sigma >= 0, contrast > 0, got {self}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"Degradations.jpeg_quality must be in 0..100, got {self.jpeg_quality}")


def sample_degradations(rng: np.random.Generator) -> Degradations:
    """Draw mild degradations: each kind is present in about half to two thirds of the clips."""
    return Degradations(
        blur_sigma=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.5 else 0.0,
        brightness=float(rng.uniform(-20, 20)) if rng.random() < 0.6 else 0.0,
        contrast=float(rng.uniform(0.85, 1.15)) if rng.random() < 0.6 else 1.0,
        noise_sigma=float(rng.uniform(1.0, 4.0)) if rng.random() < 0.5 else 0.0,
        jpeg_quality=int(rng.integers(35, 96)) if rng.random() < 0.6 else 0,
        noise_seed=int(rng.integers(2**31)),
    )


def apply_degradations(frame: np.ndarray, deg: Degradations, noise_rng: np.random.Generator) -> np.ndarray:
    """Degrade one frame ((H, W, 3) uint8 RGB) and return a new one; ``frame`` is not changed."""
    out = frame
    if deg.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), deg.blur_sigma)
    if deg.brightness or deg.contrast != 1.0 or deg.noise_sigma > 0:
        f = out.astype(np.float32)
        f = (f - 128.0) * deg.contrast + 128.0 + deg.brightness
        if deg.noise_sigma > 0:
            f += noise_rng.normal(0.0, deg.noise_sigma, size=f.shape).astype(np.float32)
        out = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if deg.jpeg_quality > 0:
        # JPEG's chroma handling assumes BGR order in OpenCV; convert so the colour loss is the real one.
        params = [cv2.IMWRITE_JPEG_QUALITY, deg.jpeg_quality]
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise VidgruError("JPEG re-compression failed (cv2.imencode returned False)")
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out if out is not frame else frame.copy()


def _window_matrix(path: CameraPath, i: int, out_size: tuple[int, int]) -> np.ndarray:
    """2x3 matrix taking output pixel indices (u, v) to OpenCV source pixel indices (x, y), frame ``i``."""
    out_w, out_h = out_size
    sx, sy = path.width[i] / out_w, path.height[i] / out_h
    theta = math.radians(path.roll_deg[i])
    c, s = math.cos(theta), math.sin(theta)
    a = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
    # Output pixel u has its centre at u + 0.5 in edge coordinates; OpenCV indexes pixel centres, hence -0.5.
    centre_out = np.array([out_w / 2 - 0.5, out_h / 2 - 0.5])
    offset = np.array([path.cx[i] - 0.5, path.cy[i] - 0.5]) - a @ centre_out
    return np.hstack([a, offset[:, None]])


def _source_index(i: int, path_fps: float, source_fps: float | None, start_frame: int) -> int:
    if source_fps is None:
        return start_frame
    return start_frame + int(math.floor(i / path_fps * source_fps + 0.5 + 1e-9))


def render_clip(
    source: Sequence[np.ndarray] | Callable[[int], np.ndarray],
    path: CameraPath,
    *,
    out_size: tuple[int, int],
    source_fps: float | None = None,
    start_frame: int = 0,
    degradations: Degradations | None = None,
) -> list[np.ndarray]:
    """Film ``source`` through the moving window of ``path``.

    Output frame ``i`` (at ``i / path.fps`` s) takes the source frame at the same time,
    ``start_frame + round(i / path.fps * source_fps)``, so motion in the scene carries on under the moving
    camera; a sequence shorter than that holds its last frame. With ``source_fps=None`` the source is a still
    photo and frame ``start_frame`` is used every time. The window is resampled with sub-pixel accuracy
    (``cv2.warpAffine``, bilinear, reflected border), after an anti-alias blur when it is shrunk by more than
    1.3x.

    Args:
        source: source frames, each (H, W, 3) uint8 RGB, as a sequence or as a function of the frame index.
        path: the window per output frame (see :func:`sample_camera_path`).
        out_size: output ``(width, height)``; must have the window's aspect (within 2%).
        source_fps: the source's frame rate, or ``None`` for a still.
        start_frame: source frame shown at time 0.
        degradations: optional per-clip degradations (see :func:`sample_degradations`).

    Returns:
        ``path.n_frames`` frames, each (out_h, out_w, 3) uint8 RGB.
    """
    out_w, out_h = out_size
    aspect_path = float(path.width[0] / path.height[0])
    if abs(aspect_path / (out_w / out_h) - 1) > 0.02:
        raise ValueError(
            f"out_size {out_size} has aspect {out_w / out_h:.3f}, the path's window {aspect_path:.3f}"
        )
    get = source if callable(source) else _sequence_getter(source)
    noise_rng = np.random.default_rng(degradations.noise_seed if degradations else 0)
    frames = []
    for i in range(path.n_frames):
        src = get(_source_index(i, path.fps, source_fps, start_frame))
        if src.ndim != 3 or src.shape[2] != 3 or src.dtype != np.uint8:
            raise ValueError(f"source frames must be (H, W, 3) uint8 RGB, got {src.shape} {src.dtype}")
        shrink = math.sqrt(path.width[i] * path.height[i] / (out_w * out_h))
        if shrink > 1.3:  # bilinear sampling alone would alias (shimmer) when shrinking
            src = cv2.GaussianBlur(src, (0, 0), 0.5 * math.sqrt(shrink**2 - 1))
        frame = cv2.warpAffine(src, _window_matrix(path, i, out_size), (out_w, out_h),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        if degradations is not None:
            frame = apply_degradations(frame, degradations, noise_rng)
        frames.append(frame)
    return frames


def _sequence_getter(frames: Sequence[np.ndarray]) -> Callable[[int], np.ndarray]:
    if len(frames) == 0:
        raise ValueError("render_clip needs at least one source frame")

    def get(index: int) -> np.ndarray:
        return frames[min(max(index, 0), len(frames) - 1)]

    return get


def render_sequence(
    source: Sequence[np.ndarray] | Callable[[int], np.ndarray],
    moves: Sequence[CameraMove | tuple[str, float]],
    *,
    out_size: tuple[int, int],
    fps: float,
    rng: np.random.Generator,
    source_fps: float | None = None,
    start_frame: int = 0,
    crop_frac: float = 0.6,
    degradations: Degradations | None = None,
    **move_ranges: tuple[float, float] | float,
) -> tuple[list[np.ndarray], CameraPath]:
    """Render ONE continuous clip whose camera motion changes, e.g. 4 s ``pan_left`` then 4 s ``static``.

    Each move starts from the window where the previous one ended. The clip has
    ``round(total_duration_s * fps)`` frames; move ``k`` covers ``[T_k, T_k+1)`` seconds with ``T_k`` the sum
    of the earlier durations, so the exact boundaries are ``path.segments()``.

    Args:
        source: see :func:`render_clip` (its first frame, or frame ``start_frame``, gives the source size).
        moves: :class:`CameraMove` objects, or ``(label, seconds)`` pairs drawn with :func:`sample_move`.
        out_size: output ``(width, height)``.
        fps: output frame rate.
        rng: draws the ``(label, seconds)`` moves and the start position.
        source_fps, start_frame, degradations: as in :func:`render_clip`.
        crop_frac: the largest window as a fraction of the largest one that fits (shrunk if needed).
        **move_ranges: passed to :func:`sample_move` for ``(label, seconds)`` pairs.

    Returns:
        ``(frames, path)``: the (H, W, 3) uint8 RGB frames and the camera path (``path.segments()``).
    """
    planned = [m if isinstance(m, CameraMove)
               else sample_move(m[0], float(m[1]), rng=rng, out_width=out_size[0], **move_ranges)
               for m in moves]
    if not planned:
        raise ValueError("render_sequence needs at least one move")
    total_s = sum(m.duration_s for m in planned)
    n_frames = max(2, round(total_s * fps))
    first = source(start_frame) if callable(source) else _sequence_getter(source)(start_frame)
    src_size = (first.shape[1], first.shape[0])
    path = plan_camera_path(planned, fps=fps, n_frames=n_frames, src_size=src_size, out_size=out_size,
                            crop_frac=crop_frac, rng=rng)
    frames = render_clip(source, path, out_size=out_size, source_fps=source_fps, start_frame=start_frame,
                         degradations=degradations)
    return frames, path


# ----------------------------------------------------------------------------------------- sources on disk


@dataclass(frozen=True)
class _SourceInfo:
    """A probed source: ``kind`` is "video", "images" (a folder, played at ``fps``) or "still"."""

    path: Path
    kind: str
    width: int
    height: int
    fps: float | None
    frame_count: int
    image_files: tuple[Path, ...] = ()


def _bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoOpenError(f"cannot read camera-motion source image {path}")
    return _bgr_to_rgb(image)


def _probe_source(path: Path, image_folder_fps: float) -> _SourceInfo:
    """Open ``path`` once to learn its kind, size, frame rate and exact frame count (by decoding)."""
    if not path.exists():
        raise VideoOpenError(f"camera-motion source {path} does not exist")
    if path.is_dir():
        files = tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES))
        if not files:
            kinds = ", ".join(_IMAGE_SUFFIXES)
            raise VideoOpenError(f"camera-motion source folder {path} holds no images ({kinds})")
        h, w = _read_image(files[0]).shape[:2]
        return _SourceInfo(path, "images", w, h, image_folder_fps, len(files), files)
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        image = _read_image(path)
        return _SourceInfo(path, "still", image.shape[1], image.shape[0], None, 1)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoOpenError(f"cannot open camera-motion source video {path}")
        ok, first = cap.read()
        if not ok or first is None:
            raise VideoOpenError(f"camera-motion source video {path} yields no decodable frames")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = 1
        while cap.grab():  # the container's frame count is unreliable (tree.avi says 444, has 68)
            count += 1
    finally:
        cap.release()
    if not 0 < fps <= 240:
        raise VideoOpenError(f"camera-motion source video {path} reports an implausible frame rate {fps}")
    return _SourceInfo(path, "video", first.shape[1], first.shape[0], float(fps), count)


def _read_frames(info: _SourceInfo, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The requested source frames ((H, W, 3) uint8 RGB) by index; only these are kept in memory."""
    wanted = sorted(set(indices))
    if info.kind == "still":
        image = _read_image(info.path)
        return {i: image for i in wanted}
    if info.kind == "images":
        out = {}
        for i in wanted:
            image = _read_image(info.image_files[i])
            if image.shape[:2] != (info.height, info.width):
                raise VideoOpenError(f"{info.image_files[i]} is {image.shape[1]}x{image.shape[0]}, the other "
                                     f"images of {info.path} are {info.width}x{info.height}")
            out[i] = image
        return out
    cap = cv2.VideoCapture(str(info.path))
    out = {}
    try:
        index = 0
        for target in wanted:
            while index < target:  # sequential grabbing: seeking is inexact for some codecs
                if not cap.grab():
                    raise VideoOpenError(f"{info.path} ended at frame {index}, before frame {target}")
                index += 1
            ok, frame = cap.read()
            if not ok:
                raise VideoOpenError(f"cannot decode frame {target} of {info.path}")
            out[target] = _bgr_to_rgb(frame)
            index += 1
    finally:
        cap.release()
    return out


def load_source_frames(
    path: str | Path, *, start_frame: int = 0, count: int | None = None, image_folder_fps: float = 10.0,
) -> tuple[list[np.ndarray], float | None]:
    """Read ``count`` consecutive frames of a camera-motion source (a video, image folder or still photo).

    A small reader for building clips; fewer frames come back when the source ends first. Returns the
    frames ((H, W, 3) uint8 RGB) and the source frame rate (``None`` for a still photo: one frame).

    Raises:
        VideoOpenError: the source cannot be read (the message names it).
    """
    info = _probe_source(Path(path), image_folder_fps)
    last = info.frame_count if count is None else min(info.frame_count, start_frame + count)
    frames = _read_frames(info, range(start_frame, last))
    return [frames[i] for i in sorted(frames)], info.fps


def _write_mp4(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """Write RGB frames as mp4v to a temporary name and rename on success."""
    h, w = frames[0].shape[:2]
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise VidgruError(f"cannot open a video writer for {path} (mp4v, {w}x{h} at {fps} fps)")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)


def write_clip(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write (H, W, 3) uint8 RGB frames to ``path`` as an mp4v ``.mp4`` (atomically); returns the path."""
    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_mp4(path, frames, fps)
    return path


# ---------------------------------------------------------------------------------------------- data sets


def _clip_seed(seed: int, label: str, k: int) -> int:
    # Keyed on the class's place in CAMERA_MOTION_CLASSES, so a subset of classes reproduces the same clips.
    seq = np.random.SeedSequence([seed, CAMERA_MOTION_CLASSES.index(label), k])
    return int(seq.generate_state(1)[0])


def _make_clip(
    info: _SourceInfo,
    label: str,
    clip_seed: int,
    *,
    n_frames: tuple[int, int],
    fps_choices: Sequence[float],
    out_sizes: Sequence[tuple[int, int]],
    degrade: bool,
    crop_frac: tuple[float, float],
) -> tuple[list[np.ndarray], dict]:
    """Render one clip; every random choice derives from ``clip_seed``. Returns frames and manifest fields."""
    rng = np.random.default_rng(clip_seed)
    n = int(rng.integers(n_frames[0], n_frames[1] + 1))
    fps = float(fps_choices[int(rng.integers(len(fps_choices)))])
    out_size = tuple(int(v) for v in out_sizes[int(rng.integers(len(out_sizes)))])
    path = sample_camera_path(label, n_frames=n, fps=fps, src_size=(info.width, info.height),
                              out_size=out_size, rng=rng, crop_frac=crop_frac)
    degradations = sample_degradations(rng) if degrade else None
    if info.fps is None:
        start, needed = 0, [0]
    else:
        span = _source_index(n - 1, fps, info.fps, 0)
        start = int(rng.integers(0, max(0, info.frame_count - 1 - span) + 1))
        needed = [min(_source_index(i, fps, info.fps, start), info.frame_count - 1) for i in range(n)]
    cache = _read_frames(info, needed)
    last = max(cache)
    frames = render_clip(lambda i: cache[min(i, last)], path, out_size=out_size, source_fps=info.fps,
                         start_frame=start, degradations=degradations)
    record = {
        "n_frames": n,
        "fps": fps,
        "out_size": list(out_size),
        "source_start_frame": start,
        "source_fps": info.fps,
        "source_kind": info.kind,
        "speed_cw_per_s": path.moves[0].speed_cw_per_s,
        "zoom_total": path.moves[0].zoom_total,
        "easing": path.moves[0].easing,
        "crop_frac_of_largest": float(path.width.max() / _largest_width(info.width, info.height,
                                                                        out_size[0] / out_size[1])),
        "path": path.to_dict(),
        "degradations": asdict(degradations) if degradations else None,
    }
    return frames, record


def generate_camera_motion_dataset(
    sources: Sequence[str | Path],
    out_dir: str | Path,
    *,
    clips_per_class: int,
    n_frames: tuple[int, int] = (16, 48),
    fps_choices: Sequence[float] = DEFAULT_FPS_CHOICES,
    out_sizes: Sequence[tuple[int, int]] = DEFAULT_OUT_SIZES,
    seed: int = 0,
    classes: Sequence[str] = CAMERA_MOTION_CLASSES,
    crop_frac: tuple[float, float] = (0.45, 0.85),
    degrade: bool = True,
    image_folder_fps: float = 10.0,
    progress: bool = False,
) -> Path:
    """Write a folder-of-classes camera-motion data set rendered from real footage.

    Layout: ``out_dir/<class>/<class>_<k:05d>.mp4`` (mp4v) and ``out_dir/manifest.jsonl`` with one JSON record
    per clip: the clip's relative path, class, source, start frame, seeds, frame count, fps, size, the camera
    path (moves with speed, easing, zoom, jitter; first and last window) and the degradations. Every random
    choice of a clip derives from its own ``seed`` alone, so the same call rewrites identical clips.
    Clip ``k`` of class number ``c`` (in ``classes``) is cut from source ``(c + k) mod len(sources)``, so
    clips are spread evenly over sources and classes.

    Args:
        sources: video files, folders of images (played at ``image_folder_fps`` in name order) or still
            photos (jpg/png/...). Moving content in videos keeps moving under the virtual camera.
        out_dir: created if missing; an existing manifest is replaced.
        clips_per_class: clips to write per class (>= 1).
        n_frames: inclusive range of clip lengths in frames.
        fps_choices: output frame rates to choose from.
        out_sizes: output ``(width, height)`` sizes to choose from.
        seed: data set seed; clip seeds derive from it, the class and the clip number.
        classes: a subset of :data:`CAMERA_MOTION_CLASSES`.
        crop_frac: range of the window size relative to the largest window that fits the source.
        degrade: apply random mild degradations (noise, blur, JPEG, brightness/contrast) per clip.
        image_folder_fps: frame rate given to image-folder sources.
        progress: show a tqdm progress bar.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: an unknown class or a bad range.
        DatasetError: no sources.
        VideoOpenError: a source cannot be read (the message names it).

    Example:
        >>> generate_camera_motion_dataset(["plaza.avi", "photos/cat.jpg"], "data/motion", clips_per_class=50)
        ... # doctest: +SKIP
    """
    unknown = [c for c in classes if c not in CAMERA_MOTION_CLASSES]
    if unknown or not classes:
        valid = ", ".join(CAMERA_MOTION_CLASSES)
        raise ConfigError(f"unknown camera-motion classes {unknown}; expected some of {valid}")
    if clips_per_class < 1:
        raise ConfigError(f"clips_per_class must be >= 1, got {clips_per_class}")
    if not 2 <= n_frames[0] <= n_frames[1]:
        raise ConfigError(f"n_frames must be a range (lo, hi) with 2 <= lo <= hi, got {n_frames}")
    if not fps_choices or not out_sizes:
        raise ConfigError("fps_choices and out_sizes must not be empty")
    if not sources:
        raise DatasetError("generate_camera_motion_dataset needs at least one source")
    infos = [_probe_source(Path(s), image_folder_fps) for s in sources]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(c, label, k) for k in range(clips_per_class) for c, label in enumerate(classes)]
    records = []
    for c, label, k in _progress(jobs, progress, desc="camera-motion clips"):
        info = infos[(c + k) % len(infos)]
        clip_seed = _clip_seed(seed, label, k)
        try:
            frames, fields = _make_clip(info, label, clip_seed, n_frames=n_frames, fps_choices=fps_choices,
                                        out_sizes=out_sizes, degrade=degrade, crop_frac=crop_frac)
        except ValueError as err:
            raise DatasetError(f"cannot make a {label} clip from {info.path}: {err}") from err
        clip_rel = Path(label) / f"{label}_{k:05d}.mp4"
        write_clip(out_dir / clip_rel, frames, fields["fps"])
        records.append({"clip": clip_rel.as_posix(), "label": label, "source": str(info.path),
                        "seed": clip_seed, "dataset_seed": seed, **fields})
    manifest = out_dir / "manifest.jsonl"
    tmp = manifest.with_name(".manifest.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    os.replace(tmp, manifest)
    logger.info("wrote %d camera-motion clips from %d sources to %s", len(records), len(infos), out_dir)
    return out_dir


def _progress(items: list, enabled: bool, desc: str) -> Iterator:
    if not enabled:
        return iter(items)
    from tqdm import tqdm  # only the commands that drive work show progress

    return iter(tqdm(items, desc=desc, unit="clip"))
