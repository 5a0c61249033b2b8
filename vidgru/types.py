"""The records passed between pipeline stages.

Colour order and shapes are fixed here so that no stage has to guess: frames are (H, W, 3) uint8 RGB, and
times are in seconds from the start of the source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
class EmbedderSpec:
    """Which embedder produced a set of embeddings (stored in clip checkpoints and embedding-cache keys): the
    backbone ``name`` and ``weights`` id, the embedding size ``embed_dim`` (of which ``appearance_dim`` are
    appearance features; the rest are motion descriptors), the feature-map pooling grid and the motion-descriptor
    spec (``MotionSpec.to_dict()``, None without descriptors)."""

    name: str
    weights: str
    embed_dim: int
    appearance_dim: int | None = None
    spatial_grid: int = 1
    motion: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "motion"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbedderSpec:
        """From a checkpoint's ``backbone`` entry; KeyError/TypeError/ValueError when it is incomplete."""
        return cls(str(d["name"]), str(d["weights"]), int(d["embed_dim"]),
                   int(d["appearance_dim"]) if d.get("appearance_dim") is not None else None,
                   int(d.get("spatial_grid", 1)), dict(d["motion"]) if d.get("motion") else None)


@dataclass(frozen=True)
class Sampling:
    """How a clip model reads a video: frames per second fed to it, window length and stride, in seconds."""

    sample_fps: float = 8.0
    window_s: float = 2.0
    stride_s: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sampling:
        """From a checkpoint's ``sampling`` entry; a missing stride is half the window."""
        window = float(d.get("window_s", cls.window_s))
        return cls(float(d.get("sample_fps", cls.sample_fps)), window, float(d.get("stride_s", window / 2)))

    def replace(self, *, sample_fps: float | None = None, window_s: float | None = None,
                stride_s: float | None = None) -> Sampling:
        """These values where given (not None), the rest as they are."""
        return Sampling(sample_fps or self.sample_fps, window_s or self.window_s, stride_s or self.stride_s)


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
class Tag:
    """A content tag: an ImageNet category of the backbone's own head and its mean probability over a shot."""

    label: str
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "score": round(self.score, 4)}


SHOT_KINDS = ("start", "cut", "fade", "dissolve")  # how a shot begins: the first shot "start"s the video


@dataclass(frozen=True)
class Shot:
    """A stretch of video between two transitions: ``start_s``/``end_s`` in seconds (a fade or dissolve is split
    at its centre), ``kind`` the transition that begins it (one of :data:`SHOT_KINDS`), ``score`` the
    detector's confidence in that transition (1 for the first shot) and ``tags`` its content, best first."""

    start_s: float
    end_s: float
    kind: str = "start"
    score: float = 1.0
    tags: tuple[Tag, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SHOT_KINDS:
            raise ValueError(f"Shot.kind must be one of {', '.join(SHOT_KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "tags", tuple(self.tags))

    def to_dict(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "kind": self.kind,
                "score": round(self.score, 4), "tags": [t.to_dict() for t in self.tags]}


@dataclass(frozen=True)
class ShotList:
    """The shots of one video (``vidgru shots``): ``frames_used`` sampled frames over ``duration_s`` seconds."""

    video: str
    duration_s: float
    frames_used: int
    shots: list[Shot]

    def to_dict(self) -> dict:
        """The JSON Lines record written by ``vidgru shots --json``."""
        return {"video": self.video, "duration_s": round(self.duration_s, 3), "frames_used": self.frames_used,
                "shots": [s.to_dict() for s in self.shots]}


@dataclass(frozen=True)
class ImageResult:
    """The classification of one still image by an image model: the top label, its probability and every
    class's probability."""

    image: str
    label: str
    score: float
    scores: dict[str, float]

    def to_dict(self) -> dict:
        """A JSON-ready dict (the JSON Lines record written by ``vidgru classify --json`` for an image model)."""
        return {"image": self.image, "label": self.label, "score": round(self.score, 6),
                "scores": {k: round(v, 6) for k, v in self.scores.items()}}


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
    shots: list[Shot] = field(default_factory=list)

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
            "shots": [shot.to_dict() for shot in self.shots],
        }


@dataclass(frozen=True)
class Detections:
    """The objects found in one frame.

    ``xyxy`` is (N, 4) float32 pixel corners (x1, y1, x2, y2) in the frame's own resolution; ``scores`` is (N,)
    float32 in [0, 1]; ``class_ids`` is (N,) int64 (-1 when the detector has no classes, e.g. ``motion`` or a
    det.txt); ``class_names`` maps a class id to its name (shared by all frames of a detector, may be empty).
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) else np.zeros(
            (0, 4), np.float32)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        n = len(xyxy)
        if len(scores) != n or len(class_ids) != n:
            raise ValueError(
                f"Detections: xyxy has {n} rows but scores has {len(scores)} and class_ids {len(class_ids)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), class_names)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> Detections:
        """Select rows with a boolean mask, an index array or a slice."""
        return Detections(self.xyxy[index], self.scores[index], self.class_ids[index], self.class_names)

    def class_name(self, class_id: int) -> str:
        return self.class_names[class_id] if 0 <= class_id < len(self.class_names) else ""


@dataclass(slots=True)
class Track:
    """One tracked object in one frame, as the tracker reports it.

    ``xyxy`` is the smoothed box for this frame in pixels (x1, y1, x2, y2); ``score`` the confidence of the
    detection it was matched to in this frame (0 when it was only predicted); ``class_id`` the track's majority
    class (-1 when unknown); ``age_s`` seconds since the track was born; ``is_predicted`` says the box was not
    matched to a detection this frame (coasting through a miss). (Not frozen: a tracker makes thousands per
    second and frozen dataclasses are slower to build; treat it as read-only.)
    """

    track_id: int
    xyxy: tuple[float, float, float, float]
    score: float
    class_id: int = -1
    class_name: str = ""
    age_s: float = 0.0
    is_predicted: bool = False

    def to_dict(self) -> dict:
        """A JSON-ready dict: box as x1, y1, x2, y2 pixels rounded to 0.01."""
        return {
            "id": self.track_id,
            "box": [round(float(v), 2) for v in self.xyxy],
            "score": round(float(self.score), 4),
            "class_id": self.class_id,
            "class": self.class_name,
            "predicted": self.is_predicted,
        }


@dataclass(frozen=True)
class FrameTracks:
    """The tracker's output for one frame: ``frame_index`` is 0-based in the source (MOT files add 1)."""

    frame_index: int
    timestamp_s: float
    tracks: list[Track]

    def to_dict(self) -> dict:
        """The JSON Lines record written by ``vidgru track --json``."""
        return {
            "frame": self.frame_index + 1,
            "timestamp_s": round(self.timestamp_s, 4),
            "tracks": [t.to_dict() for t in self.tracks],
        }
