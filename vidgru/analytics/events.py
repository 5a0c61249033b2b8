"""The records the analytics stage hands on: events as they happen, and the summary of one input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass(frozen=True)
class CrossEvent:
    """A track crossed a line: ``direction`` is ``"in"`` (from the left of the line's p1 -> p2 to its right, y
    down) or ``"out"``; ``frame`` is 0-based (JSON: 1-based, like ``--json``); ``speed`` is the track's speed
    then, in ``speed_unit`` (None when too short a history)."""

    line: str
    track_id: int
    class_name: str
    direction: str
    timestamp_s: float
    frame: int
    speed: float | None = None
    speed_unit: str = "px/s"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "cross", "line": self.line, "track_id": self.track_id,
                               "class": self.class_name, "direction": self.direction,
                               "timestamp_s": _r(self.timestamp_s), "frame": self.frame + 1}
        if self.speed is not None:
            out["speed"] = _r(self.speed, 3)
            out["speed_unit"] = self.speed_unit
        return out


@dataclass(frozen=True)
class ZoneEvent:
    """A track entered (``kind="enter"``) or left (``"exit"``) a zone; on exit ``dwell_s`` is the time inside.
    A track that vanishes inside a zone exits at the time it was last seen (reported once it is given up)."""

    kind: str
    zone: str
    track_id: int
    class_name: str
    timestamp_s: float
    frame: int
    dwell_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "zone": self.zone, "track_id": self.track_id,
                               "class": self.class_name, "timestamp_s": _r(self.timestamp_s),
                               "frame": self.frame + 1}
        if self.dwell_s is not None:
            out["dwell_s"] = _r(self.dwell_s, 3)
        return out


Event = CrossEvent | ZoneEvent


@dataclass(frozen=True)
class LineCount:
    """Crossings of one line: ``counts[(direction, class)]``."""

    name: str
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def total(self, direction: str) -> int:
        return sum(n for (d, _), n in self.counts.items() if d == direction)


@dataclass(frozen=True)
class ZoneStats:
    """One zone over the input: entries and exits, occupancy (confirmed tracks inside per frame), dwell times
    of the visits that ended (seconds) and the tracks still inside at the end."""

    name: str
    entries: int
    exits: int
    max_occupancy: int
    mean_occupancy: float
    dwell_s: tuple[float, ...]
    inside_at_end: int

    def to_dict(self) -> dict[str, Any]:
        import numpy as np

        d = np.asarray(self.dwell_s, dtype=np.float64)
        return {"entries": self.entries, "exits": self.exits, "max_occupancy": self.max_occupancy,
                "mean_occupancy": _r(self.mean_occupancy, 3), "inside_at_end": self.inside_at_end,
                "dwell_s": {"visits": len(d), "mean": _r(d.mean(), 3) if len(d) else None,
                            "median": _r(float(np.median(d)), 3) if len(d) else None,
                            "max": _r(d.max(), 3) if len(d) else None}}


@dataclass(frozen=True)
class AnalyticsSummary:
    """What the analytics stage measured on one input: counts per line, direction and class; zone statistics;
    speeds per class (``speeds[class] = (tracks, mean, median, max)`` of each track's median speed, in
    ``speed_unit``); frames seen and the time they span."""

    lines: tuple[LineCount, ...]
    zones: tuple[ZoneStats, ...]
    speeds: dict[str, tuple[int, float, float, float]]
    speed_unit: str
    frames: int
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        """The ``--summary`` JSON."""
        lines = {}
        for line in self.lines:
            by_class: dict[str, dict[str, int]] = {}
            for (direction, cls), n in sorted(line.counts.items()):
                by_class.setdefault(cls or "unknown", {"in": 0, "out": 0})[direction] += n
            lines[line.name] = {"in": line.total("in"), "out": line.total("out"), "by_class": by_class}
        return {"frames": self.frames, "duration_s": _r(self.duration_s, 3), "lines": lines,
                "zones": {z.name: z.to_dict() for z in self.zones},
                "speed": {"unit": self.speed_unit,
                          "by_class": {cls or "unknown": {"tracks": n, "mean": _r(mean, 3), "median": _r(med, 3),
                                                          "max": _r(top, 3)}
                                       for cls, (n, mean, med, top) in sorted(self.speeds.items())}}}

    def csv_rows(self) -> list[list[Any]]:
        """Rows under :data:`SUMMARY_CSV_HEADER`: ``line`` rows (name, direction, class, count), ``zone`` rows
        (name, statistic, value) and ``speed`` rows (class, statistic, value)."""
        rows: list[list[Any]] = []
        for line in self.lines:
            for direction in ("in", "out"):
                rows.append(["line", line.name, direction, "all", line.total(direction)])
            for (direction, cls), n in sorted(line.counts.items()):
                rows.append(["line", line.name, direction, cls or "unknown", n])
        for zone in self.zones:
            d = zone.to_dict()
            for key in ("entries", "exits", "max_occupancy", "mean_occupancy", "inside_at_end"):
                rows.append(["zone", zone.name, key, "all", d[key]])
            for key, value in d["dwell_s"].items():
                rows.append(["zone", zone.name, f"dwell_s_{key}", "all", value])
        for cls, (n, mean, med, top) in sorted(self.speeds.items()):
            for key, value in (("tracks", n), ("mean", mean), ("median", med), ("max", top)):
                rows.append(["speed", self.speed_unit, key, cls or "unknown", _r(value, 3)])
        return rows


SUMMARY_CSV_HEADER = ["kind", "name", "key", "class", "value"]
