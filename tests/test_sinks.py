"""Result writers: atomic files, finished results kept on interruption, playable video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidgru.errors import VideoOpenError
from vidgru.sinks import CsvSink, JsonlSink, VideoSink, draw_label


def test_jsonl_appears_only_when_complete(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlSink(path) as sink:
        sink.write_record({"a": 1})
        assert not path.exists()  # still under a temporary name
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}]


@pytest.mark.parametrize("error", [KeyboardInterrupt, VideoOpenError])
def test_finished_records_survive_ctrl_c_and_a_failing_source(tmp_path, error):
    path = tmp_path / "out.jsonl"
    with pytest.raises(error), JsonlSink(path) as sink:
        sink.write_record({"video": "a.mp4"})
        raise error("stop")
    assert json.loads(path.read_text()) == {"video": "a.mp4"}
    assert not list(tmp_path.glob("*.partial*"))


def test_a_bug_leaves_no_file_behind(tmp_path):
    path = tmp_path / "out.csv"
    with pytest.raises(ZeroDivisionError), CsvSink(path, ["a", "b"]) as sink:
        sink.write_row([1, 2])
        _ = 1 / 0
    assert not path.exists() and not list(tmp_path.iterdir())


def test_video_sink_writes_a_readable_mp4(tmp_path):
    from vidgru.video import VideoSource

    path = tmp_path / "v.mp4"
    frame = np.zeros((120, 160, 3), np.uint8)
    with VideoSink(path, fps=12) as sink:
        for i in range(10):
            sink.write(draw_label(frame, f"label {i}", progress=i / 9))
    with VideoSource(path) as src:
        assert (src.info.width, src.info.height, src.info.fps) == (160, 120, 12)
        assert sum(1 for _ in src) == 10


def test_draw_label_returns_a_new_frame():
    frame = np.zeros((60, 80, 3), np.uint8)
    out = draw_label(frame, "static 0.93", progress=0.5)
    assert frame.max() == 0 and out.max() > 0 and out.shape == frame.shape
