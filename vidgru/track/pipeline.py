"""Source -> detector -> (crop embeddings) -> tracker, one frame at a time.

:func:`track_frames` is the loop behind ``vidgru track`` (and the batch runner): it yields each frame with its
tracks, and leaves drawing, writing and showing to the caller. MOTChallenge sequences without images are
tracked from their det.txt alone (:func:`track_sequence_detections`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from vidgru.config import TrackConfig
from vidgru.track.tracker import Tracker, TrackerConfig
from vidgru.types import Detections, Frame, FrameTracks

log = logging.getLogger(__name__)

# Score thresholds of the first association stage and for starting tracks, by detector family. Faster R-CNN
# style scores (torchvision, MOTChallenge det.txt) are tuned on the MOT15 training sequences
# (docs/benchmarks.md); NanoDet's sigmoid scores run lower for the same boxes.
_THRESHOLDS = {"file": (0.7, 0.8), "torchvision": (0.7, 0.8), "onnx": (0.45, 0.5), "motion": (0.3, 0.3)}

DEFAULT_DETECTOR = "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"  # for sources that bring no detections

APPEARANCE_CROP = 128  # crops are resized to this square before embedding: ~3x cheaper than 224, enough for re-ID


def detector_family(spec: str) -> str:
    return spec.split(":", 1)[0]


def build_detector(cfg: TrackConfig, spec: str):
    """The detector ``spec`` (``torchvision:<name>``, ``onnx:PATH``, ``motion`` or ``file:PATH``) with the
    filtering and device settings of ``cfg``."""
    from vidgru.detect import create_detector

    return create_detector(spec, classes=cfg.class_list, score_threshold=cfg.score_threshold,
                           min_box_size=cfg.min_box_size, device=cfg.device, weights=cfg.weights)


def tracker_config_for(cfg: TrackConfig, detector_spec: str) -> TrackerConfig:
    """The tracker settings for ``cfg``, filling unset thresholds with the defaults of the detector family."""
    high, new = _THRESHOLDS.get(detector_family(detector_spec), (0.5, 0.6))
    base = TrackerConfig()
    return replace(
        base,
        high_threshold=cfg.high_threshold if cfg.high_threshold is not None else high,
        new_track_threshold=cfg.new_track_threshold if cfg.new_track_threshold is not None else new,
        low_threshold=min(cfg.low_threshold, cfg.high_threshold if cfg.high_threshold is not None else high),
        motion_weight=cfg.motion_weight,
        min_hits=cfg.min_hits,
        max_lost_s=cfg.max_lost_s,
    )


def build_tracker(cfg: TrackConfig, detector_spec: str, *, fps: float | None = None) -> Tracker:
    """A :class:`Tracker` with the motion model ``cfg.motion`` (the shipped GRU model unless
    ``cfg.motion_model`` names another)."""
    if cfg.motion == "gru":
        from vidgru.track.gru_motion import GruBank

        motion = GruBank(cfg.motion_model, dt_s=1.0 / fps if fps else 0.1)
    else:
        from vidgru.track.kalman import KalmanBank

        motion = KalmanBank()
    return Tracker(motion=motion, config=tracker_config_for(cfg, detector_spec))


def appearance_embedder(*, device: str = "auto", runtime: str = "auto", size: int = APPEARANCE_CROP):
    """The default backbone set up for object crops: inputs are ``size`` x ``size`` (crops are stretched to it,
    not centre-cropped, so the whole object is seen)."""
    from dataclasses import replace as _replace

    from vidgru.backbone import create_embedder

    embedder = create_embedder(device=device, runtime=runtime, batch_size=64)
    embedder.preprocess = _replace(embedder.preprocess, resize_size=size, crop_size=size)
    return embedder


def crop_embeddings(embedder, image: np.ndarray, boxes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """L2-normalised appearance embeddings (N, D) of the boxes (N, 4) xyxy cut from ``image`` (H, W, 3) RGB.
    Only rows where ``mask`` is true are embedded; the others are zeros."""
    import cv2

    h, w = image.shape[:2]
    size = embedder.preprocess.crop_size
    boxes = np.asarray(boxes, dtype=np.float64)
    keep = np.flatnonzero(mask) if mask is not None else np.arange(len(boxes))
    crops = []
    for x1, y1, x2, y2 in boxes[keep]:
        xa, ya = int(np.clip(x1, 0, w - 1)), int(np.clip(y1, 0, h - 1))
        xb, yb = int(np.clip(np.ceil(x2), xa + 1, w)), int(np.clip(np.ceil(y2), ya + 1, h))
        crops.append(cv2.resize(image[ya:yb, xa:xb], (size, size), interpolation=cv2.INTER_AREA))
    out = None
    if crops:
        feats = np.asarray(embedder.embed(np.stack(crops)), dtype=np.float32)
        out = np.zeros((len(boxes), feats.shape[1]), dtype=np.float32)
        out[keep] = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
    return out


def track_frames(frames: Iterable[Frame], detector, tracker: Tracker, *, embedder=None, detect_every: int = 1,
                 batch_size: int = 1) -> Iterator[tuple[Frame, FrameTracks]]:
    """Track objects through ``frames`` (in order). Detection runs on every ``detect_every``-th frame, in
    batches of up to ``batch_size`` frames (use 1 for live sources); on the others the tracker coasts.

    Yields ``(frame, tracks)`` per frame, in order.
    """
    pending: list[tuple[Frame, bool]] = []

    def flush():
        to_detect = [f for f, d in pending if d]
        found = iter(detector.detect(to_detect)) if to_detect else iter(())
        for frame, detect in pending:
            if not detect:
                yield frame, tracker.coast(frame.timestamp_s, frame_index=frame.index)
                continue
            dets: Detections = next(found)
            emb = None
            if embedder is not None and len(dets):  # only boxes that can be matched by appearance are embedded
                emb = crop_embeddings(embedder, frame.image, dets.xyxy,
                                      dets.scores >= tracker.config.high_threshold)
            yield frame, tracker.update(dets, frame.timestamp_s, embeddings=emb, frame_index=frame.index)
        pending.clear()

    for n, frame in enumerate(frames):
        pending.append((frame, n % detect_every == 0))
        if sum(d for _, d in pending) >= batch_size or (batch_size == 1):
            yield from flush()
    if pending:
        yield from flush()


def track_sequence_detections(detections: list[Detections], fps: float, tracker: Tracker
                              ) -> Iterator[FrameTracks]:
    """Track a MOTChallenge sequence from its detections alone (no images): frame i at time i / fps."""
    for i, dets in enumerate(detections):
        yield tracker.update(dets, i / fps, frame_index=i)
