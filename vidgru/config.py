"""Settings from YAML files and command-line flags, into the typed records of :mod:`vidgru.settings`.

Values come from, in increasing priority: the record's defaults, a YAML file (``--config FILE``, ``key: value``
pairs named like the command-line options with ``_`` for ``-``), and command-line flags. Unknown keys and bad
values raise :class:`ConfigError` naming the key and what is allowed. Only the command line (``vidgru.cli``)
imports this module; the library takes the records.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vidgru.choices import PRECISIONS, RUNTIMES, STATE_MODELS  # noqa: F401  (re-exported for old callers)
from vidgru.errors import ConfigError
from vidgru.settings import (  # noqa: F401
    BatchSettings,
    ClassifySettings,
    StateModelTrainSettings,
    TrackSettings,
    TrainSettings,
    _check_choice,
    _check_positive,
)

C = TypeVar("C")

# The names these records had before (kept so existing scripts keep working).
ClassifyConfig = ClassifySettings
TrainConfig = TrainSettings
TrackConfig = TrackSettings
MotionTrainSettings = StateModelTrainSettings
MOTION_MODELS = STATE_MODELS


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


def _names(cls: type) -> dict[str, str]:
    """Every accepted key of ``cls`` (field names and their old aliases) -> the field name."""
    out = {}
    for f in dataclasses.fields(cls):
        out[f.name] = f.name
        for alias in f.metadata.get("aliases", ()):
            out[alias] = f.name
    return out


def build_config(cls: type[C], file: str | Path | None = None, **overrides: Any) -> C:
    """Defaults < YAML ``file`` < ``overrides`` whose value is not None. Keys may use ``-`` or ``_`` and the old
    name of a renamed field."""
    hints = typing.get_type_hints(cls)
    accepted = _names(cls)
    allowed = ", ".join(f.name for f in dataclasses.fields(cls))
    values: dict[str, Any] = {}
    if file is not None:
        for raw_key, value in read_yaml(file).items():
            key = accepted.get(str(raw_key).replace("-", "_"))
            if key is None:
                raise ConfigError(f"config {file}: unknown key {raw_key!r}; allowed keys: {allowed}")
            values[key] = _coerce(key, value, hints[key])
    for raw_key, value in overrides.items():
        key = accepted.get(raw_key)
        if key is None:
            raise ConfigError(f"unknown setting {raw_key!r}; allowed: {allowed}")
        if value is not None:
            values[key] = value
    return cls(**values)


from vidgru.choices import BATCH_TASKS, EXECUTORS  # noqa: E402


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
