"""Outputs: checked before any work, never an input, written whole or not at all, never silently overwritten.

Inputs are generated in ``tmp_path`` (a MOTChallenge sequence copied from the shared data, small AVI files);
``track`` runs on detections only with the Kalman state model, so no model is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vidgru.cli import cli
from vidgru.errors import ConfigError, VidgruError
from vidgru.fileio import atomic_path, check_outputs, distinct_names, partial_path, strict_json
from vidgru.sinks import AtomicTextFile, JsonlSink, MotSink, TrackJsonlSink
from vidgru.types import FrameTracks

FAST = ["--state-model", "kalman", "--no-appearance"]


@pytest.fixture()
def seq(mot15, tmp_path) -> Path:
    """A writable copy of a small MOTChallenge sequence (detections only)."""
    out = tmp_path / "TUD-Campus"
    shutil.copytree(mot15 / "TUD-Campus", out)
    for p in [out, *out.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return out


def _avi(path: Path, frames: int = 40, *, cut: bool = False) -> Path:
    """A small MJPG AVI with a moving square; ``cut``: only the first half of its bytes (truncated)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    rng = np.random.default_rng(0)
    for i in range(frames):
        img = rng.integers(0, 30, (120, 160, 3), dtype=np.uint8)
        img[20:80, 10 + i : 50 + i] = 255
        writer.write(img)
    writer.release()
    if cut:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.stdout, res.stderr


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _stray(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name)


# ------------------------------------------------------------------ 1. an output may not be one of the inputs


@pytest.mark.parametrize("case", ["det-txt", "seqinfo", "track-video", "classify-video", "classify-image-folder",
                                  "classify-glob", "classify-model"])
def test_output_that_is_an_input_is_refused_before_any_work(case, seq, tmp_path, untrained_model):
    video = _avi(tmp_path / "clip.avi")
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2

    for i in range(3):
        cv2.imwrite(str(frames / f"f{i}.png"), np.zeros((32, 32, 3), np.uint8))
    model = tmp_path / "m.pt"
    shutil.copy(untrained_model, model)
    det = seq / "det" / "det.txt"
    args, flag, target = {
        "det-txt": (["track", str(seq), *FAST, "--mot", str(det)], "--mot", det),
        "seqinfo": (["track", str(seq), *FAST, "--json", str(seq / "seqinfo.ini")], "--json", seq / "seqinfo.ini"),
        "track-video": (["track", str(video), "--detector", "bgsub", "--out-video", str(video)], "--out-video", video),
        "classify-video": (["classify", str(video), "--out-video", str(video)], "--out-video", video),
        "classify-image-folder": (["classify", str(frames), "--json", str(frames / "f9.png")], "--json",
                                  frames / "f9.png"),
        "classify-glob": (["classify", str(frames / "*.png"), "--csv", str(frames / "f0.png")], "--csv",
                          frames / "f0.png"),
        "classify-model": (["classify", str(video), "--model", str(model), "--json", str(model)], "--json", model),
    }[case]
    before = target.read_bytes() if target.exists() else None
    code, _, err = _run(*args)
    assert code == 2, err
    errors = _error_lines(err)
    assert len(errors) == 1 and flag in errors[0] and str(target) in errors[0], err
    assert "Traceback" not in err and "using the default" not in err  # refused before the model was loaded
    assert (target.read_bytes() if target.exists() else None) == before
    assert _stray(tmp_path) == []


# -------------------------------------------------------------- 2. devices and FIFOs are written in place


def _fifo_reader(fifo: Path) -> tuple[list[bytes], threading.Thread]:
    """Make a FIFO and read it whole in a thread (a writer blocks until someone reads): (what it got, the thread)."""
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    return got, reader


def test_fifo_output_is_written_in_place(seq, tmp_path):
    fifo = tmp_path / "tracks.fifo"
    got, reader = _fifo_reader(fifo)
    code, _, err = _run("track", str(seq), *FAST, "--mot", str(fifo), "-q")
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not replaced by a regular file
    rows = got[0].decode().splitlines()
    assert rows and all(len(r.split(",")) == 10 for r in rows)
    assert _stray(tmp_path) == []


@pytest.mark.parametrize("flag", ["--mot", "--json"])
def test_dev_null_output_stays_a_device(seq, flag):
    code, _, err = _run("track", str(seq), *FAST, flag, "/dev/null", "-q")
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [p for p in Path("/dev").glob(".null*")]


def test_atomic_path_on_a_device_writes_in_place_and_never_removes_it():
    assert partial_path("/dev/null") == Path("/dev/null")
    with pytest.raises(RuntimeError):
        with atomic_path("/dev/null") as tmp:
            tmp.write_bytes(b"x")
            raise RuntimeError("boom")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_text_sink_on_a_fifo(tmp_path):
    fifo = tmp_path / "out.jsonl"
    got, reader = _fifo_reader(fifo)
    with JsonlSink(fifo) as sink:
        sink.write_record({"a": 1})
    reader.join(timeout=10)
    assert got == [b'{"a": 1}\n'] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_video_sink_on_a_fifo_gets_a_whole_mp4(tmp_path):
    import cv2

    from vidgru.sinks import VideoSink

    fifo = tmp_path / "video.fifo"
    got, reader = _fifo_reader(fifo)
    with VideoSink(fifo, 10) as sink:
        for i in range(12):
            sink.write(np.full((64, 80, 3), i * 20, np.uint8))
    reader.join(timeout=30)
    (tmp_path / "copy.mp4").write_bytes(got[0])
    cap = cv2.VideoCapture(str(tmp_path / "copy.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 12
    cap.release()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# ------------------------------------------------------------- 3. outputs that cannot be written: refused up front


@pytest.mark.parametrize("case", ["parent-is-a-file", "file-output-is-a-folder", "folder-output-is-a-file",
                                  "same-file-twice", "parent-under-a-file", "trailing-slash"])
def test_unwritable_track_output_is_refused_before_any_work(case, seq, mot15, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    adir = tmp_path / "adir"
    adir.mkdir()
    source, flag, value = {
        "parent-is-a-file": (seq, "--mot", afile / "x.txt"),
        "file-output-is-a-folder": (seq, "--json", adir),
        "folder-output-is-a-file": (mot15, "--mot", afile),
        "same-file-twice": (seq, "--json", tmp_path / "t.txt"),
        "parent-under-a-file": (seq, "--out-video", afile / "sub" / "v.mp4"),
        "trailing-slash": (seq, "--mot", f"{tmp_path / 'tv'}/"),
    }[case]
    extra = ["--mot", str(tmp_path / "t.txt")] if case == "same-file-twice" else []
    code, _, err = _run("track", str(source), *FAST, *extra, flag, str(value))
    assert code == 2, err
    errors = _error_lines(err)
    assert len(errors) == 1 and flag in errors[0] and str(value) in errors[0], err
    assert "frames" not in err  # nothing was tracked
    assert afile.read_text() == "keep" and list(adir.iterdir()) == [] and _stray(tmp_path) == []
    assert not (tmp_path / "t.txt").exists() and not (tmp_path / "tv").exists()


def test_unwritable_train_out_is_refused_before_any_work(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    (tmp_path / "data" / "a").mkdir(parents=True)
    code, _, err = _run("train", str(tmp_path / "data"), "--out", str(afile / "model.pt"))
    assert code == 2
    errors = _error_lines(err)
    assert len(errors) == 1 and "--out" in errors[0] and "is a file" in errors[0], err


@pytest.mark.parametrize(("outputs", "inputs", "message"), [
    ([("--x", "{d}/f/o.txt", "file")], [], "is a file, not a folder"),
    ([("--x", "{d}", "file")], [], "is a folder"),
    ([("--x", "{d}/f", "folder")], [], "is a file"),
    ([("--x", "{d}/f", "file")], ["{d}/f"], "is one of the inputs"),
    ([("--x", "{d}/sub/o.txt", "file")], ["{d}/sub"], "inside the input folder"),
    ([("--x", "{d}/a.txt", "file"), ("--y", "{d}/a.txt", "file")], [], "--x writes the same file"),
], ids=["parent-file", "file-is-folder", "folder-is-file", "is-input", "in-input-folder", "twice"])
def test_check_outputs_table(outputs, inputs, message, tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "sub").mkdir()
    fill = [(flag, path.format(d=tmp_path), kind) for flag, path, kind in outputs]
    with pytest.raises(ConfigError, match=message):
        check_outputs(fill, inputs=[i.format(d=tmp_path) for i in inputs])


def test_check_outputs_accepts_new_paths_stdout_and_devices(tmp_path):
    check_outputs([("--a", tmp_path / "new" / "deeper" / "o.txt", "file"), ("--b", "-", "file"),
                   ("--c", "/dev/null", "file"), ("--d", None, "file"), ("--e", tmp_path / "out", "folder")],
                  inputs=[tmp_path / "in.mp4"])
    assert not (tmp_path / "new").exists()  # checking creates nothing


# ----------------------------------------------------------------------- 4. a full disk: one line, nothing broken


DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
    from vidgru.cli import main
    sys.argv = ["vidgru"] + sys.argv[1:]
    main()
""")


@pytest.mark.parametrize("flag", ["--mot", "--json"])
def test_disk_full_is_one_line_and_the_old_file_stays(flag, seq, tmp_path):
    out = tmp_path / "out" / "tracks.txt"
    out.parent.mkdir()
    out.write_text("old results\n")
    res = subprocess.run([sys.executable, "-c", DISK_FULL, "track", str(seq), *FAST, flag, str(out), "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    errors = _error_lines(res.stderr)
    assert len(errors) == 1 and f"cannot write {out}" in errors[0] and "File too large" in errors[0], res.stderr
    assert out.read_text() == "old results\n"  # the finished file is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["tracks.txt"]


def test_disk_full_while_encoding_a_video_is_one_line(tmp_path):
    video = _avi(tmp_path / "in.avi", 40)
    out = tmp_path / "out" / "v.mp4"
    out.parent.mkdir()
    out.write_bytes(b"old")
    res = subprocess.run([sys.executable, "-c", DISK_FULL.replace("2000", "20000"), "track", str(video),
                          "--detector", "bgsub", *FAST, "--out-video", str(out), "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    errors = _error_lines(res.stderr)
    assert len(errors) == 1 and f"cannot write {out}" in errors[0], res.stderr
    assert out.read_bytes() == b"old" and sorted(p.name for p in out.parent.iterdir()) == ["v.mp4"]


def test_write_error_in_a_text_sink_is_a_vidgru_error_and_removes_the_partial(tmp_path):
    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    target = tmp_path / "a.jsonl"
    with pytest.raises(VidgruError, match=r"cannot write .*a.jsonl: No space left on device \(disk full\?\)"):
        with JsonlSink(target) as sink:
            sink.handle.close()
            sink.handle = Full()
            sink.write_record({"a": 1})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ 5. a failed run leaves no empty files behind


def test_missing_input_leaves_no_output(tmp_path):
    x, j, v = tmp_path / "x.txt", tmp_path / "x.jsonl", tmp_path / "tv"
    code, _, err = _run("track", str(tmp_path / "nope.mp4"), "--mot", str(x), "--json", str(j),
                        "--out-video", str(v / "o.mp4"))
    assert code == 2
    errors = _error_lines(err)
    assert len(errors) == 1 and "nope.mp4" in errors[0] and "no such file" in errors[0], err
    assert list(tmp_path.iterdir()) == []


def test_unreachable_stream_leaves_no_output(tmp_path):
    code, _, err = _run("track", "rtsp://127.0.0.1:9/none", "--detector", "bgsub", "--mot", str(tmp_path / "c.txt"))
    assert code == 2 and len(_error_lines(err)) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_missing_input_is_reported_before_the_detector_is_built(tmp_path):
    # A torchvision detector whose weights would be looked up (slow, or a missing-weights error) is not built.
    code, _, err = _run("track", str(tmp_path / "nope.mp4"), "--weights", str(tmp_path / "no-weights.pth"))
    assert code == 2 and "no such file" in err and "weights" not in err.split("error:")[1], err


@pytest.mark.parametrize(("exc", "code", "first"), [(KeyboardInterrupt, 130, "interrupted"),
                                                     (VidgruError("the source broke"), 2, "error: the source broke")],
                         ids=["ctrl-c", "vidgru-error"])
def test_interrupted_track_keeps_partial_results_and_says_so(exc, code, first, seq, tmp_path, monkeypatch):
    from vidgru.track import pipeline

    real = pipeline.track_sequence_detections

    def stops_after_ten(*args, **kwargs):
        for n, ft in enumerate(real(*args, **kwargs)):
            if n == 10:
                raise exc
            yield ft

    monkeypatch.setattr(pipeline, "track_sequence_detections", stops_after_ten)
    out = tmp_path / "o.jsonl"
    got, _, err = _run("track", str(seq), *FAST, "--json", str(out), "-q")
    assert got == code
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line == f"{first}; kept the results of the first 10 frames in {out}"
    assert len(out.read_text().splitlines()) == 10 and _stray(tmp_path) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, VidgruError], ids=["ctrl-c", "vidgru-error"])
def test_sinks_keep_partial_results_only_when_there_are_some(exc, tmp_path):
    ft = FrameTracks(frame_index=0, timestamp_s=0.0, tracks=[])
    for sink_cls in (MotSink, TrackJsonlSink):
        empty, partial = tmp_path / f"empty.{sink_cls.__name__}", tmp_path / f"partial.{sink_cls.__name__}"
        with pytest.raises(exc), sink_cls(empty):
            raise exc()
        with pytest.raises(exc), sink_cls(partial) as sink:
            sink.write(ft)
            raise exc()
        assert not empty.exists() and partial.exists()
    assert _stray(tmp_path) == []


# ------------------------------------------------------------- 6. inputs whose names collide get distinct names


@pytest.mark.parametrize(("paths", "expected"), [
    (["a/clip.mp4", "b/other.mp4"], ["clip", "other"]),
    (["a/clip.mp4", "a/clip.avi"], ["clip.mp4", "clip.avi"]),
    (["a/clip.mp4", "a/clip.avi", "b/clip.mp4"], ["a_clip.mp4", "clip.avi", "b_clip.mp4"]),
    (["a/Clip.mp4", "b/clip.avi"], ["Clip.mp4", "clip.avi"]),
], ids=["distinct", "extension", "parent-folder", "case-insensitive"])
def test_distinct_names(paths, expected):
    assert distinct_names(paths) == expected


def test_the_same_input_twice_is_refused():
    with pytest.raises(ConfigError, match="more than once"):
        distinct_names(["a/clip.mp4", "a/clip.mp4"])


def test_classify_label_videos_of_colliding_names_are_distinct(tmp_path):
    from vidgru.classify import classify_outputs
    from vidgru.settings import ClassifySettings

    sources = [str(_avi(tmp_path / "a" / "clip.mp4")), str(_avi(tmp_path / "a" / "clip.avi")),
               str(_avi(tmp_path / "b" / "clip.mp4"))]
    targets = classify_outputs(sources, ClassifySettings(out_video=str(tmp_path / "out")))
    names = sorted(t.name for t in targets.values())
    assert names == ["a_clip.mp4.annotated.mp4", "b_clip.mp4.annotated.mp4", "clip.avi.annotated.mp4"]


def test_track_outputs_of_colliding_names_are_distinct(tmp_path):
    from vidgru.settings import TrackSettings
    from vidgru.track.pipeline import TrackOutputs

    items = [str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "b" / "clip.mp4"), str(tmp_path / "b" / "x.mp4")]
    cfg = TrackSettings(mot=str(tmp_path / "runs"), json=str(tmp_path / "runs"), out_video=str(tmp_path / "v"))
    outs = TrackOutputs.for_inputs(cfg, items)
    assert [Path(o.mot).name for o in outs] == ["a_clip.mp4.txt", "b_clip.mp4.txt", "x.txt"]
    assert [Path(o.video).name for o in outs] == ["a_clip.mp4.annotated.mp4", "b_clip.mp4.annotated.mp4",
                                                  "x.annotated.mp4"]


# ------------------------------------------------------------------------------------ 7. strict JSON, no NaN


def _strict_loads(line: str):
    return json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_json_sinks_write_nan_and_infinity_as_null(tmp_path):
    from vidgru.types import Track

    with JsonlSink(tmp_path / "a.jsonl") as sink:
        sink.write_record({"score": float("nan"), "scores": [1.0, float("inf")], "n": np.float32("nan")})
    assert _strict_loads((tmp_path / "a.jsonl").read_text()) == {"score": None, "scores": [1.0, None], "n": None}
    track = Track(track_id=1, xyxy=np.array([0.0, 0.0, 1.0, float("nan")]), score=float("nan"))
    with TrackJsonlSink(tmp_path / "t.jsonl") as sink:
        sink.write(FrameTracks(frame_index=0, timestamp_s=0.0, tracks=[track]))
    record = _strict_loads((tmp_path / "t.jsonl").read_text())
    assert record["tracks"][0]["score"] is None and record["tracks"][0]["box"][3] is None


def test_strict_json_keeps_finite_values_as_they_are():
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": -0.0}}
    assert strict_json(value) == json.dumps(value)


# ------------------------------------------------------------------- 8. track without outputs says so


def test_track_without_outputs_says_nothing_is_saved(seq, tmp_path):
    code, _, err = _run("track", str(seq), *FAST)
    assert code == 0
    assert sum("nothing" in line for line in err.splitlines()) == 1, err
    code, _, err = _run("track", str(seq), *FAST, "--mot", str(tmp_path / "o.txt"))
    assert code == 0 and "nothing" not in err
    assert f"wrote {tmp_path / 'o.txt'}" in err.splitlines()[-1]


# ---------------------------------------------------- 9. a truncated video: partial results kept, warning, exit 1


def test_track_truncated_video_keeps_results_and_exits_1(tmp_path):
    video = _avi(tmp_path / "cut.avi", 60, cut=True)
    out = tmp_path / "cut.txt"
    code, _, err = _run("track", str(video), "--detector", "bgsub", *FAST, "--mot", str(out), "--json",
                        str(tmp_path / "cut.jsonl"))
    assert code == 1, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "truncated" in warnings[0] and "kept the results" in warnings[0], err
    assert not _error_lines(err)
    records = [_strict_loads(line) for line in (tmp_path / "cut.jsonl").read_text().splitlines()]
    assert 20 <= len(records) < 60 and out.exists()
    assert _stray(tmp_path) == []


def test_classify_truncated_video_keeps_results_and_exits_1(tmp_path, untrained_model):
    video = _avi(tmp_path / "cut.avi", 60, cut=True)
    out = tmp_path / "c.jsonl"
    code, _, err = _run("classify", str(video), "--model", str(untrained_model), "--json", str(out), "-q",
                        "--device", "cpu")
    assert code == 1, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "truncated" in warnings[0], err
    assert not _error_lines(err)
    (record,) = [_strict_loads(line) for line in out.read_text().splitlines()]
    assert record["video"] == str(video) and 2.0 <= record["duration_s"] < 6.0


def test_atomic_text_file_to_stdout_is_untouched():
    sink = AtomicTextFile("-")
    with sink:
        pass
    assert not sink.kept


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX byte file names")
def test_output_names_that_are_not_utf8_are_written(tmp_path):
    """Output names with bytes that are not UTF-8 would crash OpenCV's writer (a segfault, no message): the video
    is encoded under an ASCII partial name and renamed; the text outputs keep the name's bytes."""
    video = _avi(tmp_path / "in.avi", 12)
    folder = os.fsencode(tmp_path)
    names = [b"v\xff.mp4", b"j\xfe.jsonl", b"m\xfd.txt"]
    res = subprocess.run([sys.executable, "-m", "vidgru", "track", str(video), "--detector", "bgsub", *FAST,
                          "--out-video", folder + b"/" + names[0], "--json", folder + b"/" + names[1],
                          "--mot", folder + b"/" + names[2], "-q"], capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    written = set(os.listdir(folder))
    assert set(names) <= written and not [n for n in written if b"partial" in n]
    import cv2

    link = tmp_path / "link.mp4"
    link.symlink_to(os.fsdecode(folder + b"/" + names[0]))
    assert int(cv2.VideoCapture(str(link)).get(cv2.CAP_PROP_FRAME_COUNT)) == 12
