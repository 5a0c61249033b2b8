"""The reader thread: a backend decodes in a background thread while the caller consumes frames.

Files and image sequences go through a bounded FIFO (decoding runs at most ``prefetch`` frames ahead, so
memory stays bounded however long the video is); live sources through a one-frame slot that keeps only the
newest frame, so the caller never lags behind the camera.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator

from vidgru.types import Frame

logger = logging.getLogger(__name__)

_JOIN_TIMEOUT_S = 5.0  # how long stop() waits for the reader thread


class End:
    """Queued by the reader when the source is exhausted (or max_frames reached)."""


class Failure:
    """Queued by the reader when it raised; the consumer re-raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


Item = Frame | End | Failure


class BoundedChannel:
    """FIFO of at most ``maxsize`` frames (files, image sequences): the reader waits when it is full."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[Item] = queue.Queue(maxsize)
        self._stop = stop

    def put(self, item: Item) -> bool:
        """Block until there is room; False (item not queued) once the source is being closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float) -> Item:
        return self._queue.get(timeout=timeout)


class LatestChannel:
    """Holds only the newest frame (live sources): a new frame replaces an unread one, which is counted as
    dropped. The end/failure marker is kept apart so it is never dropped and comes after the last frame."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._final: End | Failure | None = None
        self.dropped = 0

    def put(self, item: Item) -> bool:
        with self._cond:
            if isinstance(item, Frame):
                if self._frame is not None:
                    self.dropped += 1
                self._frame = item
            else:
                self._final = item
            self._cond.notify()
        return True

    def get(self, timeout: float) -> Item:
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._final is not None, timeout):
                raise queue.Empty
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            assert self._final is not None
            return self._final


Channel = BoundedChannel | LatestChannel

# A backend's read loop, run in the reader thread: decode, sample, convert to RGB, ``channel.put`` each kept
# Frame and finally End; return early (no End) once ``stop`` is set or ``put`` returns False.
ReadLoop = Callable[[Channel, threading.Event], None]


class ReaderThread:
    """Runs ``read`` in a daemon thread named ``vidgru-reader:<name>`` and hands its frames to the consumer.

    Any exception of ``read`` is re-raised in the consumer's thread by :meth:`frames`. ``release`` is called
    by the thread when it ends (the thread owns the capture while it reads).
    """

    def __init__(self, read: ReadLoop, release: Callable[[], None], *, name: str, latest_only: bool,
                 prefetch: int) -> None:
        self.name = name
        self._release = release
        self._stop = threading.Event()
        self._channel: Channel = LatestChannel() if latest_only else BoundedChannel(prefetch, self._stop)
        self._thread = threading.Thread(
            target=self._main, args=(read, release), name=f"vidgru-reader:{name}", daemon=True,
        )

    @property
    def dropped(self) -> int:
        """Live sources: frames replaced by a newer one before the consumer took them."""
        return self._channel.dropped if isinstance(self._channel, LatestChannel) else 0

    def _main(self, read: ReadLoop, release: Callable[[], None]) -> None:
        try:
            read(self._channel, self._stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            if not self._stop.is_set():
                self._channel.put(Failure(exc))
        finally:
            release()

    def frames(self, max_frames: int | None) -> Iterator[Frame]:
        """Start the thread and yield its frames until the end, ``max_frames`` frames, or :meth:`stop`."""
        thread = self._thread
        thread.start()
        emitted = 0
        while True:
            try:
                item = self._channel.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return  # closed from elsewhere
                if thread.is_alive():
                    continue
                try:
                    item = self._channel.get(timeout=0)
                except queue.Empty:
                    raise RuntimeError(f"{self.name}: reader thread ended without a result") from None
            if isinstance(item, End):
                return
            if isinstance(item, Failure):
                raise item.error
            yield item
            emitted += 1
            if max_frames is not None and emitted >= max_frames:
                return

    def stop(self) -> None:
        """Ask the thread to stop and wait for it (up to 5 s). Safe to call more than once."""
        self._stop.set()
        if self._thread.ident is None:  # never started: nobody else will release
            self._release()
            return
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            # A capture must not be released while another thread is inside read(); the reader releases it
            # itself as soon as that read returns.
            logger.warning(
                "%s: reader thread still blocked in a read after %.0f s; it will release the capture when the "
                "read returns", self.name, _JOIN_TIMEOUT_S,
            )
