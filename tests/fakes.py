"""Test doubles shared by several test modules."""

from __future__ import annotations

import time


class PacedCamera:
    """A fake camera (what ``cv2.VideoCapture`` returns for a device index): replays a real clip at ``fps`` in
    real time and, after ``frames`` frames (or the clip's end), stops delivering frames, as an unplugged
    camera does. ``capture_cls`` opens the clip (pass the real ``cv2.VideoCapture`` when it is monkeypatched)."""

    def __init__(self, path, fps: float, *, frames: int | None = None, capture_cls=None) -> None:
        import cv2

        self._cap = (capture_cls or cv2.VideoCapture)(str(path))
        self._period = 1.0 / fps
        self._next: float | None = None
        self._left = frames

    def _wait(self) -> bool:
        now = time.monotonic()
        self._next = (self._next or now) + self._period
        time.sleep(max(0.0, self._next - now))
        if self._left is None:
            return True
        self._left -= 1
        return self._left >= 0

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self._cap.isOpened()

    def read(self):
        return self._cap.read() if self._wait() else (False, None)

    def grab(self):
        return self._cap.grab() if self._wait() else False

    def retrieve(self):
        return self._cap.retrieve()

    def get(self, prop):
        import cv2

        return 0.0 if prop == cv2.CAP_PROP_FRAME_COUNT else self._cap.get(prop)

    def set(self, prop, value):
        return True

    def release(self):
        self._cap.release()
