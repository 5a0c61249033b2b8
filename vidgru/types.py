"""The records passed between pipeline stages.

Colour order and shapes are fixed here so that no stage has to guess: frames are (H, W, 3) uint8 RGB, and
times are in seconds from the start of the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before (or while) reading it.

    ``frame_count`` and ``duration_s`` are ``None`` when the container does not say (live streams, some
    codecs). ``fps_source`` says where ``fps`` came from: ``"container"``, ``"user"``, ``"timestamps"``
    (estimated from decoder timestamps because the container value was implausible) or ``"default"``.
    """

    source: str
    kind: str  # "file", "images", "camera", "stream"
    width: int
    height: int
    fps: float
    frame_count: int | None
    fps_source: str = "container"
    is_live: bool = False

    @property
    def duration_s(self) -> float | None:
        if self.frame_count is None or self.fps <= 0:
            return None
        return self.frame_count / self.fps


@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``image`` is (H, W, 3) uint8 RGB; ``index`` counts decoded frames of the source
    (0-based, before sampling); ``timestamp_s`` is its presentation time in seconds."""

    index: int
    timestamp_s: float
    image: np.ndarray

    def __post_init__(self) -> None:
        img = self.image
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"Frame.image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")


@dataclass(frozen=True)
class WindowPrediction:
    """Class probabilities for one window of a video. ``scores`` is (C,) float, summing to 1."""

    start_s: float
    end_s: float
    label: str
    score: float
    scores: np.ndarray


@dataclass(frozen=True)
class Segment:
    """A run of consecutive windows that share a label; ``score`` is the mean winning probability."""

    start_s: float
    end_s: float
    label: str
    score: float


@dataclass(frozen=True)
class ClipResult:
    """The classification of one whole video."""

    video: str
    label: str
    score: float
    scores: dict[str, float]
    windows: list[WindowPrediction] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    frames_used: int = 0
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        """A JSON-ready dict (the JSON Lines record written by ``vidgru classify --json``)."""
        return {
            "video": self.video,
            "label": self.label,
            "score": round(self.score, 6),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "duration_s": round(self.duration_s, 3),
            "frames_used": self.frames_used,
            "windows": [
                {"start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3), "label": w.label,
                 "score": round(w.score, 6)}
                for w in self.windows
            ],
            "segments": [
                {"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "label": s.label,
                 "score": round(s.score, 6)}
                for s in self.segments
            ],
        }
