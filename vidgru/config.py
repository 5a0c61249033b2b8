"""Settings from YAML files and command-line flags, into the typed records of :mod:`vidgru.settings`.

Values come from, in increasing priority: the record's defaults, a YAML file (``--config FILE``, ``key: value``
pairs named like the command-line options with ``_`` for ``-``), and command-line flags. Unknown keys and bad
values raise :class:`ConfigError` naming the key and what is allowed. Only the command line (``vidgru.cli``)
imports this module; the library takes the records.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from vidgru.choices import PRECISIONS, RUNTIMES, STATE_MODELS  # noqa: F401  (re-exported for old callers)
from vidgru.errors import ConfigError
from vidgru.fileio import read_yaml  # noqa: F401  (one YAML reader, shared with the analytics file)
from vidgru.settings import (  # noqa: F401
    MAX_INT,
    BatchSettings,
    ClassifySettings,
    StateModelTrainSettings,
    TrackSettings,
    TrainSettings,
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
            if not -MAX_INT <= value <= MAX_INT:
                raise ConfigError(f"{key}: must be between {-MAX_INT} and {MAX_INT}, got {value}")
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        number = value
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            try:
                number = float(number)
            except OverflowError:  # an integer beyond a float's range
                number = math.inf
            if not math.isfinite(number):
                raise ConfigError(f"{key}: must be a finite number, got {value!r}")
            return number
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:  # a list of strings (a single string is a list of one)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return tuple(items)
    return value


def _coerce_in(file: str | Path, key: str, value: Any, annotation: Any) -> Any:
    """:func:`_coerce` for a value read from ``file``: its errors name the file."""
    try:
        return _coerce(key, value, annotation)
    except ConfigError as exc:
        raise ConfigError(f"config {file}: {exc}") from None


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
            values[key] = _coerce_in(file, key, value, hints[key])
    for raw_key, value in overrides.items():
        key = accepted.get(raw_key)
        if key is None:
            raise ConfigError(f"unknown setting {raw_key!r}; allowed: {allowed}")
        if value is not None:
            values[key] = value
    return cls(**values)


def build_batch_settings(file: str | Path | None = None, *, track_config: str | Path | None = None,
                         **flat: Any) -> BatchSettings:
    """``vidgru batch``'s settings from a YAML ``file`` and flags: keys of :class:`BatchSettings` set the batch;
    any other key goes to the task settings that have it (``model`` to classify, ``detector`` to track, ``fps``
    to both). The YAML may also hold ``classify:`` and ``track:`` sections, and ``track_config`` names a
    ``vidgru track`` YAML (configs/track.yaml) underneath the track flags. Flags (non-None values in ``flat``)
    win over the file."""
    batch_keys = {f.name for f in dataclasses.fields(BatchSettings) if f.name not in ("classify", "track")}
    sections: dict[str, tuple[type, dict[str, Any]]] = {"classify": (ClassifySettings, {}),
                                                         "track": (TrackSettings, {})}
    top: dict[str, Any] = {}

    def route(raw_key: str, value: Any, where: str) -> None:
        key = raw_key.replace("-", "_")
        if key in batch_keys:
            hints = typing.get_type_hints(BatchSettings)
            top[key] = _coerce_in(file, key, value, hints[key]) if where != "flag" else value
            return
        taken = False
        for cls, values in sections.values():
            name = _names(cls).get(key)
            if name is not None:
                values[name] = (_coerce_in(file, name, value, typing.get_type_hints(cls)[name]) if where != "flag"
                                else value)
                taken = True
        if not taken:
            allowed = sorted(batch_keys | set(_names(ClassifySettings)) | set(_names(TrackSettings)))
            raise ConfigError(f"{where}: unknown key {raw_key!r}; allowed keys: {', '.join(allowed)}")

    if file is not None:
        data = read_yaml(file)
        for name, (cls, values) in sections.items():
            section = data.pop(name, None) or {}
            if not isinstance(section, dict):
                raise ConfigError(f"config {file}: {name}: expected a mapping of keys to values")
            for raw_key, value in section.items():
                key = _names(cls).get(str(raw_key).replace("-", "_"))
                if key is None:
                    raise ConfigError(f"config {file}: {name}: unknown key {raw_key!r}")
                values[key] = _coerce_in(file, key, value, typing.get_type_hints(cls)[key])
        track_config = data.pop("track_config", None) if track_config is None else track_config
        for raw_key, value in data.items():
            route(str(raw_key), value, f"config {file}")
    for key, value in flat.items():
        if value is not None and value != ():  # () is a repeatable flag not given
            route(key, value, "flag")
    classify = build_config(ClassifySettings, None, **sections["classify"][1])
    track = build_config(TrackSettings, track_config, **sections["track"][1])
    return BatchSettings(**top, classify=classify, track=track)
