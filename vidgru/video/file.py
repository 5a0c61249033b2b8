"""Container files decoded by OpenCV (mp4, avi, gif, ...): every decoded frame in order, timed from the
frame index and the decoder's clock, with a truncation check at the end.

Cameras and streams opened with ``live=False`` are read the same way (all frames, in order, no wall clock).
Those without a frame count (endless streams) are reopened when they drop (``max_reconnects``); the frames
after the outage are timed from the last frame before it plus the outage's length on the wall clock.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time

from vidgru.errors import VideoOpenError
from vidgru.types import Frame
from vidgru.video.capture import CaptureBackend, capture_get, plausible_fps
from vidgru.video.frames import Sampler, to_rgb
from vidgru.video.reader import Channel, End

logger = logging.getLogger(__name__)

# A decoder may fall short of the container's frame count by this much before strict mode calls the file
# truncated: max(2 frames, 2 %). Files with held/dropped frames (tree.avi: 444 in the header, 68 coded
# frames) are measured by the decoder's timestamp of the last frame, not by the number of frames decoded.
_TRUNCATION_MIN_FRAMES = 2
_TRUNCATION_FRACTION = 0.02

_FPS_PROBE_FRAMES = 12  # frames read by a second capture to estimate fps from decoder timestamps


class FileClock:
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


class FileCapture(CaptureBackend):
    """Reads a capture to its end: each decoded frame once, in order (see :class:`FileClock` for times)."""

    def estimate_fps(self) -> float | None:
        """Median frame interval of the first frames' POS_MSEC, read by a second capture (grab only, no
        colour conversion) so that no frame of the main capture has to be held back."""
        import cv2

        try:
            probe = self.make_capture()
        except Exception:  # noqa: BLE001 - no estimate is an answer; the caller falls back to the default
            return None
        try:
            if not probe.isOpened():
                return None
            stamps = []
            for _ in range(_FPS_PROBE_FRAMES):
                if not probe.grab():
                    break
                stamps.append(capture_get(probe, cv2.CAP_PROP_POS_MSEC))
        finally:
            probe.release()
        finite = [s for s in stamps if math.isfinite(s)]
        steps = [b - a for a, b in zip(finite, finite[1:], strict=False) if b > a]
        if len(steps) < 2:
            return None
        fps = 1000.0 / statistics.median(steps)
        return fps if plausible_fps(fps) else None

    def read(self, channel: Channel, stop: threading.Event) -> None:
        """The reader thread's loop: grab every frame, convert only the kept ones.

        Frames before ``start_frame`` are grabbed (so the clock counts them) but never retrieved or converted;
        seeking is not used because it is inexact for some codecs and would lose the timing. Sampling starts
        at ``start_frame``.
        """
        import cv2

        cap, info, opts = self.capture(), self.opened, self.options
        start = opts.start_frame
        image, first_pos_ms, _ = self.take_first()
        clock = FileClock(fps=info.fps, fps_source=info.fps_source, first_pos_ms=first_pos_ms)
        sampler = Sampler(every_n=opts.every_n, sample_fps=opts.sample_fps, source_fps=info.fps)
        index = 0
        timestamp = clock(0, first_pos_ms)
        # After a reconnection the clock restarts: frame i is at offset_s + clock(i - base_index, ...).
        offset_s, base_index, last_wall = 0.0, 0, time.monotonic()
        reconnects = self.can_reconnect and info.frame_count is None  # a stream's end is a drop, not the end
        self.decoded_frames = 1
        emitted = 0
        if start == 0:
            sampler.keep(0, timestamp)  # the first frame offered is always kept
            if not channel.put(Frame(0, timestamp, to_rgb(image, opts.max_size))):
                return
            emitted = 1
        del image
        while not stop.is_set():
            if opts.max_frames is not None and emitted >= opts.max_frames:
                channel.put(End())
                return  # stopped on purpose: no truncation check
            reopened = None
            if not cap.grab():
                if not reconnects:
                    break
                reopened = self.reconnect(stop, after_frame=index)  # VideoOpenError when it gives up
                if reopened is None:
                    return  # stopped while reconnecting
                cap = self.capture()
                clock = FileClock(fps=info.fps, fps_source=info.fps_source,
                                  first_pos_ms=capture_get(cap, cv2.CAP_PROP_POS_MSEC))
                offset_s, base_index = timestamp + (time.monotonic() - last_wall), index + 1
            index += 1
            last_wall = time.monotonic()
            timestamp = offset_s + clock(index - base_index, capture_get(cap, cv2.CAP_PROP_POS_MSEC))
            # Skipped frames (by sampling, or before start_frame) are grabbed, never retrieved or converted.
            if index < start or not sampler.keep(index - start, timestamp):
                self.decoded_frames = index + 1
                continue
            ok, image = (True, reopened) if reopened is not None else cap.retrieve()
            if not ok or image is None:
                break
            self.decoded_frames = index + 1
            if not channel.put(Frame(index, timestamp, to_rgb(image, opts.max_size))):
                return
            emitted += 1
        if stop.is_set():
            return
        self._check_complete(clock.last_pos_s)
        channel.put(End())

    def _check_complete(self, last_pos_s: float) -> None:
        """Strict mode: fail when decoding stopped well before the container's frame count."""
        info = self.opened
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
        if self.options.strict:
            raise VideoOpenError(message)
        logger.warning("%s; kept the %d frames that decoded", message, self.decoded_frames)
