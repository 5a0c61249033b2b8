"""vidgru: video classification and multi-object tracking with pretrained CNN embeddings and GRU models.

The public API is small and loaded lazily, so ``import vidgru`` does not import torch or OpenCV:

    from vidgru import VideoSource, ClipClassifier
    with VideoSource("clip.mp4", sample_fps=8) as src:
        ...
    result = ClipClassifier.from_path("model.pt").classify("clip.mp4")

    from vidgru import create_detector, Tracker, GruBank, track_frames
    tracker = Tracker(motion=GruBank())
    with VideoSource("street.mp4") as src:
        for frame, tracks in track_frames(src, create_detector("bgsub"), tracker):
            ...
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "VideoSource": "vidgru.video",
    "expand_inputs": "vidgru.video",
    "TorchEmbedder": "vidgru.backbone",
    "create_embedder": "vidgru.backbone",
    "ClipClassifier": "vidgru.classify",
    "load_checkpoint": "vidgru.temporal",
    "create_detector": "vidgru.detect",
    "Tracker": "vidgru.track.tracker",
    "GruBank": "vidgru.track.gru_motion",
    "KalmanBank": "vidgru.track.kalman",
    "track_frames": "vidgru.track.pipeline",
    "run_batch": "vidgru.batch",
    "Frame": "vidgru.types",
    "VideoInfo": "vidgru.types",
    "ClipResult": "vidgru.types",
    "Detections": "vidgru.types",
    "FrameTracks": "vidgru.types",
    "VidgruError": "vidgru.errors",
    "VideoOpenError": "vidgru.errors",
    "ConfigError": "vidgru.errors",
    "CheckpointError": "vidgru.errors",
    "WeightsUnavailableError": "vidgru.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vidgru' has no attribute {name!r}")
