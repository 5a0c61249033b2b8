"""What to measure on the tracks: lines, zones, the calibration and the counting rules, from flags or a YAML file.

The YAML format (``configs/analytics.yaml`` documents every key)::

    units: auto                 # auto | pixels | fraction (auto: a shape whose values all lie in [0, 1] is fractions)
    anchor: bottom_center       # the point of a box that crosses lines and stands in zones: bottom_center | center
    lines:
      - name: entrance
        points: [[100, 400], [700, 400]]      # or "100,400,700,400"
    zones:
      - name: crossing
        points: [[120, 300], [500, 300], [520, 560], [90, 560]]
    calibration:                # optional: speeds in metres/s
      image: [[x, y], [x, y], [x, y], [x, y]]     # four pixels on the ground
      world: [[0, 0], [10, 0], [10, 5], [0, 5]]   # the same four points in metres
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.analytics.geometry import UNITS, Line, LineSpec, Zone, ZoneSpec, fit_homography
from vidgru.errors import ConfigError

ANCHORS = ("bottom_center", "center")


@dataclass(frozen=True)
class AnalyticsSpec:
    """Lines, zones and rules of the analytics stage, before they are resolved to one frame size.

    ``hysteresis`` is how far past a line (or inside/outside a zone's edge) the anchor must go before the side
    changes, as a fraction of the box height (jitter on the line is then no crossing); ``confirm_frames`` is how
    many frames a track must be reported before its events count (a shorter-lived track is treated as a false
    track; its crossings are counted from its history once it is confirmed); ``link_s`` is how long a track that
    vanished may be continued by a new track ID appearing where it was heading (an ID switch or a broken track
    then keeps its counts and sides; 0 turns this off); ``speed_window_s`` the time over which speeds are
    measured.
    """

    lines: tuple[LineSpec, ...] = ()
    zones: tuple[ZoneSpec, ...] = ()
    anchor: str = "bottom_center"
    hysteresis: float = 0.02
    confirm_frames: int = 3
    link_s: float = 1.0
    link_distance: float = 1.0  # a new track continues a vanished one within this many box heights of it
    speed_window_s: float = 1.0
    calibration: tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]] | None = None

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ConfigError(f"analytics anchor: must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        for name in ("hysteresis", "link_s", "link_distance"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"analytics {name}: must be a number >= 0, got {value!r}")
        if not (isinstance(self.speed_window_s, (int, float)) and math.isfinite(self.speed_window_s)
                and self.speed_window_s > 0):
            raise ConfigError(f"analytics speed_window_s: must be a number > 0, got {self.speed_window_s!r}")
        if not (isinstance(self.confirm_frames, int) and 1 <= self.confirm_frames <= 10_000):
            raise ConfigError(f"analytics confirm_frames: must be an integer in [1, 10000], got "
                              f"{self.confirm_frames!r}")
        names = [s.name for s in self.lines] + [s.name for s in self.zones]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"analytics: the name {dup[0]!r} is used twice; lines and zones need distinct names")
        if self.calibration is not None:
            fit_homography(np.asarray(self.calibration[0]), np.asarray(self.calibration[1]))
        for shape in (*self.lines, *self.zones):  # what is wrong at any frame size fails now, not per input
            shape.resolve(None if not shape.uses_fractions else (1000, 1000))

    @property
    def empty(self) -> bool:
        return not (self.lines or self.zones)

    @property
    def homography(self) -> np.ndarray | None:
        """Image pixels -> ground-plane metres, or None without a calibration."""
        if self.calibration is None:
            return None
        return fit_homography(np.asarray(self.calibration[0]), np.asarray(self.calibration[1]))

    def resolve(self, size: tuple[int, int] | None) -> tuple[list[Line], list[Zone]]:
        """The lines and zones in pixels for frames of ``size`` = (width, height).

        Raises:
            ConfigError: bad geometry (:meth:`LineSpec.resolve`, :meth:`ZoneSpec.resolve`).
        """
        return [s.resolve(size) for s in self.lines], [s.resolve(size) for s in self.zones]


_KEYS = ("units", "anchor", "lines", "zones", "calibration", "hysteresis", "confirm_frames", "link_s",
         "link_distance", "speed_window_s")


def _points(where: str, value: Any) -> list[float]:
    """Flat numbers from ``[[x, y], ...]``, ``[x, y, ...]`` or ``"x,y,..."``."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of [x, y] points or 'x,y,...', got {type(value).__name__}")
    flat: list[Any] = []
    for item in value:
        flat.extend(item if isinstance(item, list) else [item])
    out = []
    for v in flat:
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {v!r} is not a number") from None
        if not math.isfinite(number) or isinstance(v, bool):
            raise ConfigError(f"{where}: {v!r} is not a finite number")
        out.append(number)
    return out


def _shapes(file: str, key: str, value: Any, units: str, kind: type) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"analytics {file}: {key}: expected a list of {{name, points}}")
    out = []
    for i, item in enumerate(value):
        where = f"analytics {file}: {key}[{i}]"
        if isinstance(item, str):  # the flag syntax, NAME:x1,y1,...
            try:
                out.append(kind.parse(item, default_name=f"{key[:-1]}{i + 1}", units=units))
            except ConfigError as exc:
                raise ConfigError(f"analytics {file}: {exc}") from None
            continue
        if not isinstance(item, dict) or set(item) - {"name", "points"} or "points" not in item:
            raise ConfigError(f"{where}: expected {{name: ..., points: [[x, y], ...]}}")
        name = str(item.get("name", f"{key[:-1]}{i + 1}"))
        coords = _points(where, item["points"])
        spec = ",".join(repr(c) for c in coords)
        try:
            out.append(kind.parse(f"{name}:{spec}", units=units))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return out


def load_analytics(path: str | Path) -> AnalyticsSpec:
    """Read an analytics YAML file (see the module docstring and ``configs/analytics.yaml``).

    Raises:
        ConfigError: naming the file: unreadable, not YAML, an unknown key, bad values or bad shapes.
    """
    from vidgru.fileio import read_yaml

    data = read_yaml(path, what="analytics")
    unknown = sorted(set(map(str, data)) - set(_KEYS))
    if unknown:
        raise ConfigError(f"analytics {path}: unknown key {unknown[0]!r}; allowed keys: {', '.join(_KEYS)}")
    units = str(data.get("units", "auto"))
    if units not in UNITS:
        raise ConfigError(f"analytics {path}: units: must be one of {', '.join(UNITS)}, got {units!r}")
    lines = _shapes(str(path), "lines", data.get("lines"), units, LineSpec)
    zones = _shapes(str(path), "zones", data.get("zones"), units, ZoneSpec)
    calibration = None
    if data.get("calibration") is not None:
        cal = data["calibration"]
        if not isinstance(cal, dict) or set(cal) != {"image", "world"}:
            raise ConfigError(f"analytics {path}: calibration: expected image: [4 points] and world: [4 points]")
        image = _points(f"analytics {path}: calibration.image", cal["image"])
        world = _points(f"analytics {path}: calibration.world", cal["world"])
        if len(image) != 8 or len(world) != 8:
            raise ConfigError(f"analytics {path}: calibration: expected 4 image and 4 world points (x, y each)")
        calibration = (tuple(zip(image[::2], image[1::2], strict=True)),
                       tuple(zip(world[::2], world[1::2], strict=True)))
    rules: dict[str, Any] = {}
    for f in fields(AnalyticsSpec):
        if f.name in data and f.name not in ("lines", "zones", "calibration"):
            value = data[f.name]
            if f.name == "confirm_frames" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"analytics {path}: confirm_frames: expected an integer, got {value!r}")
            rules[f.name] = value
    try:
        return AnalyticsSpec(lines=tuple(lines), zones=tuple(zones), calibration=calibration, **rules)
    except ConfigError as exc:
        raise ConfigError(f"analytics {path}: {str(exc).removeprefix('analytics ')}") from None


def analytics_spec(lines: tuple[str, ...] = (), zones: tuple[str, ...] = (), file: str | Path | None = None
                   ) -> AnalyticsSpec | None:
    """The analytics asked for by ``--line``/``--zone`` flags and an ``--analytics`` file together (the flags'
    shapes are added to the file's); None when nothing is asked.

    Raises:
        ConfigError: a bad flag or file.
    """
    base = load_analytics(file) if file is not None else AnalyticsSpec()
    extra_lines = tuple(LineSpec.parse(s, default_name=f"line{i + 1 + len(base.lines)}") for i, s in enumerate(lines))
    extra_zones = tuple(ZoneSpec.parse(s, default_name=f"zone{i + 1 + len(base.zones)}") for i, s in enumerate(zones))
    spec = replace(base, lines=base.lines + extra_lines, zones=base.zones + extra_zones)
    return None if spec.empty and file is None else spec


__all__ = ["ANCHORS", "AnalyticsSpec", "Line", "Zone", "analytics_spec", "load_analytics"]
