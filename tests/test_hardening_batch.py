"""vidgru batch against bad inputs: damaged outputs on resume, damaged manifests, bad videos among good ones,
strict JSON, and settings the CLI must refuse."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vidgru.batch import MANIFEST_NAME, BatchRecord, Manifest, run_batch
from vidgru.batch.jobs import result_json_bytes
from vidgru.cli import cli
from vidgru.config import build_batch_settings
from vidgru.fileio import strict_json

SAMPLES = Path(__file__).resolve().parents[1] / "sample_videos"


def _strict_loads(text: str):
    """json.loads that refuses NaN/Infinity, as strict parsers (JavaScript, Go, jq) do."""
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


class _FakeExecutor:
    """Finishes every item at once with a small JSON output (no workers, no model); records what it ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, items, *, on_frames):
        import time

        from vidgru.batch.work import ItemDone

        for item in items:
            self.ran.append(item.inp.relpath)
            content = json.dumps({"video": item.inp.relpath, "label": "static", "pad": "x" * 52}).encode()
            yield ItemDone(item, 3, {"json": content}, time.perf_counter())


@pytest.fixture
def fake_batch(tmp_path, monkeypatch):
    """Three tiny inputs (a, b, c) and a function running the batch over them with :class:`_FakeExecutor`;
    it returns (summary, relpaths the executor ran)."""
    from vidgru.batch import BatchRunner

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b", "c"):
        (videos / f"{name}.mp4").write_bytes(name.encode() * 10)
    out = tmp_path / "out"

    def run():
        executor = _FakeExecutor()
        monkeypatch.setattr(BatchRunner, "executor", lambda self: executor)
        summary = run_batch([videos], build_batch_settings(out=str(out)))
        return summary, executor.ran

    return out, run


def _status(summary) -> dict[str, str]:
    return {r.relpath: r.status for r in summary.records}


# ------------------------------------------------------------------------------ resume checks each output


def _cut_in_half(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _same_size_other_bytes(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-2] ^= 0x01
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "reason"), [
    (None, None),
    (_cut_in_half, "output b.json is damaged: 50 bytes, 100 when it was written"),
    (_same_size_other_bytes, "output b.json is damaged: its content differs from what was written (sha256)"),
    (Path.unlink, "output b.json is missing"),
], ids=["untouched", "cut-short", "same-size-altered", "deleted"])
def test_resume_redoes_an_input_whose_output_was_damaged(fake_batch, damage, reason):
    out, run = fake_batch
    first, _ = run()
    assert set(_status(first).values()) == {"ok"}
    record = first.records[1]
    assert record.output_digests["b.json"]["size"] == (out / "b.json").stat().st_size == 100
    assert record.output_digests["b.json"]["sha256"] == hashlib.sha256((out / "b.json").read_bytes()).hexdigest()
    if damage is not None:
        damage(out / "b.json")

    second, ran = run()
    if damage is None:
        assert ran == [] and set(_status(second).values()) == {"skipped"}
        assert second.records[1].output_digests == record.output_digests  # carried on by the skip record
        return
    assert ran == ["b.mp4"]
    assert _status(second) == {"a.mp4": "skipped", "b.mp4": "ok", "c.mp4": "skipped"}
    assert second.records[1].redo_reason == reason
    assert Manifest(out / MANIFEST_NAME).latest()["b.mp4"].redo_reason == reason  # the reason is in the file
    assert (out / "b.json").read_bytes() == (out / "a.json").read_bytes().replace(b"a.mp4", b"b.mp4")


def test_an_output_that_cannot_be_written_fails_only_its_input(fake_batch):
    out, run = fake_batch
    run()
    (out / "b.json").unlink()
    (out / "b.json").mkdir()  # a folder where the output goes
    second, ran = run()
    assert ran == ["b.mp4"] and second.exit_code == 1
    assert _status(second) == {"a.mp4": "skipped", "b.mp4": "failed", "c.mp4": "skipped"}
    b = second.records[1]
    assert b.redo_reason == "output b.json is not a file"
    assert b.error.startswith("cannot write its outputs: ") and "b.json" in b.error
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


@pytest.mark.parametrize(("damage", "redone"), [
    (None, False),
    (Path.unlink, True),
    (_cut_in_half, False),  # no digest recorded: only existence can be checked (docs/batch.md, Resume)
], ids=["untouched", "deleted", "cut-short"])
def test_records_without_digests_need_only_their_outputs_to_exist(fake_batch, damage, redone):
    out, run = fake_batch
    run()
    manifest = out / MANIFEST_NAME
    lines = []
    for line in manifest.read_text().splitlines():  # as a manifest from before digests were recorded
        d = json.loads(line)
        del d["output_digests"], d["redo_reason"]
        lines.append(json.dumps(d))
    manifest.write_text("\n".join(lines) + "\n")
    if damage is not None:
        damage(out / "b.json")
    second, ran = run()
    assert ran == (["b.mp4"] if redone else [])
    assert _status(second)["b.mp4"] == ("ok" if redone else "skipped")


# ---------------------------------------------------------------------------------- damaged manifests


BAD_LINES = {
    "not-utf8": b'{"path": "v/b.mp4", "relpath": "b.mp4", "status": "ok", "task": "classify", "x": "\xff\xfe"}',
    "binary-garbage": bytes(range(256)) * 3,
    "json-list": b'["b.mp4", "ok"]',
    "json-number": b"42",
    "json-null": b"null",
    "json-string": b'"ok"',
    "wrong-field-type": b'{"path": "v/b.mp4", "relpath": ["b.mp4"], "status": "ok", "task": "classify"}',
    "outputs-not-a-list": b'{"path": "v/b.mp4", "relpath": "b.mp4", "status": "ok", "task": "classify", '
                          b'"outputs": 5}',
    "bad-digest": b'{"path": "v/b.mp4", "relpath": "b.mp4", "status": "ok", "task": "classify", '
                  b'"outputs": ["b.json"], "output_digests": {"b.json": 7}}',
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "nan-constant": b'{"path": "v/b.mp4", "relpath": "b.mp4", "status": "ok", "task": "classify", "seconds": NaN,'
                    b' "frames": "many"}',
}


def _record_line(rel: str) -> bytes:
    return json.dumps(BatchRecord(f"v/{rel}", rel, "failed", "classify", error="boom").to_dict()).encode()


@pytest.mark.parametrize("bad", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_a_bad_manifest_line_is_skipped_with_one_warning(tmp_path, caplog, bad):
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(_record_line("a.mp4") + b"\n" + bad + b"\n" + _record_line("c.mp4") + b"\n")
    with caplog.at_level(logging.WARNING, logger="vidgru.batch.manifest"):
        records = Manifest(path).read()
    assert [r.relpath for r in records] == ["a.mp4", "c.mp4"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "line 2" in warnings[0].getMessage() and str(path) in warnings[0].getMessage()


def test_a_truncated_last_line_is_skipped_with_one_warning(tmp_path, caplog):
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(_record_line("a.mp4") + b"\n" + _record_line("b.mp4")[:30])  # killed mid-write
    with caplog.at_level(logging.WARNING, logger="vidgru.batch.manifest"):
        assert [r.relpath for r in Manifest(path).read()] == ["a.mp4"]
    assert len(caplog.records) == 1 and "line 2" in caplog.records[0].getMessage()
    Manifest(path).append(BatchRecord("v/c.mp4", "c.mp4", "ok", "classify"))  # goes on a fresh line
    assert [r.relpath for r in Manifest(path).read()] == ["a.mp4", "c.mp4"]


@pytest.mark.parametrize("bad", [*BAD_LINES.values(), b'{"path": "v/b.mp4", "relpath": "b.m'],
                         ids=[*BAD_LINES, "truncated-last-line"])
def test_a_batch_over_a_damaged_manifest_keeps_the_good_records(fake_batch, caplog, bad):
    """b.mp4's record is damaged: b runs again, a and c (good records, intact outputs) are skipped."""
    out, run = fake_batch
    run()
    manifest = out / MANIFEST_NAME
    lines = manifest.read_bytes().splitlines()
    assert b'"b.mp4"' in lines[1]
    last = bad.endswith(b'"b.m')
    manifest.write_bytes(b"\n".join([lines[0], lines[2], bad] if last else [lines[0], bad, lines[2]])
                         + (b"" if last else b"\n"))
    with caplog.at_level(logging.WARNING, logger="vidgru.batch.manifest"):
        second, ran = run()
    assert ran == ["b.mp4"]
    assert _status(second) == {"a.mp4": "skipped", "b.mp4": "ok", "c.mp4": "skipped"}
    assert len([r for r in caplog.records if r.name == "vidgru.batch.manifest"]) == 1
    records = Manifest(manifest).read()
    assert [r.relpath for r in records][-3:] == ["a.mp4", "c.mp4", "b.mp4"]


def test_a_manifest_that_is_a_folder_is_one_error_line(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"a")
    (tmp_path / "out" / MANIFEST_NAME).mkdir(parents=True)
    res = subprocess.run([sys.executable, "-m", "vidgru", "batch", str(videos), "--out", str(tmp_path / "out"),
                          "-q"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and MANIFEST_NAME in errors[0]


# ------------------------------------------------------------------------------------------ strict JSON


def test_strict_json_writes_null_for_numbers_that_are_not_finite():
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float32("nan"), "d": (np.float64(2.0), 3),
             "e": {"f": np.int64(4)}, "g": None, "h": "NaN"}
    text = strict_json(value)
    assert _strict_loads(text) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [2.0, 3], "e": {"f": 4},
                                   "g": None, "h": "NaN"}
    assert math.isnan(value["a"]) and isinstance(value["d"], tuple)  # the input is not changed
    result = {"label": "static", "scores": {"static": math.nan}, "windows": [{"score": math.inf}]}
    assert _strict_loads(result_json_bytes(result).decode()) == {
        "label": "static", "scores": {"static": None}, "windows": [{"score": None}]}


def test_manifest_records_are_strict_json(tmp_path):
    manifest = Manifest(tmp_path / MANIFEST_NAME)
    manifest.append(BatchRecord("v/a.mp4", "a.mp4", "ok", "classify", seconds=math.nan,
                                fingerprint={"size": 3, "mtime_ns": 1, "x": math.inf}))
    (line,) = manifest.path.read_text().splitlines()
    d = _strict_loads(line)
    assert d["seconds"] is None and d["fingerprint"]["x"] is None


def test_a_classification_with_nan_scores_is_written_as_strict_json(tmp_path):
    """The local executor's classify path: a model that gives NaN scores still writes strict JSON."""
    from vidgru.batch.jobs import BatchInput, DecodeEnd
    from vidgru.batch.local import LocalExecutor, _InFlight
    from vidgru.batch.work import ItemDone, WorkItem

    class Result:
        def to_dict(self):
            return {"video": "a.mp4", "label": "static", "scores": {"static": math.nan, "pan": math.inf},
                    "duration_s": 1.0, "segments": []}

    class Classifier:
        class embedder:
            embed_dim = 4

        def classify_embedded(self, video):
            return Result()

    cfg = build_batch_settings(out=str(tmp_path / "out"))
    executor = LocalExecutor(cfg, staging=tmp_path / "staging", classifier=Classifier())
    w = _InFlight(WorkItem(0, BatchInput("a.mp4", "a.mp4"), ("a.json",)))
    w.end = DecodeEnd(0, None, 1.0, 0, 0)
    outcome = executor._classify(Classifier(), w)
    assert isinstance(outcome, ItemDone)
    assert _strict_loads(outcome.files["json"].decode())["scores"] == {"static": None, "pan": None}


# ------------------------------------------------------------------------------------- settings refused


@pytest.mark.parametrize("value", ["nan", "NaN"], ids=["nan", "NaN"])
def test_a_file_timeout_that_is_not_a_number_is_refused(tmp_path, value):
    """`--file-timeout-s nan` would disable the hang guard (every comparison with NaN is false)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"a")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(videos), "--out", str(out), "--file-timeout-s", value, "-q"])
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "file_timeout_s" in errors[0].replace("-", "_"), res.output
    assert "Traceback" not in res.output and not out.exists()


# ------------------------------------------------------------------------------- bad inputs among good


def _bad_inputs_folder(root: Path) -> Path:
    videos = root / "videos"
    (videos / "sub").mkdir(parents=True)
    (videos / "good.mp4").write_bytes((SAMPLES / "static_street.mp4").read_bytes())
    (videos / "sub/good2.mp4").write_bytes((SAMPLES / "pan_right_bunny.mp4").read_bytes())
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "notes.mp4").write_text("these are not frames\n" * 50)
    data = (SAMPLES / "pan_left_then_static.mp4").read_bytes()
    (videos / "sub/truncated.mp4").write_bytes(data[: len(data) // 2])
    # a good video under a name that is not UTF-8 (bytes on disk; Python sees it with a surrogate escape):
    # OpenCV's binding crashes on such names, so the video layer must never hand it one
    with open(os.path.join(os.fsencode(videos), b"bad-\xff-name.mp4"), "wb") as f:
        f.write((SAMPLES / "static_street.mp4").read_bytes())
    (videos / "x.mp4").mkdir()  # a folder with a video's name: not an input
    return videos


@pytest.mark.slow
def test_bad_inputs_fail_alone_and_every_good_result_is_kept(tmp_path):
    videos = _bad_inputs_folder(tmp_path)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "vidgru", "batch", str(videos), "--out", str(out), "--workers", "2",
                          "-q", "--device", "cpu", "--sample-fps", "4"], capture_output=True, timeout=300)
    stderr = res.stderr.decode("utf-8", "replace")
    assert res.returncode == 1, stderr
    assert "Traceback" not in stderr
    bad_name = os.fsdecode(b"bad-\xff-name.mp4")
    latest = Manifest(out / MANIFEST_NAME).latest()
    assert {k: r.status for k, r in latest.items()} == {
        "good.mp4": "ok", "sub/good2.mp4": "ok", "empty.mp4": "failed", "notes.mp4": "failed",
        "sub/truncated.mp4": "failed", bad_name: "ok"}
    assert "empty" in latest["empty.mp4"].error
    for rel in ("notes.mp4", "sub/truncated.mp4"):
        assert latest[rel].error and "\n" not in latest[rel].error
    bad_json = os.fsdecode(b"bad-\xff-name.json")
    for rel in ("good.json", "sub/good2.json", bad_json):
        assert _strict_loads((out / rel).read_text())["label"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted([
        "good.json", bad_json, MANIFEST_NAME, "sub/good2.json"])  # nothing for the bad inputs, nothing half-written
    for line in (out / MANIFEST_NAME).read_text().splitlines():
        _strict_loads(line)
    assert "3 ok, 3 failed" in stderr
    assert sum(line.startswith("  failed: ") for line in stderr.splitlines()) == 3
