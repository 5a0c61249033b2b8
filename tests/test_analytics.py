"""The analytics stage: crossing logic, zones and dwell, geometry and its errors, the homography, speeds."""

from __future__ import annotations

import numpy as np
import pytest

from vidgru.analytics import Analytics, AnalyticsSpec, CrossEvent, ZoneEvent, analytics_spec, load_analytics
from vidgru.analytics.geometry import LineSpec, ZoneSpec, apply_homography, fit_homography
from vidgru.errors import ConfigError
from vidgru.types import FrameTracks, Track

FPS = 10.0
HEIGHT = 100.0  # box height: the hysteresis band is a fraction of it


def frame(i: int, *tracks: tuple[int, float, float]) -> FrameTracks:
    """Frame ``i`` with tracks given as (id, x, y) of their bottom centre; boxes 40 x 100 px."""
    return FrameTracks(i, i / FPS, [Track(tid, (x - 20, y - HEIGHT, x + 20, y), 0.9, 0, "person")
                                    for tid, x, y in tracks])


def run(spec: AnalyticsSpec, frames: list[FrameTracks], *, size=(400, 400)) -> tuple[Analytics, list]:
    analytics = Analytics(spec, frame_size=size, forget_s=0.5)
    events = []
    for ft in frames:
        events += analytics.update(ft)
    events += analytics.finish()
    return analytics, events


def path(track_id: int, ys: list[float | None], x: float = 200.0, start: int = 0) -> list[FrameTracks]:
    """One track moving along x = ``x`` through the y values (None: not reported that frame)."""
    return [frame(start + i, *([(track_id, x, y)] if y is not None else [])) for i, y in enumerate(ys)]


MID = LineSpec.parse("mid:0,200,400,200")  # drawn left to right: "in" is downwards


def crossings(events) -> list[tuple[int, str]]:
    return [(e.track_id, e.direction) for e in events if isinstance(e, CrossEvent)]


# ------------------------------------------------------------------------------------------------- crossings
CROSSING_CASES = {
    "down-once": (list(range(150, 260, 10)), [(1, "in")]),
    "up-once": (list(range(260, 150, -10)), [(1, "out")]),
    # the anchor wobbles 1 px around the line (band: 0.02 x 100 px = 2 px): no crossing at all
    "jitter-on-the-line": ([150, 170, 190, 199, 201, 199, 201, 199, 201, 199, 190, 170], []),
    # down, back up, down again: once per direction, never twice the same way
    "crossing-twice": ([150, 190, 230, 250, 230, 190, 150, 190, 230, 250], [(1, "in"), (1, "out")]),
    # stops in the band just past the line and stays: counted when it is clearly over
    "slow-over-the-line": ([180, 190, 199, 201, 201.5, 203, 210, 220], [(1, "in")]),
    # vanishes one pixel past the line (inside the band): counted when the track is given up
    "vanishes-just-past": ([170, 180, 190, 198, 201, None], [(1, "in")]),
    # a miss of several frames while crossing: the gap is bridged by the track's last side
    "crosses-while-unseen": ([150, 170, 190, None, None, None, 230, 250], [(1, "in")]),
}


@pytest.mark.parametrize(("ys", "expected"), list(CROSSING_CASES.values()), ids=list(CROSSING_CASES))
def test_line_crossings(ys, expected):
    _, events = run(AnalyticsSpec(lines=(MID,)), path(1, ys))
    assert crossings(events) == expected


def test_crossing_beyond_the_segment_is_not_counted():
    short = LineSpec.parse("short:0,200,100,200")
    _, events = run(AnalyticsSpec(lines=(short,)), path(1, list(range(150, 260, 10)), x=300))
    assert crossings(events) == []
    _, events = run(AnalyticsSpec(lines=(short,)), path(1, list(range(150, 260, 10)), x=50))
    assert crossings(events) == [(1, "in")]


def test_a_vertical_line_drawn_downwards_counts_right_to_left_as_in():
    line = LineSpec.parse("v:200,0,200,400")
    frames = [frame(i, (1, x, 300)) for i, x in enumerate(range(300, 100, -20))]
    _, events = run(AnalyticsSpec(lines=(line,)), frames)
    assert crossings(events) == [(1, "in")]


def test_id_switch_mid_line_counts_once():
    """Track 1 walks up to the line and is lost there; track 2 picks the person up just past it."""
    frames = path(1, [120, 140, 160, 180, 196]) + path(2, [215, 235, 255, 275, 295, 315], start=6)
    analytics, events = run(AnalyticsSpec(lines=(MID,)), frames)
    assert crossings(events) == [(2, "in")]
    assert analytics.summary().lines[0].total("in") == 1
    # Without continuing tracks across IDs the crossing is lost (each ID stays on its own side):
    _, events = run(AnalyticsSpec(lines=(MID,), link_s=0.0), frames)
    assert crossings(events) == []


def test_id_switch_after_crossing_is_not_counted_again():
    """Track 1 crosses, is lost, track 2 continues, wobbles back over the line and on: one 'in', no 'out'
    recount of the 'in' and no second 'in'."""
    frames = path(1, [150, 170, 190, 210, 230]) + path(2, [232, 230, 236, 240, 250], start=6)
    _, events = run(AnalyticsSpec(lines=(MID,)), frames)
    assert crossings(events) == [(1, "in")]


def test_a_far_away_new_track_does_not_continue_a_lost_one():
    frames = path(1, [120, 140, 160, 180, 196]) + path(2, [215, 235, 255], x=20, start=6)
    _, events = run(AnalyticsSpec(lines=(MID,)), frames)
    assert crossings(events) == []


def test_tentative_track_is_counted_from_its_history_once_confirmed():
    """The crossing happens in the track's first frames; it is reported when the track is confirmed (frame 5),
    with the time it happened."""
    analytics = Analytics(AnalyticsSpec(lines=(MID,), confirm_frames=5), frame_size=(400, 400))
    per_frame = [analytics.update(ft) for ft in path(1, [180, 195, 210, 225, 240, 255])]
    assert [len(e) for e in per_frame] == [0, 0, 0, 0, 1, 0]
    event = per_frame[4][0]
    assert (event.direction, event.frame, event.timestamp_s) == ("in", 2, pytest.approx(0.2))
    assert analytics.summary().lines[0].total("in") == 1


def test_tentative_track_that_vanishes_is_not_counted():
    analytics, events = run(AnalyticsSpec(lines=(MID,), confirm_frames=5),
                            path(1, [180, 195, 210, 225]) + [frame(i) for i in range(4, 20)])
    assert crossings(events) == []
    assert analytics.summary().lines[0].total("in") == 0


def test_counts_are_per_class_and_direction():
    frames = [frame(i, (1, 100, 150 + 10 * i), (2, 300, 260 - 10 * i)) for i in range(12)]
    analytics, _ = run(AnalyticsSpec(lines=(MID,)), frames)
    out = analytics.summary().to_dict()["lines"]["mid"]
    assert out == {"in": 1, "out": 1, "by_class": {"person": {"in": 1, "out": 1}}}


def test_reset_forgets_counts_and_tracks():
    analytics, _ = run(AnalyticsSpec(lines=(MID,)), path(1, list(range(150, 260, 10))))
    analytics.reset()
    assert analytics.counts() == [("mid", 0, 0)]
    for ft in path(1, [250, 260]):
        assert analytics.update(ft) == []


# ----------------------------------------------------------------------------------------------------- zones
SQUARE = ZoneSpec.parse("square:100,100,300,100,300,300,100,300")


def zone_events(events) -> list[tuple[str, int, float | None]]:
    return [(e.kind, e.track_id, e.dwell_s) for e in events if isinstance(e, ZoneEvent)]


def test_zone_entry_exit_dwell_and_occupancy():
    # track 1 walks through the square (inside at y = 120 .. 280), track 2 stands inside throughout
    frames = [frame(i, (1, 200, 40 + 20 * i), (2, 150, 250)) for i in range(16)]
    analytics, events = run(AnalyticsSpec(zones=(SQUARE,)), frames)
    kinds = zone_events(events)
    assert kinds[0] == ("enter", 2, None)  # present in the zone from the first frame
    enter = next(e for e in events if isinstance(e, ZoneEvent) and e.track_id == 1 and e.kind == "enter")
    leave = next(e for e in events if isinstance(e, ZoneEvent) and e.track_id == 1 and e.kind == "exit")
    # y = 120 is the first point inside; y = 300 is on the edge (within the band: still inside), 320 is out
    assert (enter.frame, leave.frame) == (4, 14)
    assert leave.dwell_s == pytest.approx(1.0)
    stats = analytics.summary().zones[0]
    assert (stats.entries, stats.exits, stats.max_occupancy, stats.inside_at_end) == (2, 1, 2, 1)
    # occupancy counts confirmed tracks: track 2 from its third frame (confirm_frames=3), track 1 for 10 frames
    assert stats.mean_occupancy == pytest.approx((14 + 10) / 16)


def test_a_track_lost_inside_a_zone_exits_when_last_seen():
    frames = [frame(i, (1, 200, 200)) for i in range(5)] + [frame(i) for i in range(5, 20)]
    analytics, events = run(AnalyticsSpec(zones=(SQUARE,)), frames)
    assert zone_events(events) == [("enter", 1, None), ("exit", 1, pytest.approx(0.4))]
    exit_event = events[-1]
    assert exit_event.frame == 4 and exit_event.timestamp_s == pytest.approx(0.4)
    assert analytics.summary().zones[0].inside_at_end == 0


def test_jitter_on_a_zone_edge_is_one_visit():
    ys = [290, 296, 299, 301, 299, 301, 299, 302, 299, 301]  # bottom edge at y = 300, band 2 px
    _, events = run(AnalyticsSpec(zones=(SQUARE,)), path(1, ys))
    assert [k for k, _, _ in zone_events(events)] == ["enter"]


# -------------------------------------------------------------------------------------------------- geometry
@pytest.mark.parametrize(("kind", "spec", "message"), [
    ("line", "a:10,10,10,10", "zero length"),
    ("line", "a:10,10,500,10", "outside the 400x300 frame"),
    ("line", "a:10,10,20", "4 numbers"),
    ("line", "a:10,x,20,30", "'x' is not a number"),
    ("line", "a:10,nan,20,30", "not a finite number"),
    ("line", "bad:name:1,2,3,4", "name"),
    ("zone", "z:0,0,100,100,100,0,0,100", "self-intersecting"),
    ("zone", "z:0,0,100,0,200,0", "no area"),
    ("zone", "z:0,0,100,0", "at least 3 corners"),
    ("zone", "z:0,0,100,0,100,100,0", "x,y pairs"),
    ("zone", "z:0,0,100,0,100,100,100,100", "repeats the next corner"),
    ("zone", "z:0,0,100,0,100,-5", "outside the 400x300 frame"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None)
def test_bad_geometry_is_one_clear_error(kind, spec, message):
    with pytest.raises(ConfigError, match=message):
        parsed = LineSpec.parse(spec) if kind == "line" else ZoneSpec.parse(spec)
        parsed.resolve((400, 300))


def test_fractions_of_the_frame_and_pixels():
    assert LineSpec.parse("h:0,0.5,1,0.5").resolve((640, 480)).p2 == (640.0, 240.0)
    assert LineSpec.parse("p:0,240,640,240").resolve((640, 480)).p1 == (0.0, 240.0)
    with pytest.raises(ConfigError, match="frame size is unknown"):
        LineSpec.parse("h:0,0.5,1,0.5").resolve(None)
    assert ZoneSpec.parse("z:0,0,1,0,1,1", units="pixels").resolve((640, 480)).points[1] == (1.0, 0.0)


def test_point_in_polygon_and_signed_distance_on_a_concave_zone():
    u = ZoneSpec.parse("u:0,0,30,0,30,30,20,30,20,10,10,10,10,30,0,30").resolve(None)  # a U shape
    pts = np.array([[5, 20], [15, 20], [25, 20], [15, 5], [40, 5]])
    assert u.contains(pts).tolist() == [True, False, True, True, False]
    assert u.signed_distance(np.array([[5, 20]]))[0] == pytest.approx(5.0)
    assert u.signed_distance(np.array([[40, 5]]))[0] == pytest.approx(-10.0)


def test_names_must_be_distinct():
    with pytest.raises(ConfigError, match="used twice"):
        analytics_spec(lines=("a:0,0,10,10",), zones=("a:0,0,10,0,10,10",))


# ------------------------------------------------------------------------------------------ homography, speed
def test_homography_maps_the_four_points_and_is_a_projective_map():
    image = np.array([[100, 400], [500, 400], [420, 200], [180, 200]], float)  # a trapezoid: perspective
    world = np.array([[0, 0], [10, 0], [10, 20], [0, 20]], float)  # a 10 m x 20 m rectangle
    h = fit_homography(image, world)
    assert np.allclose(apply_homography(h, image), world, atol=1e-9)
    # the middle of the rectangle's near edge and the vanishing behaviour: equal image steps away from the
    # camera cover more and more metres
    assert np.allclose(apply_homography(h, [[300, 400]]), [[5, 0]])
    depth = apply_homography(h, [[300, 400], [300, 350], [300, 300], [300, 250]])[:, 1]
    steps = np.diff(depth)
    assert (steps > 0).all() and (np.diff(steps) > 0).all()
    # matches OpenCV's own solution
    import cv2

    assert np.allclose(h, cv2.getPerspectiveTransform(image.astype(np.float32), world.astype(np.float32)),
                       atol=1e-6)


@pytest.mark.parametrize("image", [
    [[0, 0], [10, 0], [20, 0], [0, 10]],  # three on one line
    [[0, 0], [10, 0], [10, 10]],  # three points
], ids=["collinear", "three-points"])
def test_degenerate_calibration_is_refused(image):
    with pytest.raises(ConfigError, match="calibration"):
        fit_homography(np.array(image, float), np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float))


def test_speed_in_pixels_and_in_metres():
    frames = [frame(i, (1, 100 + 20 * i, 200)) for i in range(20)]  # 20 px per frame at 10 frames/s
    analytics, _ = run(AnalyticsSpec(), frames)
    assert analytics.summary().speeds["person"][2] == pytest.approx(200.0)
    # 100 px = 1 m along x, 50 px = 1 m along y: 2 m/s
    cal = (((0, 0), (400, 0), (400, 400), (0, 400)), ((0, 0), (4, 0), (4, 8), (0, 8)))
    analytics, _ = run(AnalyticsSpec(calibration=cal), frames)
    summary = analytics.summary()
    assert summary.speed_unit == "m/s" and summary.speeds["person"][2] == pytest.approx(2.0)


def test_crossing_events_carry_the_speed():
    _, events = run(AnalyticsSpec(lines=(MID,)), path(1, list(range(100, 300, 10))))
    (event,) = events
    assert event.speed == pytest.approx(100.0) and event.to_dict()["speed_unit"] == "px/s"


# ------------------------------------------------------------------------------------------------ YAML file
GOOD_YAML = """
units: pixels
anchor: center
lines:
  - name: entrance
    points: [[0, 100], [200, 100]]
  - "exit:0,150,200,150"
zones:
  - name: square
    points: 10,10,90,10,90,90,10,90
calibration:
  image: [[0, 0], [200, 0], [200, 200], [0, 200]]
  world: [[0, 0], [2, 0], [2, 2], [0, 2]]
hysteresis: 0.05
confirm_frames: 2
"""


def test_the_analytics_file(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(GOOD_YAML)
    spec = analytics_spec(lines=("extra:0,0,10,10",), file=f)
    assert [s.name for s in spec.lines] == ["entrance", "exit", "extra"]
    assert spec.zones[0].name == "square" and spec.anchor == "center" and spec.confirm_frames == 2
    assert spec.homography is not None


def test_the_shipped_example_file_loads(repo_root):
    spec = load_analytics(repo_root / "configs" / "analytics.yaml")
    lines, zones = spec.resolve((768, 576))
    assert lines and zones


@pytest.mark.parametrize(("text", "message"), [
    ("lines: [", "not valid YAML"),
    ("colour: red", "unknown key 'colour'"),
    ("lines: [{name: a, points: [[0, 0], [0, 0]]}]\n", "zero length"),
    ("lines: [{name: a, points: [[0, 0]]}]", "4 numbers"),
    ("zones: [{name: z, pts: [1, 2]}]", "expected {name"),
    ("hysteresis: -1", "hysteresis: must be a number >= 0"),
    ("confirm_frames: 2.5", "confirm_frames"),
    ("anchor: feet", "anchor"),
    ("calibration: {image: [[0, 0]], world: [[0, 0]]}", "4 image and 4 world"),
    ("units: inches", "units"),
], ids=["yaml", "unknown-key", "zero-length", "short-line", "zone-keys", "hysteresis", "confirm", "anchor",
        "calibration", "units"])
def test_bad_analytics_files(tmp_path, text, message):
    f = tmp_path / "a.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_analytics(f)
    assert str(f) in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------- heatmap
def test_the_heatmap_is_hot_where_tracks_stood(tmp_path):
    import cv2

    from vidgru.analytics.heatmap import Heatmap

    heat = Heatmap((320, 240))
    heat.add(np.array([[100.0, 60.0]] * 50 + [[250.0, 200.0]] * 5 + [[-5.0, 10.0], [400.0, 10.0]]), seconds=0.1)
    assert heat.grid.sum() == pytest.approx(5.5)  # points outside the frame are ignored
    image = heat.render()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    hot, warm, empty = image[60, 100].astype(int), image[200, 250].astype(int), image[10, 300].astype(int)
    assert hot[0] > 4 * max(hot[1], hot[2])  # the turbo map's top end is red
    assert warm[1] > max(warm[0], warm[2])  # a tenth of the time: green, the middle of the map
    assert empty.tolist() == [0, 0, 0]
    heat.save(tmp_path / "h.png", background=np.full((240, 320, 3), 128, np.uint8))
    assert cv2.imread(str(tmp_path / "h.png")).shape == (240, 320, 3)
