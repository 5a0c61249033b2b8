"""The analytics stage: tracks in, events and a summary out.

:class:`Analytics` reads one :class:`~vidgru.types.FrameTracks` per frame (``update``) and returns the events of
that frame: line crossings and zone entries/exits. How it decides:

- **The anchor** of a box (bottom centre by default) is what crosses lines and stands in zones; boxes are the
  tracker's smoothed ones.
- **Hysteresis.** A track is on a side of a line once its anchor is more than ``hysteresis`` x box height past
  it; inside the band it keeps the side it had. A crossing is a change of side whose path meets the line
  segment (not its extension). Jitter on the line is then no crossing, and a track that stops on the line is
  counted once it is clearly over.
- **Once per direction.** Each track counts at most once per line and direction (``in`` and ``out``).
- **Confirmation.** A track's events count once it has been reported in ``confirm_frames`` frames; events from
  before are held and released then (counted from its history), and dropped if it vanishes first.
- **ID switches and broken tracks.** When a new track ID appears within ``link_s`` seconds and
  ``link_distance`` box heights of where a vanished track was heading, it continues that track: it inherits its
  sides, counts and zone visits. A person whose track breaks just before a line and restarts past it is
  counted (once); one whose ID switches after crossing is not counted again.
- **Zones** use the same anchor, hysteresis and confirmation; a track vanishing inside a zone exits at the
  time it was last seen, once it is given up (``link_s`` or ``forget_s`` later).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vidgru.analytics.events import AnalyticsSummary, CrossEvent, Event, LineCount, ZoneEvent, ZoneStats
from vidgru.analytics.geometry import Line, Zone, apply_homography
from vidgru.analytics.spec import AnalyticsSpec
from vidgru.types import FrameTracks, Track


def anchor_points(tracks: list[Track], anchor: str = "bottom_center") -> np.ndarray:
    """(N, 2) anchor points in pixels of the tracks' boxes: ``bottom_center`` or ``center``."""
    if not tracks:
        return np.zeros((0, 2))
    b = np.asarray([t.xyxy for t in tracks], dtype=np.float64)
    y = b[:, 3] if anchor == "bottom_center" else (b[:, 1] + b[:, 3]) / 2
    return np.c_[(b[:, 0] + b[:, 2]) / 2, y]


@dataclass
class _State:
    """What the stage remembers of one track ID."""

    track_id: int
    class_name: str
    first_s: float
    last_s: float = 0.0
    last_frame: int = 0
    seen: int = 0
    confirmed: bool = False
    anchor: tuple[float, float] = (0.0, 0.0)
    height: float = 1.0
    history: deque = field(default_factory=deque)  # (timestamp_s, x, y) in speed units' plane
    image_history: deque = field(default_factory=deque)  # (timestamp_s, x, y) pixels, for the link prediction
    sides: dict[int, int] = field(default_factory=dict)  # line index -> -1 / +1 (0: not decided yet)
    side_points: dict[int, tuple[float, float]] = field(default_factory=dict)
    raw_sides: dict[int, float] = field(default_factory=dict)  # line index -> the last signed distance
    counted: dict[int, set[str]] = field(default_factory=dict)
    inside: dict[int, bool] = field(default_factory=dict)  # zone index -> decided inside/outside
    entered: dict[int, float] = field(default_factory=dict)  # zone index -> time of entry
    pending: list = field(default_factory=list)  # events held until the track is confirmed
    speeds: list[float] = field(default_factory=list)
    continued_by: int | None = None  # a later track ID that took this one over


class Analytics:
    """Line counts, zone occupancy and dwell, and speeds over one input's tracks.

    Args:
        spec: lines, zones and rules (:class:`~vidgru.analytics.spec.AnalyticsSpec`).
        frame_size: (width, height) in pixels, to resolve fractions and check the geometry (None: unknown,
            pixel coordinates only, unchecked against the frame).
        forget_s: how long a vanished track is remembered when ``link_s`` is shorter (a track may come back
            with its own ID within the tracker's ``max_lost_s``).

    Raises:
        ConfigError: bad geometry for this frame size.

    Example::

        analytics = Analytics(spec, frame_size=(1920, 1080))
        for frame_tracks in tracks:
            for event in analytics.update(frame_tracks):
                print(event.to_dict())
        summary = analytics.summary()
    """

    def __init__(self, spec: AnalyticsSpec, *, frame_size: tuple[int, int] | None, forget_s: float = 1.5) -> None:
        self.spec = spec
        self.lines: list[Line]
        self.zones: list[Zone]
        self.lines, self.zones = spec.resolve(frame_size)
        self.homography = spec.homography
        self.speed_unit = "m/s" if self.homography is not None else "px/s"
        self.forget_s = max(float(forget_s), spec.link_s)
        self.reset()

    def reset(self) -> None:
        """Forget every track and count (a new input)."""
        self._states: dict[int, _State] = {}
        self._counts: list[dict[tuple[str, str], int]] = [{} for _ in self.lines]
        self._entries = [0] * len(self.zones)
        self._exits = [0] * len(self.zones)
        self._dwell: list[list[float]] = [[] for _ in self.zones]
        self._occupancy_sum = [0] * len(self.zones)
        self._occupancy_max = [0] * len(self.zones)
        self.occupancy = [0] * len(self.zones)  # confirmed tracks inside each zone in the last frame
        self._finished_speeds: list[tuple[str, float]] = []
        self._frames = 0
        self._first_s: float | None = None
        self._last_s = 0.0
        self._last_frame = 0

    # --------------------------------------------------------------------------------------------- per frame
    def update(self, frame_tracks: FrameTracks) -> list[Event]:
        """Take one frame's tracks (frames in order); return the events that became known in it (crossings and
        zone entries/exits, including those held for tracks confirmed now and exits of tracks given up now)."""
        now, frame = frame_tracks.timestamp_s, frame_tracks.frame_index
        self._frames += 1
        self._first_s = now if self._first_s is None else self._first_s
        self._last_s, self._last_frame = now, frame
        tracks = frame_tracks.tracks
        anchors = anchor_points(tracks, self.spec.anchor)
        heights = np.asarray([max(t.xyxy[3] - t.xyxy[1], 1.0) for t in tracks], dtype=np.float64)
        present = {t.track_id for t in tracks}
        events: list[Event] = []
        new = [i for i, t in enumerate(tracks) if t.track_id not in self._states]
        linked = self._link(new, tracks, anchors, heights, present, now) if new and self.spec.link_s > 0 else {}
        plane = apply_homography(self.homography, anchors) if self.homography is not None and len(tracks) else anchors
        line_dist = [line.signed_distance(anchors) for line in self.lines]
        zone_dist = [zone.signed_distance(anchors) for zone in self.zones]
        occupancy = [0] * len(self.zones)
        for i, track in enumerate(tracks):
            state = self._states.get(track.track_id)
            if state is None:
                state = _State(track.track_id, track.class_name, now)
                source = linked.get(i)
                if source is not None:
                    self._continue(state, source)
                self._states[track.track_id] = state
            state.class_name = track.class_name or state.class_name
            state.seen += 1
            state.last_s, state.last_frame = now, frame
            point = (float(anchors[i, 0]), float(anchors[i, 1]))
            state.anchor, state.height = point, float(heights[i])
            self._remember(state, now, point, (float(plane[i, 0]), float(plane[i, 1])))
            out = events if state.confirmed else state.pending
            band = self.spec.hysteresis * heights[i]
            for k, line in enumerate(self.lines):
                self._cross(state, k, line, float(line_dist[k][i]), band, point, now, frame, out)
            for k, zone in enumerate(self.zones):
                self._zone(state, k, zone, float(zone_dist[k][i]), band, now, frame, out)
            if not state.confirmed and state.seen >= self.spec.confirm_frames:
                state.confirmed = True
                for event in state.pending:
                    self._tally(event)
                events.extend(state.pending)
                state.pending.clear()
            if state.confirmed:
                for k in range(len(self.zones)):
                    occupancy[k] += bool(state.inside.get(k))
        for k, n in enumerate(occupancy):
            self._occupancy_sum[k] += n
            self._occupancy_max[k] = max(self._occupancy_max[k], n)
        self.occupancy = occupancy
        events += self._forget(present, now)
        return events

    def _remember(self, state: _State, now: float, point: tuple[float, float], plane: tuple[float, float]) -> None:
        window = self.spec.speed_window_s
        state.history.append((now, *plane))
        state.image_history.append((now, *point))
        for h in (state.history, state.image_history):
            while len(h) > 2 and now - h[1][0] >= window:
                h.popleft()
        t0, x0, y0 = state.history[0]
        if now - t0 >= 0.5 * window:  # enough time for a speed that is not mostly jitter
            state.speeds.append(math.hypot(plane[0] - x0, plane[1] - y0) / (now - t0))

    def speed_of(self, track_id: int) -> float | None:
        """The track's latest speed (``speed_unit``), None when unknown."""
        state = self._states.get(track_id)
        return state.speeds[-1] if state is not None and state.speeds else None

    def _cross(self, state: _State, k: int, line: Line, distance: float, band: float, point: tuple[float, float],
               now: float, frame: int, out: list) -> None:
        state.raw_sides[k] = distance
        side = 1 if distance > band else -1 if distance < -band else 0
        if side == 0:
            return  # within the band: the side stays as it was
        before = state.sides.get(k, 0)
        if before and side != before:
            self._count(state, k, line, side, point, now, frame, out)
        state.sides[k] = side
        state.side_points[k] = point

    def _count(self, state: _State, k: int, line: Line, side: int, point: tuple[float, float], now: float,
               frame: int, out: list) -> None:
        """The track went over to ``side`` of line ``k`` at ``point``: one event if its path meets the segment
        and it has not crossed that way before."""
        where = line.crossing_fraction(state.side_points[k], point)
        direction = "in" if side > 0 else "out"
        counted = state.counted.setdefault(k, set())
        if where is not None and 0.0 <= where <= 1.0 and direction not in counted:
            counted.add(direction)
            event = CrossEvent(line.name, state.track_id, state.class_name, direction, now, frame,
                               state.speeds[-1] if state.speeds else None, self.speed_unit)
            out.append(event)
            if out is not state.pending:
                self._tally(event)

    def _zone(self, state: _State, k: int, zone: Zone, distance: float, band: float, now: float, frame: int,
              out: list) -> None:
        inside = True if distance > band else False if distance < -band else None
        if inside is None or inside == state.inside.get(k, False):
            if inside is not None:
                state.inside[k] = inside
            return
        state.inside[k] = inside
        if inside:
            state.entered[k] = now
            event = ZoneEvent("enter", zone.name, state.track_id, state.class_name, now, frame)
        else:
            event = ZoneEvent("exit", zone.name, state.track_id, state.class_name, now, frame,
                              now - state.entered.pop(k, now))
        out.append(event)
        if out is not state.pending:
            self._tally(event)

    def _tally(self, event: Event) -> None:
        """Add a confirmed event to the running counts."""
        if isinstance(event, CrossEvent):
            k = next(i for i, line in enumerate(self.lines) if line.name == event.line)
            key = (event.direction, event.class_name)
            self._counts[k][key] = self._counts[k].get(key, 0) + 1
            return
        k = next(i for i, zone in enumerate(self.zones) if zone.name == event.zone)
        if event.kind == "enter":
            self._entries[k] += 1
        else:
            self._exits[k] += 1
            self._dwell[k].append(float(event.dwell_s or 0.0))

    # --------------------------------------------------------------------------------------------- ID changes
    def _link(self, new: list[int], tracks: list[Track], anchors: np.ndarray, heights: np.ndarray,
              present: set[int], now: float) -> dict[int, _State]:
        """New track (index into ``tracks``) -> the vanished track it continues: nearest first, each at most once,
        within ``link_distance`` box heights of where the vanished track was heading (its velocity over the
        speed window carried to now) and of a similar height (within a factor 1.5)."""
        gone = [s for s in self._states.values()
                if s.track_id not in present and s.continued_by is None and 0 < now - s.last_s <= self.spec.link_s]
        if not gone:
            return {}
        pairs = []
        for s in gone:
            gap = now - s.last_s
            (t0, x0, y0), (t1, x1, y1) = s.image_history[0], s.image_history[-1]
            vx, vy = ((x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)) if t1 > t0 else (0.0, 0.0)
            px, py = s.anchor[0] + vx * gap, s.anchor[1] + vy * gap
            for i in new:
                h = heights[i]
                if not (1 / 1.5 <= h / s.height <= 1.5):
                    continue
                d = math.hypot(anchors[i, 0] - px, anchors[i, 1] - py)
                if d <= self.spec.link_distance * max(h, s.height):
                    pairs.append((d, i, s))
        out: dict[int, _State] = {}
        taken: set[int] = set()
        for _, i, s in sorted(pairs, key=lambda p: p[0]):
            if i in out or s.track_id in taken:
                continue
            out[i] = s
            taken.add(s.track_id)
        return out

    def _continue(self, state: _State, source: _State) -> None:
        """``state`` (a new ID) takes over the vanished ``source``: sides, counts, zone visits, confirmation."""
        source.continued_by = state.track_id
        state.first_s = source.first_s
        state.sides = dict(source.sides)
        state.side_points = dict(source.side_points)
        state.counted = {k: set(v) for k, v in source.counted.items()}
        state.inside, state.entered = dict(source.inside), dict(source.entered)
        source.inside, source.entered = {}, {}
        state.confirmed = source.confirmed
        state.pending = source.pending
        source.pending = []
        state.seen = source.seen

    def _forget(self, present: set[int], now: float) -> list[Event]:
        """Give up tracks unseen for longer than ``forget_s``; confirmed ones exit the zones they were in."""
        events: list[Event] = []
        for track_id in [i for i, s in self._states.items() if i not in present and now - s.last_s > self.forget_s]:
            events += self._close(self._states.pop(track_id))
        return events

    def _close(self, state: _State) -> list[Event]:
        """A track given up: it exits the zones it was in, and a crossing it made but had not cleared the
        hysteresis band of when it vanished (it left just past the line) counts now."""
        events: list[Event] = []
        if state.confirmed and state.continued_by is None:
            for k, line in enumerate(self.lines):
                raw, side = state.raw_sides.get(k, 0.0), state.sides.get(k, 0)
                if side and raw and (raw > 0) != (side > 0):
                    self._count(state, k, line, 1 if raw > 0 else -1, state.anchor, state.last_s, state.last_frame,
                                events)
            for k, inside in sorted(state.inside.items()):
                if inside:
                    entered = state.entered.get(k, state.last_s)
                    event = ZoneEvent("exit", self.zones[k].name, state.track_id, state.class_name, state.last_s,
                                      state.last_frame, state.last_s - entered)
                    self._tally(event)
                    events.append(event)
            if state.speeds:
                self._finished_speeds.append((state.class_name, float(np.median(state.speeds))))
        return events

    def finish(self) -> list[Event]:
        """The end of the input: tracks that vanished and are not given up yet exit their zones now; tracks in the
        last frame stay inside (counted as ``inside_at_end``)."""
        events: list[Event] = []
        for track_id in [i for i, s in self._states.items() if s.last_frame != self._last_frame]:
            events += self._close(self._states.pop(track_id))
        return events

    # ----------------------------------------------------------------------------------------------- results
    def counts(self) -> list[tuple[str, int, int]]:
        """(line name, in, out) so far, for overlays."""
        return [(line.name, sum(n for (d, _), n in c.items() if d == "in"),
                 sum(n for (d, _), n in c.items() if d == "out")) for line, c in zip(self.lines, self._counts,
                                                                                   strict=True)]

    def summary(self) -> AnalyticsSummary:
        """Counts, zone statistics and speeds so far."""
        inside_now = [0] * len(self.zones)
        speeds = list(self._finished_speeds)
        for s in self._states.values():
            if s.confirmed and s.continued_by is None:
                for k, inside in s.inside.items():
                    inside_now[k] += bool(inside)
                if s.speeds:
                    speeds.append((s.class_name, float(np.median(s.speeds))))
        by_class: dict[str, list[float]] = {}
        for cls, v in speeds:
            by_class.setdefault(cls, []).append(v)
        speed_stats = {cls: (len(v), float(np.mean(v)), float(np.median(v)), float(np.max(v)))
                       for cls, v in by_class.items()}
        frames = max(self._frames, 1)
        return AnalyticsSummary(
            lines=tuple(LineCount(line.name, dict(c)) for line, c in zip(self.lines, self._counts, strict=True)),
            zones=tuple(ZoneStats(z.name, self._entries[k], self._exits[k], self._occupancy_max[k],
                                  self._occupancy_sum[k] / frames, tuple(self._dwell[k]), inside_now[k])
                        for k, z in enumerate(self.zones)),
            speeds=speed_stats, speed_unit=self.speed_unit, frames=self._frames,
            duration_s=(self._last_s - self._first_s) if self._first_s is not None else 0.0)
