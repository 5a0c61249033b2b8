"""Tracking outputs: MOTChallenge text, JSON Lines, drawn tracks and trails, the live window."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from vidgru import sinks
from vidgru.errors import DisplayUnavailableError, VideoOpenError
from vidgru.mot import read_mot_txt
from vidgru.sinks import LiveWindow, MotSink, TrackJsonlSink, TrailHistory, draw_tracks, track_color
from vidgru.types import FrameTracks, Track


def _frames() -> list[FrameTracks]:
    return [
        FrameTracks(0, 0.0, [Track(3, (10.0, 20.0, 40.5, 80.25), 0.9, 0, "person"),
                             Track(7, (100.123, 50.0, 130.0, 90.0), 0.456789, 0, "person")]),
        FrameTracks(1, 0.1, []),
        FrameTracks(2, 0.2, [Track(3, (12.0, 21.0, 42.0, 81.0), 0.0, 0, "person", is_predicted=True)]),
    ]


def test_mot_sink_writes_one_based_top_left_width_height(tmp_path):
    path = tmp_path / "out" / "SEQ.txt"
    with MotSink(path) as sink:
        for frame_tracks in _frames():
            sink.write(frame_tracks)
        assert not path.exists()  # still under a temporary name
    assert path.read_text().splitlines() == [
        "1,3,10.00,20.00,30.50,60.25,0.9,-1,-1,-1",
        "1,7,100.12,50.00,29.88,40.00,0.4568,-1,-1,-1",
        "3,3,12.00,21.00,30.00,60.00,0,-1,-1,-1",
    ]
    assert (sink.frames_written, sink.rows_written) == (3, 3)
    assert read_mot_txt(path).shape == (3, 10)


def test_mot_sink_to_stdout(capsys):
    with MotSink("-") as sink:
        sink.write(_frames()[0])
    assert capsys.readouterr().out.splitlines()[0] == "1,3,10.00,20.00,30.50,60.25,0.9,-1,-1,-1"


@pytest.mark.parametrize("error", [KeyboardInterrupt, VideoOpenError], ids=["ctrl-c", "vidgru-error"])
def test_mot_sink_keeps_finished_frames_on_interruption(tmp_path, error):
    path = tmp_path / "SEQ.txt"
    with pytest.raises(error), MotSink(path) as sink:
        sink.write(_frames()[0])
        raise error("stop")
    assert len(path.read_text().splitlines()) == 2
    assert not list(tmp_path.glob("*.partial*"))


def test_mot_sink_leaves_nothing_after_a_bug(tmp_path):
    with pytest.raises(ZeroDivisionError), MotSink(tmp_path / "SEQ.txt") as sink:
        sink.write(_frames()[0])
        _ = 1 / 0
    assert not list(tmp_path.iterdir())


def test_track_jsonl_sink_writes_a_record_per_frame(tmp_path):
    path = tmp_path / "tracks.jsonl"
    frames = _frames()
    with TrackJsonlSink(path) as sink:
        for frame_tracks in frames:
            sink.write(frame_tracks)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records == [f.to_dict() for f in frames]
    assert [r["frame"] for r in records] == [1, 2, 3] and records[1]["tracks"] == []
    assert records[0]["tracks"][1] == {"id": 7, "box": [100.12, 50.0, 130.0, 90.0], "score": 0.4568,
                                       "class_id": 0, "class": "person", "predicted": False}


def test_trail_history_keeps_bottom_centres_for_max_age_s():
    trails = TrailHistory(max_age_s=1.05)
    for i in range(30):  # 10 fps: track 1 all along, track 2 only in the first 5 frames
        tracks = [Track(1, (i, 0.0, i + 10.0, 20.0), 1.0)]
        if i < 5:
            tracks.append(Track(2, (50.0, 50.0, 60.0, 70.0), 1.0))
        trails.update(FrameTracks(i, i / 10, tracks))
        if i == 5:
            assert set(trails) == {1, 2}
    assert list(trails) == [1]  # track 2 was last seen 2.5 s ago
    points = trails[1]
    assert len(points) == 11  # t = 1.9 .. 2.9 s
    assert points[0] == (24.0, 20.0) and points[-1] == (34.0, 20.0)  # bottom centre, oldest first
    trails.reset()
    assert len(trails) == 0


def test_trail_history_rejects_a_non_positive_age():
    with pytest.raises(ValueError, match="max_age_s must be positive"):
        TrailHistory(max_age_s=0)


def test_track_colours_are_stable_and_distinct():
    assert track_color(5) == track_color(5)
    colours = {track_color(i) for i in range(1, 50)}
    assert len(colours) == 49
    assert all(0 <= c <= 255 for colour in colours for c in colour)


def test_draw_tracks_returns_a_new_image_with_boxes_labels_and_trails():
    image = np.full((120, 200, 3), 40, np.uint8)
    frame_tracks = FrameTracks(0, 0.0, [Track(4, (50.0, 40.0, 90.0, 100.0), 0.87, 0, "person")])
    trails = {4: [(20.0, 110.0), (40.0, 105.0), (70.0, 100.0)]}
    out = draw_tracks(image, frame_tracks, trails)
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert (image == 40).all()  # input untouched
    colour = np.array(track_color(4))
    assert (out[70, 50] == colour).all()  # left edge of the box, mid-height
    assert (out[110, 20:30] != 40).any()  # the trail's first segment
    assert (out[25:40, 50:60] == colour).all(axis=-1).any()  # label background above the box
    # Label text: "4 person 0.87" is wider than "4".
    short = draw_tracks(image, FrameTracks(0, 0.0, [Track(4, (50.0, 40.0, 90.0, 100.0), 0.0, 0,
                                                           is_predicted=True)]))
    assert (out[25:40] == colour).all(axis=-1).sum() > (short[25:40] == colour).all(axis=-1).sum()


def test_draw_tracks_writes_fps_only_when_given():
    image = np.zeros((120, 200, 3), np.uint8)
    empty = FrameTracks(0, 0.0, [])
    assert not draw_tracks(image, empty).any()
    assert draw_tracks(image, empty, fps=24.0)[:20, :60].any()


def test_a_box_at_the_top_edge_gets_its_label_inside():
    image = np.zeros((100, 200, 3), np.uint8)
    out = draw_tracks(image, FrameTracks(0, 0.0, [Track(1, (10.0, 0.0, 80.0, 60.0), 0.5)]))
    assert (out[2:12, 15:30] == np.array(track_color(1))).all(axis=-1).any()


@pytest.fixture
def display(monkeypatch):
    """A pretend display: environment set, OpenCV's GUI calls replaced and recorded."""
    monkeypatch.setattr(sinks.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    calls = {"imshow": [], "keys": [], "visible": 1.0, "destroyed": []}
    monkeypatch.setattr(cv2, "imshow", lambda title, image: calls["imshow"].append((title, image)))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: calls["keys"].pop(0) if calls["keys"] else -1)
    monkeypatch.setattr(cv2, "getWindowProperty", lambda title, prop: calls["visible"])
    monkeypatch.setattr(cv2, "destroyWindow", lambda title: calls["destroyed"].append(title))
    return calls


def test_live_window_on_a_headless_machine(monkeypatch):
    monkeypatch.setattr(sinks.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayUnavailableError, match="no display.*--no-show.*--out-video") as info:
        with LiveWindow("vidgru"):
            pass
    assert "\n" not in str(info.value)


def test_live_window_without_gui_support(display, monkeypatch):
    def no_gui(title, image):
        raise cv2.error("OpenCV(4.9.0) error: (-2:Unspecified error) The function is not implemented.\nRebuild")

    monkeypatch.setattr(cv2, "imshow", no_gui)
    with pytest.raises(DisplayUnavailableError, match="no GUI support.*--no-show") as info:
        with LiveWindow("vidgru") as window:
            window.show(np.zeros((4, 4, 3), np.uint8))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("keys", "visible", "expected"),
    [([-1], 1.0, True), ([ord("a")], 1.0, True), ([ord("q")], 1.0, False), ([27], 1.0, False),
     ([-1], 0.0, False)],
    ids=["no-key", "other-key", "q", "esc", "window-closed"],
)
def test_live_window_show(display, keys, visible, expected):
    display["keys"] = list(keys)
    display["visible"] = visible
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255  # red
    with LiveWindow("tracks") as window:
        assert window.show(rgb) is expected
    title, shown = display["imshow"][0]
    assert title == "tracks" and shown[0, 0].tolist() == [0, 0, 255]  # OpenCV gets BGR
    assert display["destroyed"] == ["tracks"]


def test_live_window_stops_once_closed(display):
    with LiveWindow("tracks") as window:
        assert window.show(np.zeros((4, 4, 3), np.uint8))
        display["visible"] = 0.0  # the user closed the window
        assert not window.show(np.zeros((4, 4, 3), np.uint8))
    assert len(display["imshow"]) == 1  # not re-opened
