"""Typed settings for each command, parsed once at the edge.

A config is a frozen dataclass. Values come from, in increasing priority: the dataclass defaults, a YAML file
(``--config FILE``, flat ``key: value`` pairs named like the command-line options with ``_`` for ``-``), and
command-line flags. Unknown keys and bad values raise :class:`ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vidgru.errors import ConfigError

C = TypeVar("C")

DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
RUNTIMES = ("auto", "torch", "onnx")  # backbone runtimes (vidgru.backbone.create_embedder)


def _check_positive(obj: Any, *names: str, allow_none: bool = True) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None and allow_none:
            continue
        if value is None or value <= 0:
            raise ConfigError(f"{name}: must be > 0, got {value}")


def _check_choice(obj: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}")


@dataclass(frozen=True)
class ClassifyConfig:
    """Settings of ``vidgru classify``. ``None`` for a sampling value means "as the model was trained"."""

    model: str | None = None
    window_s: float | None = None
    stride_s: float | None = None
    sample_fps: float | None = None
    fps: float | None = None
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"
    batch_size: int = 32
    top_k: int = 3
    json: str | None = None
    csv: str | None = None
    out_video: str | None = None

    def __post_init__(self) -> None:
        _check_positive(self, "window_s", "stride_s", "sample_fps", "fps", "batch_size", "top_k")
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "runtime", RUNTIMES)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of ``vidgru train``: data, embedding, model and optimisation."""

    data: str | None = None
    out: str = "model.pt"
    val_dir: str | None = None
    val_fraction: float = 0.2
    # embedding
    backbone: str = "mobilenet_v2"
    weights: str | None = None
    spatial_grid: int = 1
    motion: bool = True
    motion_gaps: str = "1,2,4"
    motion_flow: bool = True
    sample_fps: float = 8.0
    max_frames: int = 256
    cache_dir: str | None = None
    # windows (training samples and later classification)
    window_s: float = 2.0
    stride_s: float = 1.0
    # model
    head: str = "gru"
    appearance: bool = True
    proj_dim: int = 256
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = False
    pooling: str = "attention"
    dropout: float = 0.2
    # optimisation
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 12
    seed: int = 0
    speed_jitter: float = 0.2
    transition_prob: float = 0.0
    motion_augment: bool = False
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"

    def __post_init__(self) -> None:
        from vidgru.backbone import BACKBONES
        from vidgru.temporal import HEADS, POOLINGS

        _check_positive(self, "sample_fps", "max_frames", "window_s", "stride_s", "proj_dim", "hidden_size",
                        "num_layers", "epochs", "batch_size", "lr", "patience", "spatial_grid")
        _check_choice(self, "backbone", tuple(BACKBONES))
        _check_choice(self, "head", HEADS)
        _check_choice(self, "pooling", POOLINGS)
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "runtime", RUNTIMES)
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction: must be between 0 and 1, got {self.val_fraction}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.speed_jitter < 1.0:
            raise ConfigError(f"speed_jitter: must be in [0, 1), got {self.speed_jitter}")
        if not 0.0 <= self.transition_prob <= 1.0:
            raise ConfigError(f"transition_prob: must be in [0, 1], got {self.transition_prob}")
        if self.head == "mean" and not self.appearance:
            raise ConfigError("appearance: the mean head averages appearance features; it cannot be turned off")
        if self.motion_augment and (self.appearance or not self.motion):
            raise ConfigError("motion_augment: needs motion: true and appearance: false (mirroring and reversing "
                              "permute the motion descriptors; appearance features cannot follow)")
        if not self.appearance and not self.motion:
            raise ConfigError("appearance: false needs motion: true (the model would have no input)")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay: must be >= 0, got {self.weight_decay}")
        self.motion_gap_tuple()  # validates

    def motion_gap_tuple(self) -> tuple[int, ...]:
        """``motion_gaps`` ("1,2,4") as a tuple of sampled-frame gaps: positive integers in increasing order."""
        parts = [p.strip() for p in str(self.motion_gaps).split(",")]
        try:
            gaps = tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"motion_gaps: expected comma-separated integers like 1,2,4, got {self.motion_gaps!r}"
                              ) from None
        if not gaps or any(g < 1 for g in gaps):
            raise ConfigError(f"motion_gaps: every gap must be a positive integer, got {self.motion_gaps!r}")
        if any(b <= a for a, b in zip(gaps, gaps[1:])):
            raise ConfigError(f"motion_gaps: gaps must be strictly increasing, got {self.motion_gaps!r}")
        return gaps


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check/convert one YAML value against a field's type (int, float, str, bool and ``X | None``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _coerce(key, value, args[0])
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config {path}: no such file")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def build_config(cls: type[C], file: str | Path | None = None, **overrides: Any) -> C:
    """Defaults < YAML ``file`` < ``overrides`` whose value is not None. Keys may use ``-`` or ``_``."""
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    if file is not None:
        for raw_key, value in read_yaml(file).items():
            key = str(raw_key).replace("-", "_")
            if key not in allowed:
                raise ConfigError(f"config {file}: unknown key {raw_key!r}; allowed keys: {', '.join(allowed)}")
            values[key] = _coerce(key, value, hints[key])
    for key, value in overrides.items():
        if key not in allowed:
            raise ConfigError(f"unknown setting {key!r}; allowed: {', '.join(allowed)}")
        if value is not None:
            values[key] = value
    return cls(**values)


MOTION_MODELS = ("gru", "kalman")


@dataclass(frozen=True)
class TrackConfig:
    """Settings of ``vidgru track``. Thresholds left at ``None`` are chosen for the detector (see
    :func:`vidgru.track.pipeline.tracker_config_for`)."""

    detector: str | None = None  # None: "file" for a MOTChallenge sequence, else the torchvision default
    classes: str | None = None  # comma-separated class names to keep
    score_threshold: float | None = None
    min_box_size: float = 0.0
    detect_every: int = 1
    motion: str = "gru"
    motion_model: str | None = None
    appearance: bool = True
    high_threshold: float | None = None
    low_threshold: float = 0.1
    new_track_threshold: float | None = None
    motion_weight: float = 0.4
    min_hits: int = 3
    max_lost_s: float = 1.5
    fps: float | None = None
    max_frames: int | None = None
    weights: str | None = None
    device: str = "auto"
    runtime: str = "auto"
    mot: str | None = None
    json: str | None = None
    out_video: str | None = None
    trail_s: float = 1.5

    def __post_init__(self) -> None:
        _check_positive(self, "detect_every", "min_hits", "max_lost_s", "fps", "max_frames", allow_none=True)
        _check_choice(self, "motion", MOTION_MODELS)
        _check_choice(self, "runtime", RUNTIMES)
        for name in ("score_threshold", "high_threshold", "low_threshold", "new_track_threshold", "motion_weight"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}: must be between 0 and 1, got {value}")
        if self.min_box_size < 0 or self.trail_s < 0:
            raise ConfigError("min_box_size and trail_s: must be >= 0")

    @property
    def class_list(self) -> list[str] | None:
        if not self.classes:
            return None
        return [c.strip() for c in self.classes.split(",") if c.strip()]


@dataclass(frozen=True)
class MotionTrainSettings:
    """Settings of ``vidgru train-motion`` (the GRU state model)."""

    out: str = "motion.pt"
    val: str | None = None  # comma-separated sequence names (or glob patterns) held out for validation
    exclude: str | None = None  # comma-separated sequence names (or glob patterns) not used at all
    first_half: str | None = None  # comma-separated sequence names (or glob patterns) cut to their first half
    dataset_weights: str | None = None  # "NAME=W,..." share of training windows per data set (default: equal)
    steps: int = 2000
    batch_size: int = 128
    window: int = 48
    lr: float = 3e-3
    hidden_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self, "steps", "batch_size", "window", "lr", "hidden_size", allow_none=False)
        self.weights_by_dataset()  # ConfigError now, not after loading the data

    def weights_by_dataset(self) -> dict[str, float]:
        """``dataset_weights`` parsed: data set name -> weight (>= 0)."""
        out: dict[str, float] = {}
        for item in (self.dataset_weights or "").split(","):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            try:
                weight = float(value)
            except ValueError:
                weight = float("nan")
            if not sep or not name.strip() or not weight >= 0 or weight == float("inf"):
                raise ConfigError(f"dataset_weights: expected NAME=WEIGHT with a weight >= 0, got {item.strip()!r}")
            out[name.strip()] = weight
        return out


BATCH_TASKS = ("classify", "track")
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class BatchConfig:
    """Settings of ``vidgru batch``: the task, where results go, how the work is spread, and the task's own
    settings (classify: model and sampling; track: detector and tracker, or a whole ``track_config`` YAML)."""

    task: str = "classify"
    out: str = "results"
    workers: int | None = None  # None: from the core count (vidgru.batch.default_workers)
    executor: str = "local"
    ray_address: str | None = None  # None: start a local Ray instance
    force: bool = False
    hash: bool = False  # fingerprint inputs by content (sha256) instead of size + mtime
    out_video: bool = False
    file_timeout_s: float | None = None  # None: no limit; else a worker on one input longer than this is killed
    # classify
    model: str | None = None
    window_s: float | None = None
    stride_s: float | None = None
    sample_fps: float | None = None
    # track
    detector: str | None = None
    classes: str | None = None
    score_threshold: float | None = None
    detect_every: int | None = None
    motion: str | None = None
    appearance: bool | None = None
    max_frames: int | None = None
    track_config: str | None = None  # a TrackConfig YAML (configs/track.yaml); the flags above override it
    # both
    fps: float | None = None
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"
    batch_size: int = 32

    def __post_init__(self) -> None:
        _check_choice(self, "task", BATCH_TASKS)
        _check_choice(self, "executor", EXECUTORS)
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "runtime", RUNTIMES)
        _check_positive(self, "workers", "window_s", "stride_s", "sample_fps", "detect_every", "max_frames", "fps",
                        "batch_size", "file_timeout_s")
        if self.motion is not None:
            _check_choice(self, "motion", MOTION_MODELS)
        if self.ray_address and self.executor != "ray":
            raise ConfigError("ray_address: only used with executor: ray")
        if self.file_timeout_s is not None and self.executor != "local":
            raise ConfigError("file_timeout_s: only supported with executor: local")
