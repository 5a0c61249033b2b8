"""Opening an OpenCV capture (a video file, a camera, a stream): what :mod:`vidgru.video.file` and
:mod:`vidgru.video.live` share.

Opening decodes the first frame, so that unreadable input fails at open, not mid-loop, and settles the frame
rate: the user's, else the container's when plausible, else (files) one estimated from decoder timestamps,
else :data:`~vidgru.video.frames.DEFAULT_FPS` with a warning.

Files are guarded against the inputs known to crash OpenCV (:mod:`vidgru.video.guard`); cameras and streams
that drop are reopened with a capped back-off (:meth:`CaptureBackend.reconnect`) when ``max_reconnects`` > 0.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import ClassVar, Protocol

import numpy as np

from vidgru.errors import VideoOpenError
from vidgru.video.frames import DEFAULT_FPS, OpenedSource, ReadOptions
from vidgru.video.guard import OpenCvPath, crash_prone_format, probe_decode
from vidgru.video.inputs import check_file

logger = logging.getLogger(__name__)

MAX_PLAUSIBLE_FPS = 240.0  # containers that report more (or 0, NaN) are not trusted
RETRY_WAIT_S = 0.02  # between failed reads of a starting or stalling live source
_STREAM_OPEN_TIMEOUT_MS = 10_000
_STREAM_READ_TIMEOUT_MS = 5_000
RECONNECT_MAX_WAIT_S = 30.0  # the back-off between reconnection attempts doubles up to this


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` that :class:`~vidgru.video.VideoSource` uses (what a
    ``capture_factory`` returns).

    ``read``/``retrieve`` return BGR (H, W, 3), BGRA (H, W, 4) or grayscale (H, W) uint8 images.
    """

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop_id: int) -> float: ...
    def release(self) -> None: ...


CaptureFactory = Callable[[str | int], CaptureLike]


def capture_get(cap: CaptureLike, prop: int) -> float:
    """``cap.get(prop)`` as a float; NaN when the backend fails or returns something odd."""
    try:
        value = float(cap.get(prop))
    except Exception:  # noqa: BLE001 - backends differ; an unreadable property is simply unknown
        return math.nan
    return value


def plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.0 < fps <= MAX_PLAUSIBLE_FPS


def _plausible_frame_count(count: float) -> int | None:
    # Some streams report INT64_MAX or negative numbers; a billion frames is > 1 year at 30 fps.
    if math.isfinite(count) and 0 < count < 1e9:
        return int(count)
    return None


class CaptureBackend:
    """An OpenCV capture opened on ``target``; subclasses add the read loop (``read(channel, stop)``).

    Args:
        kind: ``"file"``, ``"camera"`` or ``"stream"``: how to create the capture and word errors.
        target: the path/URL string or camera index given to the capture.
        name: the source in messages (a URL with its password hidden).
        camera_backend: an OpenCV ``cv2.CAP_*`` API preference for cameras.
        capture_factory: ``f(target) -> CaptureLike`` used instead of ``cv2.VideoCapture``; no filesystem
            checks are made then.
    """

    LIVE: ClassVar[bool] = False  # live sources retry their first read and have no frame count

    def __init__(self, kind: str, target: str | int, name: str, options: ReadOptions, *,
                 camera_backend: int | None = None, capture_factory: CaptureFactory | None = None) -> None:
        self.kind = kind
        self.target = target
        self.name = name
        self.options = options
        self.camera_backend = camera_backend
        self.capture_factory = capture_factory
        self.decoded_frames = 0
        self.opened: OpenedSource | None = None
        self._cap: CaptureLike | None = None
        self._cap_lock = threading.Lock()
        self._first: tuple[np.ndarray, float, float] | None = None  # (decoded image, POS_MSEC, wall time)
        self._t0 = 0.0  # time.monotonic() at open
        self._cv_path: OpenCvPath | None = None  # files: the name given to OpenCV (a link for non-UTF-8 names)

    @property
    def can_reconnect(self) -> bool:
        """Cameras and streams are reopened after a drop when ``max_reconnects`` > 0 (files never are)."""
        return self.kind in ("camera", "stream") and self.options.max_reconnects > 0

    def make_capture(self) -> CaptureLike:
        if self.capture_factory is not None:
            return self.capture_factory(self.target)
        import cv2

        if self._cv_path is not None:
            return cv2.VideoCapture(self._cv_path.path)

        if self.kind == "camera" and self.camera_backend is not None:
            return cv2.VideoCapture(self.target, self.camera_backend)
        if self.kind == "stream":
            # Timeouts keep a dead server from blocking open() or the reader thread for minutes.
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _STREAM_OPEN_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, _STREAM_READ_TIMEOUT_MS,
            ]
            return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
        return cv2.VideoCapture(self.target)

    def open(self) -> OpenedSource:
        """Create the capture and decode the first frame.

        Raises:
            VideoOpenError: with the source and the reason.
        """
        import cv2

        if self.kind == "file" and self.capture_factory is None:
            self._guard_file(str(self.target))
        cap = self.make_capture()
        self._cap = cap
        if not cap.isOpened():
            if self.kind == "camera":
                reason = "no such camera, or it is in use"
            elif self.kind == "stream":
                reason = "stream unreachable, or not a format OpenCV can decode"
            else:
                reason = "not a video OpenCV can decode (unknown format, or a truncated or corrupt file)"
            raise VideoOpenError(f"cannot open {self.name}: {reason}")

        self._t0 = time.monotonic()
        image = self._read_first_frame(cap)
        if image is None:
            if self.LIVE:
                raise VideoOpenError(
                    f"cannot open {self.name}: no frame within {self.options.stall_timeout_s:g} s"
                )
            raise VideoOpenError(f"cannot open {self.name}: no decodable frames")
        pos_ms = capture_get(cap, cv2.CAP_PROP_POS_MSEC)
        self._first = (image, pos_ms, time.monotonic() - self._t0)
        fps, fps_source = self._resolve_fps(cap)
        frame_count = None if self.LIVE else _plausible_frame_count(capture_get(cap, cv2.CAP_PROP_FRAME_COUNT))
        height, width = image.shape[:2]
        self.opened = OpenedSource(width=width, height=height, fps=float(fps), fps_source=fps_source,
                                   frame_count=frame_count)
        return self.opened

    def _guard_file(self, path: str) -> None:
        """Check the file, give OpenCV a name it can take, and decode formats known to crash OpenCV in a child
        process first (:mod:`vidgru.video.guard`)."""
        check_file(path)
        self._cv_path = OpenCvPath(path, self.name)
        reason = crash_prone_format(self._cv_path.path)
        if reason is not None:
            probe_decode(self._cv_path.path, self.name, reason)

    def _read_first_frame(self, cap: CaptureLike, *, retry: bool | None = None) -> np.ndarray | None:
        # Cameras and network streams often fail their first reads while starting up: retry for a while.
        retry = self.LIVE if retry is None else retry
        deadline = time.monotonic() + (self.options.stall_timeout_s if retry else 0.0)
        while True:
            ok, image = cap.read()
            if ok and image is not None and image.size > 0:
                return image
            if time.monotonic() >= deadline:
                return None
            time.sleep(RETRY_WAIT_S)

    def _resolve_fps(self, cap: CaptureLike) -> tuple[float, str]:
        import cv2

        if self.options.fps is not None:
            return float(self.options.fps), "user"
        reported = capture_get(cap, cv2.CAP_PROP_FPS)
        if plausible_fps(reported):
            return reported, "container"
        estimated = self.estimate_fps()
        if estimated is not None:
            logger.info("%s: container fps %r is implausible; %.3f fps from decoder timestamps",
                        self.name, reported, estimated)
            return estimated, "timestamps"
        logger.warning(
            "%s: container reports fps %r (outside (0, %.0f]) and decoder timestamps are unusable; assuming "
            "%.0f fps - pass fps=... to set it", self.name, reported, MAX_PLAUSIBLE_FPS, DEFAULT_FPS,
        )
        return DEFAULT_FPS, "default"

    def estimate_fps(self) -> float | None:
        """A frame rate from decoder timestamps when the container's is implausible; None: not available."""
        return None

    def take_first(self) -> tuple[np.ndarray, float, float]:
        """The frame decoded at open, (image, POS_MSEC, seconds since open); handed out once."""
        assert self._first is not None
        first, self._first = self._first, None
        return first

    def capture(self) -> CaptureLike:
        assert self._cap is not None and self.opened is not None, "open() first"
        return self._cap

    def reconnect(self, stop: threading.Event, *, after_frame: int) -> np.ndarray | None:
        """Reopen a camera or stream that stopped delivering frames (reader thread only; ``can_reconnect``).

        Waits ``reconnect_s``, then twice as long after each failed attempt (at most 30 s between attempts),
        for up to ``max_reconnects`` attempts in a row. An attempt succeeds when the new capture opens and
        decodes a frame within ``stall_timeout_s``; that frame is returned and :meth:`capture` is the new
        capture. Returns None when ``stop`` is set while waiting.

        Raises:
            VideoOpenError: every attempt failed; the message says after which frame and for how long.
        """
        opts = self.options
        self._release_capture()
        started = time.monotonic()
        wait_s = opts.reconnect_s
        logger.warning("%s: no frames after frame %d; reconnecting (%d attempts at most, the first in %.3g s)",
                       self.name, after_frame, opts.max_reconnects, wait_s)
        for attempt in range(1, opts.max_reconnects + 1):
            if stop.wait(wait_s):
                return None
            image = self._try_reopen(stop)
            if image is not None:
                logger.warning("%s: reconnected after %.1f s (attempt %d); frames go on from frame %d",
                               self.name, time.monotonic() - started, attempt, after_frame + 1)
                return image
            if stop.is_set():
                return None
            logger.info("%s: reconnection attempt %d of %d failed", self.name, attempt, opts.max_reconnects)
            wait_s = min(2.0 * wait_s, RECONNECT_MAX_WAIT_S)
        raise VideoOpenError(
            f"{self.name}: stream stopped delivering frames after frame {after_frame}; gave up after "
            f"{opts.max_reconnects} reconnection attempts over {time.monotonic() - started:.0f} s"
        )

    def _try_reopen(self, stop: threading.Event) -> np.ndarray | None:
        try:
            cap = self.make_capture()
        except Exception as exc:  # noqa: BLE001 - a failed attempt, whatever the backend raised
            logger.debug("%s: reopening failed: %s", self.name, exc)
            return None
        image = self._read_first_frame(cap, retry=True) if cap.isOpened() and not stop.is_set() else None
        if image is None:
            cap.release()
            return None
        with self._cap_lock:
            self._cap = cap
        return image

    def _release_capture(self) -> None:
        with self._cap_lock:
            cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def release(self) -> None:
        """Release the capture (called by the reader thread when it ends, or by close). Idempotent."""
        self._first = None
        self._release_capture()
        if self._cv_path is not None:
            self._cv_path.remove()
