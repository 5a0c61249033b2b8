"""Live sources (webcams, RTSP/RTMP streams, or any capture opened with ``live=True``): frames are timed by
the wall clock since open, and a source that stops delivering frames is reopened (``max_reconnects``) or
ends with VideoOpenError.

Only the newest frame is handed over (:class:`~vidgru.video.reader.LatestChannel`), so a slow caller skips
frames instead of falling behind the camera.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from vidgru.errors import VideoOpenError
from vidgru.types import Frame
from vidgru.video.capture import RETRY_WAIT_S, CaptureBackend
from vidgru.video.frames import Sampler, to_rgb
from vidgru.video.reader import Channel

_LIVE_MAX_READ_FAILURES = 50  # consecutive failed reads that end a live source (at least ~1 s of retries)


class LiveCapture(CaptureBackend):
    """Reads a camera or stream until it stalls for ``stall_timeout_s`` or fails 50 reads in a row; then, with
    ``max_reconnects`` > 0, reopens it (:meth:`~vidgru.video.capture.CaptureBackend.reconnect`) and goes on:
    frame indices keep counting and timestamps stay wall-clock, so frames after an outage are later by it."""

    LIVE: ClassVar[bool] = True

    def read(self, channel: Channel, stop: threading.Event) -> None:
        """The reader thread's loop; it ends only on ``stop`` or with VideoOpenError."""
        cap, opts = self.capture(), self.options
        sampler = Sampler(every_n=opts.every_n, sample_fps=opts.sample_fps, source_fps=self.opened.fps)
        image, _, first_s = self.take_first()
        sampler.keep(0, first_s)
        self.decoded_frames = 1
        channel.put(Frame(0, first_s, to_rgb(image, opts.max_size)))
        del image
        index, last_s = 0, first_s
        last_ok, failures = time.monotonic(), 0
        while not stop.is_set():
            ok = cap.grab()
            now = time.monotonic()
            reopened = None
            if not ok:
                failures += 1
                if failures >= _LIVE_MAX_READ_FAILURES or now - last_ok >= opts.stall_timeout_s:
                    if stop.is_set():
                        return
                    if not self.can_reconnect:
                        raise VideoOpenError(f"{self.name}: stream stopped delivering frames after frame {index}")
                    reopened = self.reconnect(stop, after_frame=index)  # VideoOpenError when it gives up
                    if reopened is None:
                        return  # stopped while reconnecting
                    cap, now = self.capture(), time.monotonic()
                else:
                    stop.wait(RETRY_WAIT_S)
                    continue
            failures, last_ok = 0, now
            index += 1
            self.decoded_frames = index + 1
            timestamp = max(now - self._t0, last_s + 1e-6)  # wall clock since open, strictly increasing
            last_s = timestamp
            if not sampler.keep(index, timestamp):
                continue
            if reopened is not None:
                ok, image = True, reopened
            else:
                ok, image = cap.retrieve()
            if ok and image is not None:
                channel.put(Frame(index, timestamp, to_rgb(image, opts.max_size)))
