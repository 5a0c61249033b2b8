"""Camera paths: the moves of a virtual camera (a crop window) and where the window is in each output frame.

The definitions of the classes are from the camera's point of view (see :mod:`vidgru.train.synth`).

Coordinates: source pixel ``(col, row)`` covers ``[col, col + 1) x [row, row + 1)``, so a window with centre
``(cx, cy)`` and size ``(w, h)`` spans ``[cx - w/2, cx + w/2]`` and lies inside a ``W x H`` source when its
(possibly rotated) corners are within ``[0, W] x [0, H]``. Everything is deterministic given the seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vidgru.types import Segment

CAMERA_MOTION_CLASSES: tuple[str, ...] = (
    "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake",
)
EASINGS: tuple[str, ...] = ("linear", "ease_in_out", "accelerate", "decelerate")

# Unit direction of the crop window's centre for each directional class (x right, y down, in crop widths).
# The window moves opposite to the content: pan_left moves the window left, so content moves right.
_WINDOW_DIRECTION: dict[str, tuple[float, float]] = {
    "pan_left": (-1.0, 0.0),
    "pan_right": (1.0, 0.0),
    "tilt_up": (0.0, -1.0),
    "tilt_down": (0.0, 1.0),
}
_ZOOMS = ("zoom_in", "zoom_out")
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


def largest_width(src_w: int, src_h: int, aspect: float) -> float:
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
    largest = largest_width(src_w, src_h, aspect)
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
