"""Background subtraction for static cameras: moving blobs as class-less boxes, no weights."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vidgru.detect.boxes import make_box_filter
from vidgru.errors import DetectorError
from vidgru.types import Detections, Frame


class BackgroundSubtractionDetector:
    """Background subtraction: moving blobs in a static camera's frames, found by OpenCV's MOG2 background model,
    morphology and connected components. No weights and no classes (class ids are -1). Built by the detector
    spec ``bgsub`` (or its older alias ``motion``).

    The background model is updated by every frame, so frames must come in order, across calls; call
    :meth:`reset` before a new video. The first ``warmup_frames`` frames only teach the background and
    return no boxes. A box's score is its foreground fill ratio (foreground pixels / box area, in [0, 1]):
    solid moving objects score high, loose noise low.

    Args:
        history_frames: MOG2's history (frames that shape the background model).
        var_threshold: MOG2's squared Mahalanobis distance for a pixel to count as foreground.
        warmup_frames: frames fed to the background model before any box is reported.
        min_area_frac: the smallest blob reported, as a fraction of the frame area (0.001 of 768x576 = 442 px).
        max_side: frames are shrunk so their longer side is at most this many pixels before subtraction
            (speed; boxes are scaled back to full resolution).
        score_threshold, min_box_size: see :func:`vidgru.detect.create_detector`.
        name: the spec it was built from (``bgsub``, or the alias ``motion``), used in messages.

    Raises:
        DetectorError: a setting out of range, or (in :meth:`detect`) a frame size change without :meth:`reset`.
    """

    def __init__(
        self,
        *,
        history_frames: int = 200,
        var_threshold: float = 16.0,
        warmup_frames: int = 10,
        min_area_frac: float = 0.001,
        max_side: int = 640,
        score_threshold: float | None = None,
        min_box_size: float = 0.0,
        classes: Sequence[str] | None = None,
        name: str = "bgsub",
    ) -> None:
        where = f"detector {name}"
        if history_frames < 1 or warmup_frames < 0 or max_side < 16 or not (0 <= min_area_frac < 1):
            raise DetectorError(f"{where}: expected history_frames >= 1, warmup_frames >= 0, max_side >= 16 and "
                                f"0 <= min_area_frac < 1; got {history_frames}, {warmup_frames}, {max_side}, "
                                f"{min_area_frac}")
        self.name = name
        self.class_names: tuple[str, ...] = ()
        self.history_frames = int(history_frames)
        self.var_threshold = float(var_threshold)
        self.warmup_frames = int(warmup_frames)
        self.min_area_frac = float(min_area_frac)
        self.max_side = int(max_side)
        self.box_filter = make_box_filter(where, "bgsub", (), classes=classes, score_threshold=score_threshold,
                                          min_box_size=min_box_size)
        self.reset()

    def reset(self) -> None:
        """Start a new background model (a new video, or a jump in the same one)."""
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=self.history_frames, varThreshold=self.var_threshold, detectShadows=True)
        self._frames_seen = 0
        self._frame_hw: tuple[int, int] | None = None

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Consecutive frames (each (H, W, 3) uint8 RGB, all the same size) -> one :class:`Detections` each."""
        return [self.box_filter(self._detect_one(frame)) for frame in frames]

    def _detect_one(self, frame: Frame) -> Detections:
        h, w = frame.image.shape[:2]
        if self._frame_hw is None:
            self._frame_hw = (h, w)
        elif self._frame_hw != (h, w):
            raise DetectorError(f"detector {self.name}: frame {frame.index} is {w}x{h} but earlier frames were "
                                f"{self._frame_hw[1]}x{self._frame_hw[0]}; call reset() between videos")
        scale = min(1.0, self.max_side / max(h, w))
        small = frame.image if scale == 1.0 else cv2.resize(
            frame.image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        mask = self._subtractor.apply(small)  # (h, w) uint8: 255 foreground, 127 shadow, 0 background
        self._frames_seen += 1
        if self._frames_seen <= self.warmup_frames:
            return Detections.empty()

        fg = np.where(mask == 255, np.uint8(255), np.uint8(0))  # shadows are not objects
        sh, sw = fg.shape
        k_open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        close_px = max(3, round(min(sh, sw) * 0.02) | 1)  # joins the parts of one body (~10 px at 480p)
        k_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_px, close_px))
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k_open)  # salt noise
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k_close)

        count, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        stats = stats[1:]  # (count - 1, 5): x, y, w, h, area; row 0 is the background
        stats = stats[stats[:, 4] >= self.min_area_frac * sh * sw]
        if len(stats) == 0:
            return Detections.empty()
        x, y, bw, bh, area = (stats[:, i].astype(np.float32) for i in range(5))
        xyxy = np.stack([x, y, x + bw, y + bh], axis=1) / np.float32(scale)
        fill = area / (bw * bh)
        order = np.argsort(-fill, kind="stable")
        return Detections(xyxy[order], fill[order], np.full(len(order), -1, np.int64))


MotionDetector = BackgroundSubtractionDetector  # the former name, kept for existing callers
