"""VideoSource: one stream of frames, whatever the source kind; it picks a backend and runs its reader thread.

Backends: :class:`~vidgru.video.file.FileCapture` (container files, and cameras/streams read with
``live=False``), :class:`~vidgru.video.images.ImageSequence` (image folders, globs, single images) and
:class:`~vidgru.video.live.LiveCapture` (cameras and RTSP/RTMP streams, and any capture with ``live=True``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from vidgru.types import Frame, VideoInfo
from vidgru.video.capture import CaptureFactory
from vidgru.video.file import FileCapture
from vidgru.video.frames import ReadOptions, estimate_output_frames, fit_size
from vidgru.video.images import ImageSequence
from vidgru.video.inputs import SourceLike, classify_source, live_by_default
from vidgru.video.live import LiveCapture
from vidgru.video.reader import ReaderThread

logger = logging.getLogger(__name__)


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
        start_frame: files and image sequences: yield only frames whose source index is at least this
            (0-based). The frames before it are skipped cheaply - grabbed but never retrieved or converted
            (files), not even read (images) - and yielded frames keep their ``index`` and ``timestamp_s``
            counted from the true start of the source. Sampling (``every_n``, ``sample_fps``) and
            ``max_frames`` count from ``start_frame``, so the first frame yielded is frame ``start_frame``;
            with the default sampling the frames are exactly those of a read from 0 with the earlier ones
            dropped. A start past the end yields nothing. Live sources refuse it (ValueError).
        strict: files: raise VideoOpenError at the end when decoding stops well short of the container's
            frame count (truncated/corrupt file); image sequences: raise on an undecodable image. With
            ``strict=False`` both are logged as warnings and the frames that decoded are kept.
        camera_backend: an OpenCV ``cv2.CAP_*`` API preference for cameras (e.g. ``cv2.CAP_V4L2``).
        capture_factory: ``f(target) -> CaptureLike`` used instead of ``cv2.VideoCapture`` (tests, custom
            backends). ``target`` is the camera index (int) or the path/URL string. No filesystem checks
            are made for a source opened through a factory.
        stall_timeout_s: a live source that delivers no frame for this many seconds (or fails 50 reads in a
            row) has dropped: it is reconnected (``max_reconnects``) or ends with VideoOpenError.
        reconnect_s: cameras and streams that drop: seconds to wait before the first attempt to reopen them;
            the wait doubles after each failed attempt, up to 30 s.
        max_reconnects: cameras and streams: attempts to reopen in a row before giving up with VideoOpenError
            (0, the default: end at the first drop). A successful attempt starts the count again. Frames go on
            with the next index; live sources keep wall-clock timestamps (frames after an outage are later by
            it), sources read with ``live=False`` continue from the last timestamp plus the outage. Streams
            read with ``live=False`` are reopened only when they have no frame count (an ``http://`` clip
            that ends has ended). Files are never reopened.

    Attributes:
        dropped_frames: live sources: frames replaced by a newer one before the caller took them.
        decoded_frames: frames decoded so far (before sampling; those skipped before ``start_frame`` included
            for files).

    Raises:
        ValueError: (from the constructor) an argument out of range, or ``start_frame`` on a live source.
        VideoOpenError: (from ``open`` / ``__enter__``) missing path, empty file, not decodable, no frame
            decodes, or a file whose decoding crashes OpenCV (checked in a child process for the formats known
            to, see :mod:`vidgru.video.guard`).
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
        start_frame: int = 0,
        strict: bool = True,
        camera_backend: int | None = None,
        capture_factory: CaptureFactory | None = None,
        stall_timeout_s: float = 2.0,
        reconnect_s: float = 1.0,
        max_reconnects: int = 0,
    ) -> None:
        self.options = ReadOptions(sample_fps=sample_fps, every_n=every_n, fps=fps, max_size=max_size,
                                   prefetch=prefetch, max_frames=max_frames, start_frame=start_frame,
                                   strict=strict, stall_timeout_s=stall_timeout_s, reconnect_s=reconnect_s,
                                   max_reconnects=max_reconnects)  # ValueError if bad
        self.source = source
        self.sample_fps = sample_fps
        self.every_n = every_n
        self.user_fps = fps
        self.max_size = max_size
        self.prefetch = prefetch
        self.max_frames = max_frames
        self.start_frame = start_frame
        self.strict = strict
        self.camera_backend = camera_backend
        self.capture_factory = capture_factory
        self.stall_timeout_s = stall_timeout_s

        self.kind, target, self.name = classify_source(source)
        self.is_live = live_by_default(self.kind, target) if live is None else live
        if start_frame and self.is_live:
            raise ValueError(
                f"start_frame={start_frame}: {self.name} is read live (newest frame first), so it cannot start "
                "at a frame; read it with live=False, or drop start_frame"
            )
        self._backend: ImageSequence | FileCapture | LiveCapture
        if self.kind == "images":
            self._backend = ImageSequence(str(target), self.name, self.options)
        else:
            backend_cls = LiveCapture if self.is_live else FileCapture
            self._backend = backend_cls(self.kind, target, self.name, self.options,
                                        camera_backend=camera_backend, capture_factory=capture_factory)
        self._state = "new"  # new -> open -> iterating -> closed
        self._info: VideoInfo | None = None
        self._source_size: tuple[int, int] | None = None
        self._reader: ReaderThread | None = None

    def __repr__(self) -> str:
        return f"VideoSource({self.name!r}, kind={self.kind!r}, live={self.is_live}, state={self._state!r})"

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
            opened = self._backend.open()
        except BaseException:
            self._backend.release()
            raise
        self._source_size = (opened.width, opened.height)
        out_w, out_h = fit_size(opened.width, opened.height, self.max_size)
        self._info = VideoInfo(
            source=self.name, kind=self.kind, width=out_w, height=out_h, fps=opened.fps,
            frame_count=opened.frame_count, fps_source=opened.fps_source, is_live=self.is_live,
        )
        self._state = "open"
        logger.debug("opened %s: %s", self.name, self._info)
        return self

    def close(self) -> None:
        """Stop the reader thread and release the capture. Safe to call more than once."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._reader is None:
            self._backend.release()
        else:
            self._reader.stop()  # the reader thread releases the capture when it ends

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

    @property
    def decoded_frames(self) -> int:
        """Frames decoded so far (before sampling)."""
        return self._backend.decoded_frames

    @property
    def dropped_frames(self) -> int:
        """Live sources: frames replaced by a newer one before the caller took them."""
        return self._reader.dropped if self._reader is not None else 0

    def estimated_output_frames(self) -> int | None:
        """About how many frames iteration will yield (for progress bars); None when unknown (live sources,
        containers without a frame count). An estimate: files with held frames yield fewer."""
        info = self.info
        return estimate_output_frames(info.fps, info.frame_count, is_live=info.is_live, options=self.options)

    def __iter__(self) -> Iterator[Frame]:
        """Yield the kept frames. A source can be iterated once; the iteration closes it when it ends, when
        the loop breaks, or when the loop body raises.

        Raises:
            VideoOpenError: at open; at the end of a truncated file (``strict``); when a live source stops
                delivering frames (after ``max_reconnects`` failed attempts to reopen it).
        """
        if self._state == "iterating":
            raise RuntimeError(f"{self.name}: a VideoSource can be iterated only once; open a new one")
        self.open()  # no-op when already open; raises on a closed source
        self._state = "iterating"
        return self._iterate()

    def _iterate(self) -> Iterator[Frame]:
        backend = self._backend
        self._reader = ReaderThread(backend.read, backend.release, name=self.name, latest_only=self.is_live,
                                    prefetch=self.prefetch)
        try:
            yield from self._reader.frames(self.max_frames)
        finally:
            self.close()


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
