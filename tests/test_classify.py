"""Whole-video classification: windows, segments, outputs, and the `vidgru classify` command."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from fakes import PacedCamera

from vidgru.classify import ClipClassifier, merge_segments, window_starts
from vidgru.cli import cli
from vidgru.types import WindowPrediction


@pytest.mark.parametrize(
    ("duration", "window", "stride", "expected"),
    [
        (1.0, 2.0, 1.0, [0.0]),
        (2.0, 2.0, 1.0, [0.0]),
        (4.0, 2.0, 1.0, [0.0, 1.0, 2.0]),
        (4.5, 2.0, 1.0, [0.0, 1.0, 2.0, 2.5]),
        (6.0, 2.0, 2.0, [0.0, 2.0, 4.0]),
    ],
)
def test_window_starts_cover_the_video(duration, window, stride, expected):
    starts = window_starts(duration, window, stride)
    assert starts == pytest.approx(expected)
    assert starts[-1] + window >= duration - 1e-9 or duration <= window


def _window(start, end, label, score=0.9):
    return WindowPrediction(start, end, label, score, np.array([score, 1 - score]))


def test_segments_merge_runs_and_split_at_window_centres():
    windows = [_window(s, s + 2, lab) for s, lab in zip([0, 1, 2, 3, 4, 5, 6], "aaaabbb")]
    segs = merge_segments(windows, 8.0)
    assert [(s.label, s.start_s, s.end_s) for s in segs] == [("a", 0.0, 4.5), ("b", 4.5, 8.0)]
    assert merge_segments([], 3.0) == []


def test_classifier_on_a_sample_clip(untrained_model, repo_root):
    clf = ClipClassifier.from_path(untrained_model, device="cpu")
    result = clf.classify(str(repo_root / "sample_videos/pan_left_then_static.mp4"))
    assert result.duration_s == pytest.approx(8.0, abs=0.1)
    assert result.frames_used == pytest.approx(32, abs=1)  # 8 s at the model's 4 frames/s
    assert len(result.windows) == 7
    assert result.segments[0].start_s == 0 and result.segments[-1].end_s == pytest.approx(result.duration_s)
    for a, b in zip(result.segments, result.segments[1:]):
        assert a.end_s == b.start_s and a.label != b.label
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert result.label == max(result.scores, key=result.scores.get)


def test_classify_json_lines_for_many_inputs(untrained_model, repo_root):
    samples = repo_root / "sample_videos"
    runner = CliRunner()
    res = runner.invoke(cli, ["classify", str(samples / "static_street.mp4"), str(samples / "frames"),
                              "--model", str(untrained_model), "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [r["video"] for r in records] == [str(samples / "static_street.mp4"), str(samples / "frames")]
    for r in records:
        assert set(r) >= {"video", "label", "score", "scores", "windows", "segments"}
        assert r["label"] in r["scores"] and set(r["scores"]) == {"alpha", "beta", "gamma"}
        for w in r["windows"] + r["segments"]:
            assert set(w) == {"start_s", "end_s", "label", "score"} and w["end_s"] > w["start_s"]


def test_classify_writes_csv_and_annotated_video(untrained_model, repo_root, tmp_path):
    from vidgru.video import VideoSource

    clip = repo_root / "sample_videos/zoom_in.mp4"
    out_csv, out_mp4 = tmp_path / "r.csv", tmp_path / "annotated.mp4"
    res = CliRunner().invoke(cli, ["classify", str(clip), "--model", str(untrained_model), "--csv", str(out_csv),
                                   "--out-video", str(out_mp4), "-q"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out_csv.open()))
    assert rows[0]["kind"] == "clip" and {r["kind"] for r in rows} == {"clip", "shot", "segment", "window"}
    with VideoSource(out_mp4) as src:
        assert (src.info.width, src.info.height) == (320, 240)
        assert sum(1 for _ in src) == 60
    assert "zoom_in.mp4:" in res.stdout  # the human table


def test_table_output(untrained_model, repo_root):
    res = CliRunner().invoke(cli, ["classify", str(repo_root / "sample_videos/zoom_in.mp4"),
                                   "--model", str(untrained_model), "-q"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith(str(repo_root / "sample_videos/zoom_in.mp4") + ": ")
    assert "start" in lines[1] and "label" in lines[1]


def _bad_inputs(tmp_path, repo_root):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    data = (repo_root / "sample_videos/zoom_in.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"empty": empty, "text": text, "truncated": truncated, "missing": tmp_path / "missing.mp4"}


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "missing"])
def test_bad_input_gives_one_line_and_nonzero_exit(untrained_model, repo_root, tmp_path, kind):
    bad = _bad_inputs(tmp_path, repo_root)[kind]
    res = CliRunner().invoke(cli, ["classify", str(bad), "--model", str(untrained_model), "-q"])
    assert res.exit_code != 0
    err_lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert any(line.startswith("error: ") and str(bad) in line for line in err_lines), res.stderr
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)


def test_one_bad_input_does_not_stop_the_others(untrained_model, repo_root, tmp_path):
    bad = _bad_inputs(tmp_path, repo_root)
    good = repo_root / "sample_videos/static_street.mp4"
    out = tmp_path / "r.jsonl"
    args = ["classify", str(bad["text"]), str(good), str(bad["missing"]), "--model", str(untrained_model),
            "--json", str(out), "-q"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert [json.loads(line)["video"] for line in out.read_text().splitlines()] == [str(good)]
    assert "2 of 3 inputs failed" in res.stderr


def test_bad_model_file_is_one_line(tmp_path, repo_root):
    model = tmp_path / "model.pt"
    model.write_text("not a model")
    res = CliRunner().invoke(cli, ["classify", str(repo_root / "sample_videos/zoom_in.mp4"), "--model", str(model)])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "not a vidgru checkpoint" in res.stderr


def test_bad_config_key_is_one_line(tmp_path, repo_root):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("windw_s: 3\n")
    res = CliRunner().invoke(cli, ["classify", str(repo_root / "sample_videos/zoom_in.mp4"), "--config", str(cfg)])
    assert res.exit_code == 2
    assert "unknown key 'windw_s'" in res.stderr


def test_info_lists_devices_and_backbones():
    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    assert "vidgru 0." in res.stdout and "devices:" in res.stdout
    assert "mobilenet_v2" in res.stdout and "available" in res.stdout and "convnext_tiny" in res.stdout


def test_live_camera_stream_predicts_per_stride_and_reports_a_lost_camera(untrained_model, repo_root):
    from vidgru.errors import VideoOpenError

    clf = ClipClassifier.from_path(untrained_model, device="cpu")
    clip = repo_root / "sample_videos/pan_left_then_static.mp4"
    predictions = []
    with pytest.raises(VideoOpenError, match="stopped delivering frames"):
        for w in clf.stream("0", capture_factory=lambda target: PacedCamera(clip, fps=60),
                            stall_timeout_s=0.5):
            predictions.append(w)
    assert len(predictions) >= 1
    assert all(w.label in {"alpha", "beta", "gamma"} and w.end_s >= w.start_s for w in predictions)


def test_live_stream_stops_cleanly_when_the_consumer_stops(untrained_model, repo_root):
    clf = ClipClassifier.from_path(untrained_model, device="cpu")
    clip = repo_root / "sample_videos/pan_left_then_static.mp4"
    stream = clf.stream("0", capture_factory=lambda target: PacedCamera(clip, fps=60))
    first = next(stream)
    stream.close()  # what Ctrl-C or quitting a window does to the generator
    assert first.label in {"alpha", "beta", "gamma"}
