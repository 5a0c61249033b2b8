"""Counting lines, zones and the ground-plane calibration: parsing, validation and the arithmetic on points.

Coordinates are image pixels (x right, y down) once resolved. A shape may be given in pixels or as fractions of
the frame (every value in [0, 1]); :meth:`LineSpec.resolve` / :meth:`ZoneSpec.resolve` turn it into pixels for
one frame size and refuse bad geometry with one :class:`~vidgru.errors.ConfigError` line: a line of zero length,
a zone with fewer than three corners, no area or crossing edges, points outside the frame.

Direction convention of a line drawn from ``p1`` to ``p2``: ``"in"`` is a crossing from its left to its right
as seen walking from ``p1`` to ``p2`` in the image (y down). For a line drawn left to right that is downwards;
for a line drawn top to bottom it is right to left.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from vidgru.errors import ConfigError

UNITS = ("auto", "pixels", "fraction")
_NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")


def _numbers(what: str, text: str) -> list[float]:
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"{what}: {part!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{what}: {part!r} is not a finite number")
        values.append(value)
    return values


def _split_name(kind: str, spec: str, default: str) -> tuple[str, str]:
    name, sep, coords = spec.rpartition(":")
    if not sep:
        name, coords = default, spec
    name = name.strip()
    if not _NAME.match(name):
        raise ConfigError(f"{kind} {spec!r}: name {name!r} must be 1-64 letters, digits, spaces, '_', '-' or '.'")
    return name, coords


def _use_fraction(what: str, values: list[float], units: str) -> bool:
    if units not in UNITS:
        raise ConfigError(f"{what}: units must be one of {', '.join(UNITS)}, got {units!r}")
    if units == "auto":
        return all(0.0 <= v <= 1.0 for v in values)
    return units == "fraction"


def _to_pixels(what: str, points: np.ndarray, fraction: bool, size: tuple[int, int] | None) -> np.ndarray:
    """(K, 2) points in pixels for a frame of ``size`` = (width, height), checked to lie within the frame."""
    if size is None:
        if fraction:
            raise ConfigError(f"{what}: given as fractions of the frame, but the frame size is unknown")
        return points
    width, height = size
    if fraction:
        if (points < 0).any() or (points > 1).any():
            raise ConfigError(f"{what}: fractions of the frame must lie in [0, 1]")
        return points * np.array([width, height], dtype=np.float64)
    outside = (points[:, 0] < 0) | (points[:, 0] > width) | (points[:, 1] < 0) | (points[:, 1] > height)
    if outside.any():
        x, y = points[int(np.argmax(outside))]
        raise ConfigError(f"{what}: point ({x:g}, {y:g}) is outside the {width}x{height} frame")
    return points


@dataclass(frozen=True)
class Line:
    """A counting line in pixels: the segment ``p1`` -> ``p2`` (x, y)."""

    name: str
    p1: tuple[float, float]
    p2: tuple[float, float]

    @property
    def length(self) -> float:
        return math.hypot(self.p2[0] - self.p1[0], self.p2[1] - self.p1[1])

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance in pixels of (N, 2) points from the infinite line: positive on the ``in`` side (right of
        p1 -> p2 in image coordinates, y down)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.p2[0] - self.p1[0], self.p2[1] - self.p1[1]
        # cross((p2 - p1), (p - p1)) > 0 means clockwise on screen (y down): the right-hand side
        return (dx * (p[:, 1] - self.p1[1]) - dy * (p[:, 0] - self.p1[0])) / self.length

    def crossing_fraction(self, a: tuple[float, float], b: tuple[float, float]) -> float | None:
        """Where the movement ``a`` -> ``b`` meets the infinite line, as a fraction along p1 -> p2 (0 at p1, 1 at
        p2); None when the movement is parallel to the line."""
        (x1, y1), (x2, y2) = self.p1, self.p2
        rx, ry = x2 - x1, y2 - y1
        sx, sy = b[0] - a[0], b[1] - a[1]
        denom = rx * sy - ry * sx
        if abs(denom) < 1e-12:
            return None
        return ((a[0] - x1) * sy - (a[1] - y1) * sx) / denom


@dataclass(frozen=True)
class Zone:
    """A polygon zone in pixels: (K, 2) corners in order, K >= 3, simple (no crossing edges)."""

    name: str
    points: tuple[tuple[float, float], ...]

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance in pixels of (N, 2) points to the zone's boundary: positive inside, negative outside."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        poly = np.asarray(self.points, dtype=np.float64)
        a, b = poly, np.roll(poly, -1, axis=0)  # edges a[i] -> b[i]
        ab = b - a  # (K, 2)
        ap = p[:, None, :] - a[None, :, :]  # (N, K, 2)
        t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)  # (N, K)
        nearest = a[None] + t[..., None] * ab[None]
        dist = np.sqrt(((p[:, None, :] - nearest) ** 2).sum(-1)).min(axis=1)
        # even-odd rule: a ray to the right crosses an odd number of edges from inside
        ya, yb = a[:, 1][None], b[:, 1][None]
        straddle = (ya > p[:, 1:2]) != (yb > p[:, 1:2])
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = a[:, 0][None] + (p[:, 1:2] - ya) * (b[:, 0] - a[:, 0])[None] / (yb - ya)
        inside = (straddle & (p[:, 0:1] < x_at)).sum(axis=1) % 2 == 1
        return np.where(inside, dist, -dist)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: which of the (N, 2) points lie inside."""
        return self.signed_distance(points) > 0

    @property
    def area(self) -> float:
        x, y = np.asarray(self.points, dtype=np.float64).T
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _segments_cross(p1, p2, q1, q2) -> bool:
    """Whether the closed segments p1p2 and q1q2 touch or cross."""

    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on(a, b, c) -> bool:  # c on segment ab, given collinear
        return min(a[0], b[0]) - 1e-9 <= c[0] <= max(a[0], b[0]) + 1e-9 and \
            min(a[1], b[1]) - 1e-9 <= c[1] <= max(a[1], b[1]) + 1e-9

    d1, d2, d3, d4 = orient(q1, q2, p1), orient(q1, q2, p2), orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return ((d1 == 0 and on(q1, q2, p1)) or (d2 == 0 and on(q1, q2, p2)) or (d3 == 0 and on(p1, p2, q1))
            or (d4 == 0 and on(p1, p2, q2)))


@dataclass(frozen=True)
class LineSpec:
    """A line as the user gave it (pixels or fractions), resolved per frame size by :meth:`resolve`."""

    name: str
    coords: tuple[float, float, float, float]
    units: str = "auto"

    @classmethod
    def parse(cls, spec: str, *, default_name: str = "line", units: str = "auto") -> LineSpec:
        """``"NAME:x1,y1,x2,y2"`` (the name may be left out).

        Raises:
            ConfigError: not four numbers, or a bad name.
        """
        name, coords = _split_name("--line", spec, default_name)
        values = _numbers(f"--line {spec!r}", coords)
        if len(values) != 4:
            raise ConfigError(f"--line {spec!r}: expected NAME:x1,y1,x2,y2 (4 numbers), got {len(values)}")
        return cls(name, tuple(values), units)  # type: ignore[arg-type]

    @property
    def uses_fractions(self) -> bool:
        return _use_fraction(f"line {self.name!r}", list(self.coords), self.units)

    def resolve(self, size: tuple[int, int] | None) -> Line:
        """The line in pixels for frames of ``size`` = (width, height) (None: unknown, pixels only).

        Raises:
            ConfigError: zero length, or a point outside the frame.
        """
        what = f"line {self.name!r}"
        fraction = _use_fraction(what, list(self.coords), self.units)
        pts = _to_pixels(what, np.asarray(self.coords, dtype=np.float64).reshape(2, 2), fraction, size)
        line = Line(self.name, (float(pts[0, 0]), float(pts[0, 1])), (float(pts[1, 0]), float(pts[1, 1])))
        if line.length < 1.0:
            raise ConfigError(f"{what}: zero length (its two ends are the same point)")
        return line


@dataclass(frozen=True)
class ZoneSpec:
    """A polygon zone as the user gave it (pixels or fractions), resolved per frame size by :meth:`resolve`."""

    name: str
    coords: tuple[float, ...]
    units: str = "auto"

    @classmethod
    def parse(cls, spec: str, *, default_name: str = "zone", units: str = "auto") -> ZoneSpec:
        """``"NAME:x1,y1,x2,y2,x3,y3,..."`` (the name may be left out).

        Raises:
            ConfigError: an odd count of numbers, fewer than three corners, or a bad name.
        """
        name, coords = _split_name("--zone", spec, default_name)
        values = _numbers(f"--zone {spec!r}", coords)
        if len(values) % 2 or len(values) < 6:
            raise ConfigError(f"--zone {spec!r}: expected NAME:x1,y1,x2,y2,x3,y3,... (at least 3 corners, x,y "
                              f"pairs), got {len(values)} numbers")
        return cls(name, tuple(values), units)

    @property
    def uses_fractions(self) -> bool:
        return _use_fraction(f"zone {self.name!r}", list(self.coords), self.units)

    def resolve(self, size: tuple[int, int] | None) -> Zone:
        """The zone in pixels for frames of ``size`` = (width, height).

        Raises:
            ConfigError: repeated corners, no area, crossing edges, or a corner outside the frame.
        """
        what = f"zone {self.name!r}"
        fraction = _use_fraction(what, list(self.coords), self.units)
        pts = _to_pixels(what, np.asarray(self.coords, dtype=np.float64).reshape(-1, 2), fraction, size)
        k = len(pts)
        for i in range(k):
            if np.hypot(*(pts[i] - pts[(i + 1) % k])) < 1e-9:
                raise ConfigError(f"{what}: corner {i + 1} repeats the next corner")
        for i in range(k):
            for j in range(i + 1, k):
                if j == i + 1 or (i == 0 and j == k - 1):
                    continue  # neighbouring edges share a corner
                if _segments_cross(pts[i], pts[(i + 1) % k], pts[j], pts[(j + 1) % k]):
                    raise ConfigError(f"{what}: self-intersecting (edge {i + 1} crosses edge {j + 1}); give the "
                                      "corners in order around the zone")
        zone = Zone(self.name, tuple((float(x), float(y)) for x, y in pts))
        if zone.area < 1e-6:
            raise ConfigError(f"{what}: has no area (its corners are on one line)")
        return zone


# ------------------------------------------------------------------------------------- ground-plane calibration


def fit_homography(image_points: np.ndarray, world_points: np.ndarray) -> np.ndarray:
    """The 3x3 homography H mapping image pixels to ground-plane coordinates (world ~ H @ [x, y, 1]) from four
    point pairs (direct linear transform, exact for four points).

    Args:
        image_points: (4, 2) pixels.
        world_points: (4, 2) metres (any unit: speeds come out in that unit per second).

    Raises:
        ConfigError: not four pairs, or three of the points on one line (no unique homography).
    """
    src = np.asarray(image_points, dtype=np.float64)
    dst = np.asarray(world_points, dtype=np.float64)
    if src.shape != (4, 2) or dst.shape != (4, 2):
        raise ConfigError(f"calibration: expected 4 image points and 4 world points (x, y each), got arrays of "
                          f"shape {src.shape} and {dst.shape}")
    for name, pts in (("image", src), ("world", dst)):
        scale = max(float(np.ptp(pts)), 1e-12)
        for skip in range(4):
            a, b, c = (pts[i] for i in range(4) if i != skip)
            if abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) < 1e-6 * scale * scale:
                raise ConfigError(f"calibration: three of the {name} points lie on one line; give four corners "
                                  "of a quadrilateral on the ground")
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    try:
        h = np.linalg.solve(np.asarray(rows), np.asarray(rhs))
    except np.linalg.LinAlgError:
        raise ConfigError("calibration: the points give no unique homography") from None
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) image points mapped through the 3x3 ``matrix`` to (N, 2) plane coordinates."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    q = np.c_[p, np.ones(len(p))] @ np.asarray(matrix, dtype=np.float64).T
    return q[:, :2] / q[:, 2:3]
