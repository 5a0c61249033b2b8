"""Rendering: film a source through the moving window of a camera path, with mild image degradations."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidgru.errors import VidgruError
from vidgru.train.synth.camera import CameraMove, CameraPath, plan_camera_path, sample_move


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


def source_index(i: int, path_fps: float, source_fps: float | None, start_frame: int) -> int:
    """The source frame shown at output frame ``i`` (at ``i / path_fps`` s); ``start_frame`` for a still."""
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
        src = get(source_index(i, path.fps, source_fps, start_frame))
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
