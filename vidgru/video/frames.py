"""What every backend does to a decoded frame: decide whether to keep it, downscale it, convert it to RGB.

Also the two records passed between :class:`~vidgru.video.VideoSource` and its backends: the reading
options (:class:`ReadOptions`) and what opening a source found out (:class:`OpenedSource`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_FPS = 25.0  # assumed when neither the user nor the source says


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source: the arguments of :class:`~vidgru.video.VideoSource`, checked here.

    ``fps`` is the user's frame rate (None: from the source); ``max_size`` in pixels; ``prefetch`` in frames;
    ``start_frame`` a 0-based source frame index; ``stall_timeout_s`` in seconds; ``reconnect_s`` (seconds,
    the first wait before reopening a camera or stream that dropped) and ``max_reconnects`` (attempts in a row,
    0: no reconnection).

    Raises:
        ValueError: an argument out of range, named in the message.
    """

    sample_fps: float | None = None
    every_n: int = 1
    fps: float | None = None
    max_size: int | None = None
    prefetch: int = 8
    max_frames: int | None = None
    start_frame: int = 0
    strict: bool = True
    stall_timeout_s: float = 2.0
    reconnect_s: float = 1.0
    max_reconnects: int = 0

    def __post_init__(self) -> None:
        sample_fps, every_n, fps = self.sample_fps, self.every_n, self.fps
        if sample_fps is not None and not (math.isfinite(sample_fps) and sample_fps > 0):
            raise ValueError(f"sample_fps must be a positive number of frames/s, got {sample_fps!r}")
        if isinstance(every_n, bool) or not isinstance(every_n, int) or every_n < 1:
            raise ValueError(f"every_n must be an int >= 1, got {every_n!r}")
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of frames/s, got {fps!r}")
        if self.max_size is not None and self.max_size < 1:
            raise ValueError(f"max_size must be >= 1 pixel, got {self.max_size!r}")
        if self.prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {self.prefetch!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames!r}")
        start = self.start_frame
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start_frame must be an int >= 0 (a source frame index), got {start!r}")
        if not self.stall_timeout_s > 0:
            raise ValueError(f"stall_timeout_s must be > 0 seconds, got {self.stall_timeout_s!r}")
        if not (isinstance(self.reconnect_s, (int, float)) and math.isfinite(self.reconnect_s)
                and self.reconnect_s > 0):
            raise ValueError(f"reconnect_s must be > 0 seconds, got {self.reconnect_s!r}")
        tries = self.max_reconnects
        if isinstance(tries, bool) or not isinstance(tries, int) or tries < 0:
            raise ValueError(f"max_reconnects must be an int >= 0, got {tries!r}")


@dataclass(frozen=True)
class OpenedSource:
    """What a backend learnt when it opened its source and decoded the first frame.

    ``width``/``height``: decoded size in pixels (before ``max_size``); ``fps`` in frames/s and where it
    came from (``"container"``, ``"user"``, ``"timestamps"``, ``"default"``); ``frame_count``: None when
    unknown (live sources, containers that do not say).
    """

    width: int
    height: int
    fps: float
    fps_source: str
    frame_count: int | None


def fit_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """(width, height) after downscaling so that the longer side is at most ``max_size`` pixels."""
    longer = max(width, height)
    if max_size is None or longer <= max_size:
        return width, height
    scale = max_size / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_rgb(image: np.ndarray, max_size: int | None) -> np.ndarray:
    """Decoder output (BGR (H, W, 3), BGRA (H, W, 4) or gray (H, W[, 1])) -> (h, w, 3) uint8 RGB, downscaled
    with INTER_AREA so the longer side is at most ``max_size``. The only BGR -> RGB conversion in vidgru."""
    import cv2

    if image.dtype == np.uint16:  # 16-bit PNG/TIFF from a capture backend: keep the high byte
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise ValueError(f"unsupported frame dtype {image.dtype}; expected uint8 images")
    height, width = image.shape[:2]
    new_size = fit_size(width, height, max_size)
    if new_size != (width, height):
        image = cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)  # resize first: less to convert
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"unsupported frame shape {image.shape}; expected 1, 3 or 4 channels")


class Sampler:
    """Decides which decoded frames to keep: every ``every_n``-th by index, then about ``sample_fps`` per
    second by timestamp (the first frame, then the first frame at or after each point of a fixed time grid
    t0 + k / sample_fps, so rounding never accumulates).

    ``index`` counts from the first frame offered (the backends offer frames from ``start_frame`` on and pass
    ``source index - start_frame``), so the first frame offered is always kept."""

    _EPS_S = 1e-6  # float slack so that 9 / 30 s counts as reaching the grid point 0.3 s

    def __init__(self, *, every_n: int, sample_fps: float | None, source_fps: float) -> None:
        self.every_n = every_n
        self.period_s = 1.0 / sample_fps if sample_fps is not None and sample_fps < source_fps else None
        self._origin_s: float | None = None
        self._k = 0

    def keep(self, index: int, timestamp_s: float) -> bool:
        if index % self.every_n:
            return False
        if self.period_s is None:
            return True
        if self._origin_s is None:
            self._origin_s, self._k = timestamp_s, 1
            return True
        if timestamp_s + self._EPS_S >= self._origin_s + self._k * self.period_s:
            # After a gap, jump to the first grid point past this frame instead of emitting a burst.
            self._k = math.floor((timestamp_s + self._EPS_S - self._origin_s) / self.period_s) + 1
            return True
        return False


def estimate_output_frames(opened_fps: float, frame_count: int | None, *, is_live: bool,
                           options: ReadOptions) -> int | None:
    """About how many frames a source of ``frame_count`` frames at ``opened_fps`` yields with ``options``
    (None when unknown): the count :class:`Sampler` keeps from ``start_frame`` on, bounded by ``max_frames``."""
    if is_live or frame_count is None:
        return options.max_frames
    count = max(0, frame_count - options.start_frame)  # sampling starts at start_frame
    estimate = math.ceil(count / options.every_n)
    if count and options.sample_fps is not None and options.sample_fps < opened_fps:
        last_s = (count - 1) / opened_fps
        estimate = min(estimate, math.floor(last_s * options.sample_fps + 1e-6) + 1)
    if options.max_frames is not None:
        estimate = min(estimate, options.max_frames)
    return estimate
