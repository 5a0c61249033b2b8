"""``vidgru track`` with lines and zones, end to end: events, summaries, heatmaps, overlays and bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from vidgru.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def read_events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_counts_zones_events_and_summary_on_a_det_txt_sequence(mot15, tmp_path):
    """PETS09-S2L1 (static camera, 768x576, people walking across a plaza): the summary and the events agree."""
    res = run("track", mot15 / "PETS09-S2L1", "--max-frames", 200, "--line", "v:0.5,0,0.5,1",
              "--line", "h:0,300,768,300", "--zone", "left:0,0,0.5,0,0.5,1,0,1",
              "--events", tmp_path / "events.jsonl", "--summary", tmp_path / "summary.json",
              "--heatmap", tmp_path / "heat.png", "--mot", tmp_path / "tracks.txt")
    assert res.exit_code == 0, res.output
    events = read_events(tmp_path / "events.jsonl")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == 200
    crosses = [e for e in events if e["type"] == "cross"]
    assert crosses, "people cross the middle of the plaza within 200 frames"
    for name in ("v", "h"):
        for direction in ("in", "out"):
            assert summary["lines"][name][direction] == sum(
                1 for e in crosses if e["line"] == name and e["direction"] == direction)
    # once per track, line and direction
    keys = [(e["line"], e["track_id"], e["direction"]) for e in crosses]
    assert len(keys) == len(set(keys))
    # every crossing is made by a track that is in the MOT output, near the line, at that frame or before
    rows = np.loadtxt(tmp_path / "tracks.txt", delimiter=",", ndmin=2)
    for e in crosses:
        mine = rows[(rows[:, 1] == e["track_id"]) & (rows[:, 0] <= e["frame"])]
        assert len(mine)
        if e["line"] == "v":
            x = mine[-1, 2] + mine[-1, 4] / 2
            assert abs(x - 384) < mine[-1, 5]  # within a box height of the line
    zone = summary["zones"]["left"]
    enters = sum(1 for e in events if e["type"] == "enter")
    exits = [e for e in events if e["type"] == "exit"]
    assert zone["entries"] == enters and zone["exits"] == len(exits) > 0
    assert enters - len(exits) == zone["inside_at_end"]
    assert all(e["dwell_s"] >= 0 for e in exits) and zone["max_occupancy"] >= 1
    assert "in" in res.output and "line v:" in res.output
    import cv2

    assert cv2.imread(str(tmp_path / "heat.png")).shape == (576, 768, 3)


def test_analytics_do_not_change_the_tracks(mot15, tmp_path):
    plain = run("track", mot15 / "TUD-Campus", "--mot", tmp_path / "a.txt", "-q")
    counted = run("track", mot15 / "TUD-Campus", "--mot", tmp_path / "b.txt", "--line", "m:0,0.5,1,0.5",
                  "--summary", tmp_path / "s.csv", "-q")
    assert plain.exit_code == counted.exit_code == 0
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()
    rows = list(csv.reader((tmp_path / "s.csv").open()))
    assert rows[0] == ["kind", "name", "key", "class", "value"]
    assert {(r[0], r[1], r[2]) for r in rows[1:3]} == {("line", "m", "in"), ("line", "m", "out")}


def test_events_on_stdout(mot15, tmp_path):
    res = run("track", mot15 / "TUD-Campus", "--line", "m:0.5,0,0.5,1", "--events", "-", "-q")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert lines and all(e["type"] == "cross" and e["line"] == "m" for e in lines)


def test_an_analytics_file_with_a_config(mot15, tmp_path):
    (tmp_path / "a.yaml").write_text("lines:\n  - name: m\n    points: [[0.5, 0], [0.5, 1]]\n")
    (tmp_path / "track.yaml").write_text(f"analytics: {tmp_path / 'a.yaml'}\nline: ['n:0,0.5,1,0.5']\n")
    res = run("track", mot15 / "TUD-Campus", "--config", tmp_path / "track.yaml", "--summary",
              tmp_path / "s.json", "-q")
    assert res.exit_code == 0, res.output
    assert set(json.loads((tmp_path / "s.json").read_text())["lines"]) == {"m", "n"}


@pytest.mark.parametrize(("args", "message"), [
    (["--line", "door:10,10,10,10"], "line 'door': zero length"),
    (["--line", "door:0,100,5000,100"], "outside the 640x480 frame"),
    (["--zone", "z:0,0,100,100,100,0,0,100"], "self-intersecting"),
    (["--line", "door:1,2,3"], "4 numbers"),
    (["--analytics", "BAD_YAML"], "not valid YAML"),
    (["--analytics", "missing.yaml"], "no such file"),
    (["--summary", "out.txt"], ".json or .csv"),
    (["--json", "-", "--events", "-"], "stdout"),
], ids=["zero-length", "outside", "self-intersecting", "short", "bad-yaml", "missing-yaml", "summary-ext",
        "two-stdouts"])
def test_bad_analytics_input_is_one_line_and_writes_nothing(mot15, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD_YAML").write_text("lines: [\n")
    outputs = {"--mot": "t.txt", "--events": "e.jsonl", "--summary": "s.json", "--heatmap": "h.png"}
    extra = [item for flag, path in outputs.items() if flag not in args for item in (flag, path)]
    res = run("track", mot15 / "TUD-Campus", *args, *extra, "-q")
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BAD_YAML"]  # no file, not even a partial one


@pytest.mark.slow  # NanoDet over 150 frames on a CPU: ~10 s
def test_vtest_with_nanodet_counts_overlays_and_heatmap(nanodet, shared_data, tmp_path):
    """Real footage end to end: NanoDet finds the people of vtest.avi, the tracker follows them, the analytics
    count who crosses the middle of the plaza and who stands in its lower half."""
    import cv2

    video = shared_data / "opencv_samples/samples/data/vtest.avi"
    res = run("track", video, "--detector", f"onnx:{nanodet}", "--classes", "person", "--no-appearance",
              "--max-frames", 150, "--line", "middle:384,0,384,576", "--zone", "lower:0,0.5,1,0.5,1,1,0,1",
              "--events", tmp_path / "e.jsonl", "--summary", tmp_path / "s.json", "--heatmap", tmp_path / "h.png",
              "--out-video", tmp_path / "out.mp4", "-q")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "s.json").read_text())
    events = read_events(tmp_path / "e.jsonl")
    middle = summary["lines"]["middle"]
    assert middle["in"] + middle["out"] >= 2  # people walk left and right through the middle of the plaza
    assert middle["by_class"]["person"] == {"in": middle["in"], "out": middle["out"]}
    assert sum(e["type"] == "cross" for e in events) == middle["in"] + middle["out"]
    assert all(e["class"] == "person" for e in events)
    assert summary["zones"]["lower"]["max_occupancy"] >= 2
    assert summary["speed"]["unit"] == "px/s" and summary["speed"]["by_class"]["person"]["tracks"] >= 4
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    ok, image = cap.read()
    assert ok and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 150
    # the overlay: the counting line is drawn in its colour (yellow in RGB, so (0, 215, 255) in BGR) down x = 384
    column = image[50:550, 380:389].reshape(-1, 3).astype(int)
    yellow = (np.abs(column - [0, 215, 255]).sum(axis=1) < 90).mean()
    assert yellow > 0.3
    assert cv2.imread(str(tmp_path / "h.png")).shape == (576, 768, 3)


# ------------------------------------------------------------------------------------------------------ batch
def _clip(source, target, start: int, frames: int) -> None:
    import cv2

    cap = cv2.VideoCapture(str(source))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for _ in range(frames):
        ok, image = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), 10, image.shape[1::-1])
        writer.write(image)
    writer.release()


@pytest.mark.slow  # worker processes and three runs: ~25 s
def test_batch_track_writes_events_and_summaries_per_video(shared_data, tmp_path):
    vtest = shared_data / "opencv_samples/samples/data/vtest.avi"
    _clip(vtest, tmp_path / "in" / "a.mp4", 0, 30)
    _clip(vtest, tmp_path / "in" / "sub" / "b.mp4", 300, 30)
    (tmp_path / "a.yaml").write_text("lines: ['middle:0.5,0,0.5,1']\nzones: ['lower:0,0.5,1,0.5,1,1,0,1']\n")
    args = ["batch", str(tmp_path / "in"), "--task", "track", "--detector", "bgsub", "--no-appearance",
            "--analytics", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "out"), "--workers", "1", "-q"]
    res = run(*args)
    assert res.exit_code == 0, res.output
    for stem in ("a", "sub/b"):
        summary = json.loads((tmp_path / "out" / f"{stem}.summary.json").read_text())
        assert summary["frames"] == 30 and set(summary["lines"]) == {"middle"} and set(summary["zones"]) == {"lower"}
        events = read_events(tmp_path / "out" / f"{stem}.events.jsonl")
        assert sum(e["type"] == "enter" for e in events) == summary["zones"]["lower"]["entries"]
        assert (tmp_path / "out" / f"{stem}.mot.txt").is_file()
    again = run(*args)  # resume: the analytics outputs are part of what a finished input has
    assert again.exit_code == 0 and "2 skipped" in again.output
    (tmp_path / "a.yaml").write_text("lines: ['middle:0.4,0,0.4,1']\n")  # other analytics: redone
    third = run(*args)
    assert third.exit_code == 0 and "2 ok" in third.output


def test_batch_with_a_bad_analytics_file_stops_before_any_input(shared_data, tmp_path):
    _clip(shared_data / "opencv_samples/samples/data/vtest.avi", tmp_path / "in" / "a.mp4", 0, 5)
    (tmp_path / "a.yaml").write_text("zones: ['z:0,0,100,100,100,0,0,100']\n")
    res = run("batch", str(tmp_path / "in"), "--task", "track", "--detector", "bgsub", "--analytics",
              str(tmp_path / "a.yaml"), "--out", str(tmp_path / "out"), "-q")
    assert res.exit_code == 2 and "self-intersecting" in res.output, res.output
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_several_sequences_get_one_summary_and_events_file_each(mot15, tmp_path):
    seqs = tmp_path / "seqs"
    seqs.mkdir()
    for name in ("TUD-Campus", "KITTI-13"):
        (seqs / name).symlink_to(mot15 / name, target_is_directory=True)
    res = run("track", seqs, "--line", "m:0.5,0,0.5,1", "--summary", tmp_path / "sums.csv", "--events",
              tmp_path / "events", "-q")
    assert res.exit_code == 0, res.output
    for name in ("TUD-Campus", "KITTI-13"):
        rows = list(csv.reader((tmp_path / "sums.csv" / f"{name}.summary.csv").open()))
        total = sum(int(r[4]) for r in rows if r[:2] == ["line", "m"] and r[3] == "all")
        assert total == len((tmp_path / "events" / f"{name}.events.jsonl").read_text().splitlines())
