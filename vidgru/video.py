"""Video sources: open a video file, an image folder or glob, a webcam or a stream, and yield RGB frames.

Every source gives :class:`~vidgru.types.Frame` records: ``image`` is (H, W, 3) uint8 **RGB** (OpenCV's BGR is
converted here, exactly once), ``index`` is the 0-based index of the decoded frame in the source (before any
sampling) and ``timestamp_s`` is its time in seconds from the start of the source (strictly increasing).

Decoding runs in a background thread that fills a bounded queue, so decoding overlaps the caller's work and
memory stays bounded however long the video is. Live sources (webcams, RTSP/RTMP) keep only the newest frame
so the caller never lags behind the camera.

Example::

    from vidgru.video import VideoSource, expand_inputs

    for path in expand_inputs(["clips/", "cam.mp4"]):
        with VideoSource(path, sample_fps=5, max_size=640) as src:
            print(src.info)
            for frame in src:
                ...  # frame.image: (H, W, 3) uint8 RGB, frame.timestamp_s: seconds

OpenCV is imported lazily (inside the functions that need it) so ``import vidgru`` stays fast.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import queue
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from vidgru.errors import VideoOpenError
from vidgru.types import Frame, VideoInfo

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "CaptureLike",
    "VideoSource",
    "expand_inputs",
    "is_live_source",
    "natural_sort_key",
    "read_frames",
]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ts",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# URL schemes taken as streams; the first group is live by default (keep only the newest frame).
LIVE_URL_SCHEMES: tuple[str, ...] = ("rtsp", "rtsps", "rtmp", "rtmps")
URL_SCHEMES: tuple[str, ...] = (*LIVE_URL_SCHEMES, "http", "https")

MAX_PLAUSIBLE_FPS = 240.0  # containers that report more (or 0, NaN) are not trusted
DEFAULT_FPS = 25.0

# A decoder may fall short of the container's frame count by this much before strict mode calls the file
# truncated: max(2 frames, 2 %). Files with held/dropped frames (tree.avi: 444 in the header, 68 coded
# frames) are measured by the decoder's timestamp of the last frame, not by the number of frames decoded.
_TRUNCATION_MIN_FRAMES = 2
_TRUNCATION_FRACTION = 0.02

_FPS_PROBE_FRAMES = 12  # frames read by a second capture to estimate fps from decoder timestamps
_LIVE_MAX_READ_FAILURES = 50  # consecutive failed reads that end a live source ...
_LIVE_RETRY_WAIT_S = 0.02  # ... waiting this long between them (so at least ~1 s)
_JOIN_TIMEOUT_S = 5.0  # how long close() waits for the reader thread
_STREAM_OPEN_TIMEOUT_MS = 10_000
_STREAM_READ_TIMEOUT_MS = 5_000

SourceLike = str | int | os.PathLike


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` that :class:`VideoSource` uses (what a ``capture_factory`` returns).

    ``read``/``retrieve`` return BGR (H, W, 3), BGRA (H, W, 4) or grayscale (H, W) uint8 images.
    """

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop_id: int) -> float: ...
    def release(self) -> None: ...


# --------------------------------------------------------------------------------------------- helpers


def natural_sort_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame2.jpg`` before ``frame10.jpg``.

    Text parts compare case-insensitively; the original string breaks ties so the order is total.
    """
    parts = re.split(r"([0-9]+)", text)
    # re.split with a capture group alternates text (even positions) and digits (odd positions), so the
    # compared elements always have the same type.
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), text


def _url_scheme(text: str) -> str | None:
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if match and match.group(1).lower() in URL_SCHEMES:
        return match.group(1).lower()
    return None


def _redact(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` so it never reaches logs or error messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _is_camera_index(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text.strip()) is not None


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _is_hidden(name: str) -> bool:
    # Skips .git, .cache and macOS "._clip.mp4" resource forks (which OpenCV cannot decode).
    return name.startswith(".")


def _normalise_extensions(extensions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = [extensions]
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)


def _fit_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """(width, height) after downscaling so that the longer side is at most ``max_size`` pixels."""
    longer = max(width, height)
    if max_size is None or longer <= max_size:
        return width, height
    scale = max_size / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(image: np.ndarray, max_size: int | None) -> np.ndarray:
    """Decoder output (BGR (H, W, 3), BGRA (H, W, 4) or gray (H, W[, 1])) -> (h, w, 3) uint8 RGB, downscaled
    with INTER_AREA so the longer side is at most ``max_size``. The only BGR -> RGB conversion in vidgru."""
    import cv2

    if image.dtype == np.uint16:  # 16-bit PNG/TIFF from a capture backend: keep the high byte
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise ValueError(f"unsupported frame dtype {image.dtype}; expected uint8 images")
    height, width = image.shape[:2]
    new_size = _fit_size(width, height, max_size)
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


def _capture_get(cap: CaptureLike, prop: int) -> float:
    """``cap.get(prop)`` as a float; NaN when the backend fails or returns something odd."""
    try:
        value = float(cap.get(prop))
    except Exception:  # noqa: BLE001 - backends differ; an unreadable property is simply unknown
        return math.nan
    return value


def _plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.0 < fps <= MAX_PLAUSIBLE_FPS


def _plausible_frame_count(count: float) -> int | None:
    # Some streams report INT64_MAX or negative numbers; a billion frames is > 1 year at 30 fps.
    if math.isfinite(count) and 0 < count < 1e9:
        return int(count)
    return None


def _image_files_in(folder: Path) -> list[Path]:
    files = [
        p for p in folder.iterdir()
        if p.is_file() and not _is_hidden(p.name) and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def _glob_files(pattern: str) -> list[Path]:
    matches = (Path(m) for m in glob.glob(os.path.expanduser(pattern), recursive=True))
    return sorted((p for p in matches if p.is_file()), key=lambda p: natural_sort_key(str(p)))


def _check_file(path: str) -> None:
    """Raise VideoOpenError for a path that cannot be a readable video file."""
    p = Path(path)
    if not p.exists():
        raise VideoOpenError(f"cannot open {path}: no such file or directory")
    if not p.is_file():
        raise VideoOpenError(f"cannot open {path}: not a regular file")
    if p.stat().st_size == 0:
        raise VideoOpenError(f"cannot open {path}: file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise VideoOpenError(f"cannot open {path}: permission denied")


# ----------------------------------------------------------------------------------------- expand_inputs


def expand_inputs(
    inputs: Sequence[str | Path | int] | str | Path | int,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    recursive: bool = True,
) -> list[str]:
    """Turn command-line inputs into a list of single-stream sources, each one a valid ``VideoSource`` input.

    - a video file -> itself (any extension: OpenCV decides at open);
    - a folder -> every video under it (recursive unless ``recursive=False``, ``extensions`` compared
      case-insensitively, natural sort, hidden files and folders skipped); a folder with no videos -> each
      folder under it that directly holds images (``IMAGE_EXTENSIONS``), as one image sequence each (usually
      just the folder itself);
    - a glob pattern (``*``, ``?`` or ``[``) -> itself when it matches images (one image sequence), or the
      matched videos (natural sort) when it matches videos;
    - a camera index (int or digit string) -> itself as a string;
    - an ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http(s)://`` URL -> itself.

    Duplicates are dropped (first occurrence kept).

    Raises:
        VideoOpenError: a path that does not exist, a glob that matches nothing, or a folder without videos
            or images.

    Example::

        >>> expand_inputs(["0", "rtsp://cam/live", "clips/"])  # doctest: +SKIP
        ['0', 'rtsp://cam/live', 'clips/a.mp4', 'clips/sub/b.avi']
    """
    if isinstance(inputs, (str, int, os.PathLike)):
        inputs = [inputs]  # a bare string is a Sequence too; never iterate its characters
    exts = _normalise_extensions(extensions)
    out: list[str] = []
    for item in inputs:
        out.extend(_expand_one(item, exts, recursive))
    return list(dict.fromkeys(out))


def _expand_one(item: str | Path | int, exts: tuple[str, ...], recursive: bool) -> list[str]:
    if isinstance(item, bool):
        raise TypeError(f"expected a path, URL or camera index, got {item!r}")
    if isinstance(item, int):
        if item < 0:
            raise VideoOpenError(f"cannot open camera {item}: camera indices are >= 0")
        return [str(item)]
    text = os.fspath(item)
    if _is_camera_index(text):
        return [text.strip()]
    if _url_scheme(text):
        return [text]
    path = Path(text).expanduser()
    if path.is_file():
        return [text]
    if path.is_dir():
        return _expand_folder(path, exts, recursive)
    if _is_glob(text):
        matches = _glob_files(text)
        videos = [str(p) for p in matches if p.suffix.lower() in exts]
        if videos:
            return videos
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in matches):
            return [text]
        raise VideoOpenError(
            f"cannot open {text}: the pattern matches no videos ({', '.join(exts)}) "
            f"and no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    raise VideoOpenError(f"cannot open {text}: no such file or directory")


def _expand_folder(folder: Path, exts: tuple[str, ...], recursive: bool) -> list[str]:
    videos: list[Path] = []
    image_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [] if not recursive else [d for d in dirnames if not _is_hidden(d)]
        for name in filenames:
            if _is_hidden(name):
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix in exts:
                videos.append(Path(dirpath, name))
            elif suffix in IMAGE_EXTENSIONS:
                image_dirs.add(Path(dirpath))
    if videos:
        return [str(p) for p in sorted(videos, key=lambda p: natural_sort_key(str(p)))]
    if image_dirs:
        return [str(p) for p in sorted(image_dirs, key=lambda p: natural_sort_key(str(p)))]
    where = "under" if recursive else "in"
    raise VideoOpenError(
        f"cannot open {folder}: no videos or images found {where} it "
        f"(video extensions: {', '.join(exts)}; image extensions: {', '.join(IMAGE_EXTENSIONS)})"
    )


# ------------------------------------------------------------------------------- per-frame bookkeeping


class _Sampler:
    """Decides which decoded frames to keep: every ``every_n``-th by index, then about ``sample_fps`` per
    second by timestamp (the first frame, then the first frame at or after each point of a fixed time grid
    t0 + k / sample_fps, so rounding never accumulates)."""

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


class _FileClock:
    """Timestamps in seconds for a non-live source, from the decoded index and the decoder's POS_MSEC.

    - fps from the user or the default: ``index / fps``;
    - fps from the container: ``index / fps``, except that when the decoder's timestamp runs ahead of that
      by more than 1.5 frames (files that hold frames instead of coding them, e.g. cinepak ``tree.avi``:
      68 coded frames over 29.5 s at a nominal 15 fps) the clock follows the decoder from then on;
    - fps estimated from timestamps: the decoder's timestamps, forced strictly increasing.
    """

    def __init__(self, *, fps: float, fps_source: str, first_pos_ms: float) -> None:
        self.fps = fps
        self.fps_source = fps_source
        self.first_pos_ms = first_pos_ms if math.isfinite(first_pos_ms) else math.nan
        self.last_pos_s = math.nan  # decoder time of the latest frame, relative to the first
        self._offset_s = 0.0
        self._last_s = -math.inf

    def __call__(self, index: int, pos_ms: float) -> float:
        period = 1.0 / self.fps
        pos_s = (pos_ms - self.first_pos_ms) / 1000.0 if math.isfinite(pos_ms) else math.nan
        if math.isfinite(pos_s):
            self.last_pos_s = pos_s
        if self.fps_source == "timestamps":
            t = pos_s if math.isfinite(pos_s) else self._last_s + period
        elif self.fps_source == "container":
            t = index / self.fps + self._offset_s
            if math.isfinite(pos_s) and pos_s > t + 1.5 * period:
                self._offset_s = pos_s - index / self.fps
                t = pos_s
        else:
            t = index / self.fps
        if not t > self._last_s:
            t = self._last_s + 1e-6 if math.isfinite(self._last_s) else 0.0
        self._last_s = t
        return t


# ----------------------------------------------------------------------------------- reader -> consumer


class _End:
    """Queued by the reader when the source is exhausted (or max_frames reached)."""


class _Failure:
    """Queued by the reader when it raised; the consumer re-raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_Item = Frame | _End | _Failure


class _BoundedChannel:
    """FIFO of at most ``maxsize`` frames (files, image sequences): the reader waits when it is full."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize)
        self._stop = stop

    def put(self, item: _Item) -> bool:
        """Block until there is room; False (item not queued) once the source is being closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float) -> _Item:
        return self._queue.get(timeout=timeout)


class _LatestChannel:
    """Holds only the newest frame (live sources): a new frame replaces an unread one, which is counted as
    dropped. The end/failure marker is kept apart so it is never dropped and comes after the last frame."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._final: _End | _Failure | None = None
        self.dropped = 0

    def put(self, item: _Item) -> bool:
        with self._cond:
            if isinstance(item, Frame):
                if self._frame is not None:
                    self.dropped += 1
                self._frame = item
            else:
                self._final = item
            self._cond.notify()
        return True

    def get(self, timeout: float) -> _Item:
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._final is not None, timeout):
                raise queue.Empty
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            assert self._final is not None
            return self._final


# -------------------------------------------------------------------------------------------- VideoSource


class VideoSource:
    """One stream of frames: a video file, a folder or glob of images, a webcam or an RTSP/HTTP URL.

    Use it as a context manager and iterate it once::

        with VideoSource("clip.mp4", sample_fps=5) as src:
            print(src.info.fps, src.estimated_output_frames())
            for frame in src:  # Frame(index, timestamp_s, image (H, W, 3) uint8 RGB)
                ...

    Args:
        source: a video file (anything OpenCV decodes, GIF included); a folder of images or a glob pattern
            (read as one sequence in natural order: ``frame2`` before ``frame10``); a single image file; a
            camera index (int or digit string); an ``rtsp://``, ``rtmp://`` or ``http(s)://`` URL.
        sample_fps: keep about this many frames per second, by timestamp (the first frame, then the first
            frame at or after each multiple of ``1 / sample_fps``). ``None`` or >= the source fps keeps all.
        every_n: keep every N-th decoded frame (applied before ``sample_fps``).
        fps: the source's frame rate in frames/s, overriding the container's (for files whose header is
            wrong). Always wins; ``info.fps_source == "user"``.
        max_size: downscale (INTER_AREA, in the reader thread) so the longer side is at most this many pixels.
        prefetch: how many decoded frames may wait in the queue (files, images). Memory ~ prefetch * H*W*3.
        live: keep only the newest frame and time frames by the wall clock. ``None``: cameras and
            rtsp/rtmp URLs are live, everything else is not.
        max_frames: stop after this many *output* (kept) frames.
        strict: files: raise VideoOpenError at the end when decoding stops well short of the container's
            frame count (truncated/corrupt file); image sequences: raise on an undecodable image. With
            ``strict=False`` both are logged as warnings and the frames that decoded are kept.
        camera_backend: an OpenCV ``cv2.CAP_*`` API preference for cameras (e.g. ``cv2.CAP_V4L2``).
        capture_factory: ``f(target) -> CaptureLike`` used instead of ``cv2.VideoCapture`` (tests, custom
            backends). ``target`` is the camera index (int) or the path/URL string. No filesystem checks
            are made for a source opened through a factory.
        stall_timeout_s: a live source that delivers no frame for this many seconds (or fails 50 reads in a
            row) ends with VideoOpenError.

    Attributes:
        dropped_frames: live sources: frames replaced by a newer one before the caller took them.
        decoded_frames: frames decoded so far (before sampling).

    Raises (from ``open`` / ``__enter__``):
        VideoOpenError: missing path, empty file, not decodable, or no frame decodes.
    """

    def __init__(
        self,
        source: SourceLike,
        *,
        sample_fps: float | None = None,
        every_n: int = 1,
        fps: float | None = None,
        max_size: int | None = None,
        prefetch: int = 8,
        live: bool | None = None,
        max_frames: int | None = None,
        strict: bool = True,
        camera_backend: int | None = None,
        capture_factory: Callable[[str | int], CaptureLike] | None = None,
        stall_timeout_s: float = 2.0,
    ) -> None:
        if sample_fps is not None and not (math.isfinite(sample_fps) and sample_fps > 0):
            raise ValueError(f"sample_fps must be a positive number of frames/s, got {sample_fps!r}")
        if isinstance(every_n, bool) or not isinstance(every_n, int) or every_n < 1:
            raise ValueError(f"every_n must be an int >= 1, got {every_n!r}")
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of frames/s, got {fps!r}")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be >= 1 pixel, got {max_size!r}")
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {prefetch!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames!r}")
        if not stall_timeout_s > 0:
            raise ValueError(f"stall_timeout_s must be > 0 seconds, got {stall_timeout_s!r}")

        self.source = source
        self.sample_fps = sample_fps
        self.every_n = every_n
        self.user_fps = fps
        self.max_size = max_size
        self.prefetch = prefetch
        self.max_frames = max_frames
        self.strict = strict
        self.camera_backend = camera_backend
        self.capture_factory = capture_factory
        self.stall_timeout_s = stall_timeout_s

        self.kind, self._target, self.name = _classify(source)
        if live is None:
            live = self.kind == "camera" or (
                self.kind == "stream" and _url_scheme(str(self._target)) in LIVE_URL_SCHEMES
            )
        self.is_live = live

        self.dropped_frames = 0
        self.decoded_frames = 0
        self._state = "new"  # new -> open -> iterating -> closed
        self._info: VideoInfo | None = None
        self._source_size: tuple[int, int] | None = None
        self._cap: CaptureLike | None = None
        self._cap_lock = threading.Lock()
        self._images: list[Path] = []
        self._first: tuple[np.ndarray, float, float] | None = None  # (decoded image, POS_MSEC, wall time)
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"VideoSource({self.name!r}, kind={self.kind!r}, live={self.is_live}, state={self._state!r})"

    # ---------------------------------------------------------------------------------- open / close

    def __enter__(self) -> VideoSource:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> VideoSource:
        """Open the source and decode its first frame, so that unreadable input fails here, not mid-loop.

        Raises:
            VideoOpenError: with the path and the reason.
            RuntimeError: the source was already closed.
        """
        if self._state in ("open", "iterating"):
            return self
        if self._state == "closed":
            raise RuntimeError(f"{self.name}: this VideoSource is closed; create a new one")
        try:
            if self.kind == "images":
                self._open_images()
            else:
                self._open_capture()
        except BaseException:
            self._release_capture()
            raise
        self._state = "open"
        assert self._info is not None
        logger.debug("opened %s: %s", self.name, self._info)
        return self

    def close(self) -> None:
        """Stop the reader thread and release the capture. Safe to call more than once."""
        if self._state == "closed":
            return
        self._state = "closed"
        self._stop.set()
        thread = self._thread
        if thread is None:
            self._release_capture()
        else:
            thread.join(_JOIN_TIMEOUT_S)
            if thread.is_alive():
                # A capture must not be released while another thread is inside read(); the reader
                # releases it itself as soon as that read returns.
                logger.warning(
                    "%s: reader thread still blocked in a read after %.0f s; it will release the capture "
                    "when the read returns", self.name, _JOIN_TIMEOUT_S,
                )
        self._first = None

    def _release_capture(self) -> None:
        with self._cap_lock:
            cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def _open_images(self) -> None:
        import cv2

        target = str(self._target)
        path = Path(target).expanduser()
        if path.is_dir():
            files = _image_files_in(path)
            if not files:
                if any(p.suffix.lower() in VIDEO_EXTENSIONS for p in path.iterdir()):
                    raise VideoOpenError(
                        f"cannot open {target}: the folder holds videos, not images; open each video on its "
                        "own (expand_inputs lists them)"
                    )
                raise VideoOpenError(
                    f"cannot open {target}: no images found (extensions: {', '.join(IMAGE_EXTENSIONS)})"
                )
        elif _is_glob(target) and not path.exists():
            files = [p for p in _glob_files(target) if p.suffix.lower() in IMAGE_EXTENSIONS]
            if not files:
                raise VideoOpenError(
                    f"cannot open {target}: no images match the pattern "
                    f"(extensions: {', '.join(IMAGE_EXTENSIONS)})"
                )
        else:  # a single image file
            _check_file(str(path))
            files = [path]
        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            empty = files[0].stat().st_size == 0
            reason = "file is empty (0 bytes)" if empty else "not an image OpenCV can decode"
            raise VideoOpenError(f"cannot open {files[0]}: {reason}")
        if self.user_fps is not None:
            fps, fps_source = self.user_fps, "user"
        else:
            fps, fps_source = DEFAULT_FPS, "default"
            logger.info("%s: image sequence without fps; assuming %.0f fps (pass fps=...)", self.name, fps)
        self._images = files
        self._first = (first, math.nan, 0.0)
        self._set_info(first, fps=fps, fps_source=fps_source, frame_count=len(files))

    def _make_capture(self, target: str | int) -> CaptureLike:
        if self.capture_factory is not None:
            return self.capture_factory(target)
        import cv2

        if self.kind == "camera" and self.camera_backend is not None:
            return cv2.VideoCapture(target, self.camera_backend)
        if self.kind == "stream":
            # Timeouts keep a dead server from blocking open() or the reader thread for minutes.
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _STREAM_OPEN_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, _STREAM_READ_TIMEOUT_MS,
            ]
            return cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        return cv2.VideoCapture(target)

    def _open_capture(self) -> None:
        import cv2

        if self.kind == "file" and self.capture_factory is None:
            _check_file(str(self._target))
        cap = self._make_capture(self._target)
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
            if self.is_live:
                raise VideoOpenError(f"cannot open {self.name}: no frame within {self.stall_timeout_s:g} s")
            raise VideoOpenError(f"cannot open {self.name}: no decodable frames")
        pos_ms = _capture_get(cap, cv2.CAP_PROP_POS_MSEC)
        self._first = (image, pos_ms, time.monotonic() - self._t0)
        fps, fps_source = self._resolve_fps(cap)
        frame_count = _plausible_frame_count(_capture_get(cap, cv2.CAP_PROP_FRAME_COUNT))
        if self.is_live:
            frame_count = None
        self._set_info(image, fps=fps, fps_source=fps_source, frame_count=frame_count)

    def _read_first_frame(self, cap: CaptureLike) -> np.ndarray | None:
        # Cameras and network streams often fail their first reads while starting up: retry for a while.
        deadline = time.monotonic() + (self.stall_timeout_s if self.is_live else 0.0)
        while True:
            ok, image = cap.read()
            if ok and image is not None and image.size > 0:
                return image
            if time.monotonic() >= deadline:
                return None
            time.sleep(_LIVE_RETRY_WAIT_S)

    def _resolve_fps(self, cap: CaptureLike) -> tuple[float, str]:
        import cv2

        if self.user_fps is not None:
            return float(self.user_fps), "user"
        reported = _capture_get(cap, cv2.CAP_PROP_FPS)
        if _plausible_fps(reported):
            return reported, "container"
        if not self.is_live:
            estimated = self._estimate_fps_from_timestamps()
            if estimated is not None:
                logger.info("%s: container fps %r is implausible; %.3f fps from decoder timestamps",
                            self.name, reported, estimated)
                return estimated, "timestamps"
        logger.warning(
            "%s: container reports fps %r (outside (0, %.0f]) and decoder timestamps are unusable; assuming "
            "%.0f fps - pass fps=... to set it", self.name, reported, MAX_PLAUSIBLE_FPS, DEFAULT_FPS,
        )
        return DEFAULT_FPS, "default"

    def _estimate_fps_from_timestamps(self) -> float | None:
        """Median frame interval of the first frames' POS_MSEC, read by a second capture (grab only, no
        colour conversion) so that no frame of the main capture has to be held back."""
        import cv2

        try:
            probe = self._make_capture(self._target)
        except Exception:  # noqa: BLE001 - no estimate is an answer; the caller falls back to the default
            return None
        try:
            if not probe.isOpened():
                return None
            stamps = []
            for _ in range(_FPS_PROBE_FRAMES):
                if not probe.grab():
                    break
                stamps.append(_capture_get(probe, cv2.CAP_PROP_POS_MSEC))
        finally:
            probe.release()
        finite = [s for s in stamps if math.isfinite(s)]
        steps = [b - a for a, b in zip(finite, finite[1:], strict=False) if b > a]
        if len(steps) < 2:
            return None
        fps = 1000.0 / statistics.median(steps)
        return fps if _plausible_fps(fps) else None

    def _set_info(self, first: np.ndarray, *, fps: float, fps_source: str, frame_count: int | None) -> None:
        height, width = first.shape[:2]
        self._source_size = (width, height)
        out_w, out_h = _fit_size(width, height, self.max_size)
        self._info = VideoInfo(
            source=self.name, kind=self.kind, width=out_w, height=out_h, fps=float(fps),
            frame_count=frame_count, fps_source=fps_source, is_live=self.is_live,
        )

    # ----------------------------------------------------------------------------------------- info

    @property
    def info(self) -> VideoInfo:
        """What is known about the source. ``width``/``height`` are those of the frames this source yields
        (after ``max_size``); ``source_size`` gives the decoded size. Requires ``open()``."""
        if self._info is None:
            raise RuntimeError(f"{self.name}: call open() (or use 'with VideoSource(...)') before .info")
        return self._info

    @property
    def source_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the decoded frames before ``max_size`` downscaling."""
        if self._source_size is None:
            raise RuntimeError(f"{self.name}: call open() before reading source_size")
        return self._source_size

    def estimated_output_frames(self) -> int | None:
        """About how many frames iteration will yield (for progress bars); None when unknown (live sources,
        containers without a frame count). An estimate: files with held frames yield fewer."""
        info = self.info
        if info.is_live or info.frame_count is None:
            return self.max_frames
        count = info.frame_count
        estimate = math.ceil(count / self.every_n)
        if self.sample_fps is not None and self.sample_fps < info.fps:
            last_s = (count - 1) / info.fps
            estimate = min(estimate, math.floor(last_s * self.sample_fps + 1e-6) + 1)
        if self.max_frames is not None:
            estimate = min(estimate, self.max_frames)
        return estimate

    # ------------------------------------------------------------------------------------- iteration

    def __iter__(self) -> Iterator[Frame]:
        """Yield the kept frames. A source can be iterated once; the iteration closes it when it ends, when
        the loop breaks, or when the loop body raises.

        Raises:
            VideoOpenError: at open; at the end of a truncated file (``strict``); when a live source stops
                delivering frames.
        """
        if self._state == "iterating":
            raise RuntimeError(f"{self.name}: a VideoSource can be iterated only once; open a new one")
        self.open()  # no-op when already open; raises on a closed source
        self._state = "iterating"
        return self._iterate()

    def _iterate(self) -> Iterator[Frame]:
        channel: _BoundedChannel | _LatestChannel
        channel = _LatestChannel() if self.is_live else _BoundedChannel(self.prefetch, self._stop)
        thread = threading.Thread(
            target=self._reader_main, args=(channel,), name=f"vidgru-reader:{self.name}", daemon=True,
        )
        self._thread = thread
        thread.start()
        emitted = 0
        try:
            while True:
                try:
                    item = channel.get(timeout=0.1)
                except queue.Empty:
                    if self._stop.is_set():
                        return  # closed from elsewhere
                    if not thread.is_alive():
                        try:
                            item = channel.get(timeout=0)
                        except queue.Empty:
                            raise RuntimeError(f"{self.name}: reader thread ended without a result") from None
                    else:
                        continue
                if isinstance(channel, _LatestChannel):
                    self.dropped_frames = channel.dropped
                if isinstance(item, _End):
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
                emitted += 1
                if self.max_frames is not None and emitted >= self.max_frames:
                    return
        finally:
            self.close()
            if isinstance(channel, _LatestChannel):
                self.dropped_frames = channel.dropped

    def _reader_main(self, channel: _BoundedChannel | _LatestChannel) -> None:
        """Reader thread: decode, sample, downscale, convert to RGB, hand frames over. Any exception is
        passed to the consumer. The thread owns the capture and releases it when it ends."""
        try:
            if self.kind == "images":
                self._read_images(channel)
            elif self.is_live:
                self._read_live(channel)
            else:
                self._read_file(channel)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            if not self._stop.is_set():
                channel.put(_Failure(exc))
        finally:
            self._release_capture()

    def _take_first(self) -> tuple[np.ndarray, float, float]:
        assert self._first is not None
        first, self._first = self._first, None
        return first

    def _read_file(self, channel: _BoundedChannel | _LatestChannel) -> None:
        import cv2

        cap = self._cap
        assert cap is not None and self._info is not None
        info = self._info
        image, first_pos_ms, _ = self._take_first()
        clock = _FileClock(fps=info.fps, fps_source=info.fps_source, first_pos_ms=first_pos_ms)
        sampler = _Sampler(every_n=self.every_n, sample_fps=self.sample_fps, source_fps=info.fps)
        index = 0
        timestamp = clock(0, first_pos_ms)
        sampler.keep(0, timestamp)  # the first frame is always kept
        self.decoded_frames = 1
        if not channel.put(Frame(0, timestamp, _to_rgb(image, self.max_size))):
            return
        del image
        emitted = 1
        while not self._stop.is_set():
            if self.max_frames is not None and emitted >= self.max_frames:
                channel.put(_End())
                return  # stopped on purpose: no truncation check
            if not cap.grab():
                break
            index += 1
            timestamp = clock(index, _capture_get(cap, cv2.CAP_PROP_POS_MSEC))
            if not sampler.keep(index, timestamp):  # skipped frames are grabbed, never converted
                self.decoded_frames = index + 1
                continue
            ok, image = cap.retrieve()
            if not ok or image is None:
                break
            self.decoded_frames = index + 1
            if not channel.put(Frame(index, timestamp, _to_rgb(image, self.max_size))):
                return
            emitted += 1
        if self._stop.is_set():
            return
        self._check_complete(clock.last_pos_s)
        channel.put(_End())

    def _check_complete(self, last_pos_s: float) -> None:
        """Strict mode: fail when decoding stopped well before the container's frame count."""
        info = self._info
        assert info is not None
        expected = info.frame_count
        if expected is None:
            return
        reached = self.decoded_frames
        if info.fps_source == "container" and math.isfinite(last_pos_s) and reached > 1:
            # Count by the decoder's clock too: files that hold frames (tree.avi) code fewer frames than
            # the header's count but still play to the end. The last coded frame is assumed to be held for
            # the mean interval between coded frames (one frame interval in a constant-rate file).
            mean_interval_s = last_pos_s / (reached - 1)
            reached = max(reached, round((last_pos_s + mean_interval_s) * info.fps))
        tolerance = max(_TRUNCATION_MIN_FRAMES, math.ceil(_TRUNCATION_FRACTION * expected))
        if expected - reached <= tolerance:
            return
        message = (
            f"{self.name}: decoding stopped at frame {reached} of {expected} (truncated or corrupt file)"
        )
        if self.strict:
            raise VideoOpenError(message)
        logger.warning("%s; kept the %d frames that decoded", message, self.decoded_frames)

    def _read_images(self, channel: _BoundedChannel | _LatestChannel) -> None:
        import cv2

        assert self._info is not None
        fps = self._info.fps
        sampler = _Sampler(every_n=self.every_n, sample_fps=self.sample_fps, source_fps=fps)
        first, _, _ = self._take_first()
        emitted = 0
        for index, path in enumerate(self._images):
            if self._stop.is_set():
                return
            if self.max_frames is not None and emitted >= self.max_frames:
                break
            timestamp = index / fps
            if not sampler.keep(index, timestamp):
                continue  # not even read from disk
            image = first if index == 0 else cv2.imread(str(path), cv2.IMREAD_COLOR)
            self.decoded_frames = index + 1
            if image is None:
                message = (
                    f"cannot read {path}: not an image OpenCV can decode "
                    f"(frame {index} of {len(self._images)})"
                )
                if self.strict:
                    raise VideoOpenError(message)
                logger.warning("%s; skipped", message)
                continue
            if not channel.put(Frame(index, timestamp, _to_rgb(image, self.max_size))):
                return
            emitted += 1
        channel.put(_End())

    def _read_live(self, channel: _BoundedChannel | _LatestChannel) -> None:
        cap = self._cap
        assert cap is not None and self._info is not None
        sampler = _Sampler(every_n=self.every_n, sample_fps=self.sample_fps, source_fps=self._info.fps)
        image, _, first_s = self._take_first()
        sampler.keep(0, first_s)
        self.decoded_frames = 1
        channel.put(Frame(0, first_s, _to_rgb(image, self.max_size)))
        del image
        index, last_s = 0, first_s
        last_ok, failures = time.monotonic(), 0
        while not self._stop.is_set():
            ok = cap.grab()
            now = time.monotonic()
            if not ok:
                failures += 1
                if failures >= _LIVE_MAX_READ_FAILURES or now - last_ok >= self.stall_timeout_s:
                    if self._stop.is_set():
                        return
                    raise VideoOpenError(f"{self.name}: stream stopped delivering frames after frame {index}")
                self._stop.wait(_LIVE_RETRY_WAIT_S)
                continue
            failures, last_ok = 0, now
            index += 1
            self.decoded_frames = index + 1
            timestamp = max(now - self._t0, last_s + 1e-6)  # wall clock since open, strictly increasing
            last_s = timestamp
            if not sampler.keep(index, timestamp):
                continue
            ok, image = cap.retrieve()
            if ok and image is not None:
                channel.put(Frame(index, timestamp, _to_rgb(image, self.max_size)))


def _classify(source: SourceLike) -> tuple[str, str | int, str]:
    """(kind, what to open, name for messages) for a VideoSource input."""
    if isinstance(source, bool):
        raise TypeError(f"expected a path, URL or camera index, got {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise ValueError(f"camera index must be >= 0, got {source}")
        return "camera", source, f"camera {source}"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path, URL or camera index, got {type(source).__name__}")
    text = os.fspath(source)
    if _is_camera_index(text):
        return "camera", int(text), f"camera {int(text)}"
    if _url_scheme(text):
        return "stream", text, _redact(text)
    path = Path(text).expanduser()
    if path.is_dir():
        return "images", text, text
    if _is_glob(text) and not path.exists():
        return "images", text, text
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "images", text, text
    return "file", str(path) if text.startswith("~") else text, text


def read_frames(source: SourceLike, **kwargs: object) -> list[Frame]:
    """Decode a whole (short) source into a list of frames. Everything is held in memory - about
    ``frames * H * W * 3`` bytes (e.g. 280 frames of 1280x720 = 774 MB) - so use it for short clips, tests
    and training snippets, or bound it with ``max_frames``/``max_size``/``sample_fps``. Keyword arguments are
    those of :class:`VideoSource`.

    Raises:
        VideoOpenError: as :class:`VideoSource`.
    """
    with VideoSource(source, **kwargs) as src:  # type: ignore[arg-type]
        return list(src)


def is_live_source(source: SourceLike) -> bool:
    """True for inputs read live by default: camera indices and RTSP/RTMP URLs."""
    kind, target, _ = _classify(source)
    return kind == "camera" or (kind == "stream" and _url_scheme(str(target)) in LIVE_URL_SCHEMES)
