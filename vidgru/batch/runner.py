"""The batch runner: plans a batch (resume), runs it on an executor, and commits outputs and records.

:class:`BatchRunner` holds the task's settings and their fingerprint, the plan (which inputs to redo, which
to skip) and the progress bars. It hands the work (:class:`~vidgru.batch.work.WorkItem` s) to an
:class:`~vidgru.batch.work.Executor` (:mod:`~vidgru.batch.local` or :mod:`~vidgru.batch.ray_executor`), and
for each outcome it yields, the runner alone moves the finished outputs into place (:meth:`BatchRunner.commit`)
before their record goes to the manifest (:meth:`BatchRunner.record`). :func:`run_batch` is the entry point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidgru import fileio
from vidgru.batch.jobs import (
    STAGING_DIR,
    BatchInput,
    build_classifier,
    find_batch_inputs,
    match_outputs,
    output_names,
    track_detector_spec,
)
from vidgru.batch.local import LocalExecutor
from vidgru.batch.manifest import (
    FAILED,
    MANIFEST_NAME,
    OK,
    SKIPPED,
    BatchRecord,
    BatchSummary,
    Manifest,
    bytes_digest,
    file_digest,
    file_fingerprint,
    output_digest,
    resume_check,
    settings_fingerprint,
    write_atomic,
)
from vidgru.batch.ray_executor import RayExecutor
from vidgru.batch.work import Executor, ItemFailed, Outcome, WorkItem
from vidgru.settings import BatchSettings, TrackSettings


@dataclass(frozen=True)
class PlannedItem:
    """An input to process in this run, its fingerprint (for its record) and, when an earlier run had recorded
    it, why it runs again."""

    item: WorkItem
    fingerprint: dict[str, Any]
    redo_reason: str | None = None


class BatchRunner:
    """Runs one batch (see :mod:`vidgru.batch`). Build it with the settings, then call :meth:`run`.

    Args:
        config: the batch settings (:class:`~vidgru.settings.BatchSettings`).
        progress: show tqdm bars (files and frames).
        on_record: called with each record as it is written (e.g. to print failures as they happen).
        classifier: a :class:`~vidgru.classify.ClipClassifier` to use instead of building one from ``config``
            (reuse one model across runs); it must match the config's model and sampling.
    """

    def __init__(self, config: BatchSettings, *, progress: bool = False,
                 on_record: Callable[[BatchRecord], None] | None = None, classifier=None) -> None:
        self.cfg = config
        self.out = Path(config.out)
        self.manifest = Manifest(self.out / MANIFEST_NAME)
        self.progress = progress
        self.on_record = on_record
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
        self.staging = self.out / STAGING_DIR / self.run_id  # this run's worker outputs wait here
        self._classifier = classifier
        self._settings = ""
        self._bars: list[Any] = []

    # -- settings -------------------------------------------------------------------------------------

    def classifier(self):
        """The one clip classifier of this run (main process), built on first use."""
        if self._classifier is None:
            self._classifier = build_classifier(self.cfg.classify)
        return self._classifier

    def task_settings(self) -> dict[str, Any]:
        """The settings that decide a task's results (their fingerprint is stored in every record)."""
        c = self.cfg
        if c.task == "classify":
            from vidgru.classify import default_model_path

            k = c.classify
            model = Path(k.model) if k.model else default_model_path()
            return {"task": "classify", "model": file_digest(model), "window_s": k.window_s,
                    "stride_s": k.stride_s, "sample_fps": k.sample_fps, "fps": k.fps,
                    "weights": file_digest(k.weights) if k.weights and Path(k.weights).is_file() else k.weights}
        track = dataclasses.asdict(c.track)
        for key in ("device", "runtime", "mot", "json", "out_video", "events", "summary", "heatmap"):
            track.pop(key, None)
        for key in ("line", "zone", "analytics"):  # kept only when set: records written before them stay valid
            if not track.get(key):
                track.pop(key, None)
        if track.get("analytics") and Path(track["analytics"]).is_file():
            track["analytics"] = file_digest(track["analytics"])
        # the names these fields had when manifests were first written: old records stay valid
        track["motion"], track["motion_model"] = track.pop("state_model"), track.pop("state_model_file")
        if track.get("motion_model") and Path(track["motion_model"]).is_file():
            track["motion_model"] = file_digest(track["motion_model"])
        return {"task": "track", **track}

    def track_config(self) -> TrackSettings:
        return self.cfg.track

    def check_detector(self) -> None:
        """Build the track task's detector once here, so a bad name or missing weights stops the run with one
        error (ConfigError, DetectorError, WeightsUnavailableError) instead of failing every input alike."""
        from vidgru.detect import create_detector
        from vidgru.track.pipeline import analytics_spec_for

        cfg = self.track_config()
        analytics_spec_for(cfg)  # a bad --analytics file, --line or --zone: one error before any work
        spec = track_detector_spec(cfg)
        create_detector(spec, classes=cfg.class_list, score_threshold=cfg.score_threshold,
                        min_box_size=cfg.min_box_size, device="cpu", weights=cfg.weights)

    def executor(self) -> Executor:
        """The executor ``config.executor`` names, given what it needs of this run (the local one: the
        classifier and the staging folder)."""
        track_cfg = self.track_config() if self.cfg.task == "track" else None
        if self.cfg.executor == "ray":
            return RayExecutor(self.cfg, track_config=track_cfg)
        clf = self.classifier() if self.cfg.task == "classify" else None
        return LocalExecutor(self.cfg, staging=self.staging, classifier=clf, track_config=track_cfg)

    # -- planning ---------------------------------------------------------------------------------------

    def plan(self, inputs: Sequence[BatchInput]) -> tuple[list[PlannedItem], list[BatchRecord]]:
        """Split inputs into work to do and skip records (the resume rule: :func:`~.manifest.resume_check`)."""
        settings = settings_fingerprint(self.task_settings())
        self._settings = settings
        previous = {} if self.cfg.force else self.manifest.latest()
        taken: set[str] = set()
        todo, skipped = [], []
        for i, inp in enumerate(inputs):
            outputs = output_names(inp.relpath, self.cfg.task, out_video=self.cfg.out_video, taken=taken,
                                   analytics=self.cfg.track.has_analytics_shapes)
            try:
                fp = file_fingerprint(inp.source, content_hash=self.cfg.hash)
            except OSError as exc:
                fp = {"error": str(exc)}
            prev = previous.get(inp.relpath)
            why = resume_check(prev, fingerprint=fp, settings=settings, outputs=outputs, out=self.out)
            if why is None:
                skipped.append(BatchRecord(inp.source, inp.relpath, SKIPPED, self.cfg.task, frames=prev.frames,
                                           outputs=prev.outputs, fingerprint=fp, settings=settings, run=self.run_id,
                                           output_digests=prev.output_digests))
                continue
            todo.append(PlannedItem(WorkItem(i, inp, outputs), fp, why if prev is not None else None))
        return todo, skipped

    # -- outputs and records -------------------------------------------------------------------------------

    def settle(self, outcome: Outcome, fingerprint: dict[str, Any], redo_reason: str | None = None) -> BatchRecord:
        """An executor's outcome -> the item's record: a done item's outputs are moved into place first (all
        of them, or it fails) and their sizes and sha256 recorded; a failed item's record carries the
        executor's reason. ``redo_reason``: why an input an earlier run had recorded ran again."""
        item = outcome.item
        if isinstance(outcome, ItemFailed):
            return self.record(item, FAILED, fingerprint=fingerprint, started=outcome.started, error=outcome.error,
                               redo_reason=redo_reason)
        staged = match_outputs(item.outputs, outcome.files)
        missing = [n for n in item.outputs if n not in staged]
        if missing:
            for value in staged.values():
                if isinstance(value, str):
                    Path(value).unlink(missing_ok=True)
            return self.record(item, FAILED, fingerprint=fingerprint, started=outcome.started,
                               error=f"internal error: no {', '.join(missing)} was produced", redo_reason=redo_reason)
        try:
            digests = self.commit(staged)
        except OSError as exc:  # an output path that is blocked (a folder in its place, a parent that is a file)
            for value in staged.values():
                if isinstance(value, str):
                    Path(value).unlink(missing_ok=True)
            where = exc.filename or self.out
            return self.record(item, FAILED, fingerprint=fingerprint, started=outcome.started,
                               error=f"cannot write its outputs: {where}: {exc.strerror or exc}",
                               redo_reason=redo_reason)
        return self.record(item, OK, fingerprint=fingerprint, started=outcome.started, frames=outcome.frames,
                           digests=digests, redo_reason=redo_reason)

    def commit(self, staged: dict[str, bytes | str]) -> dict[str, dict[str, Any]]:
        """Move finished outputs into place: ``staged`` maps an output name (relative to the output folder) to
        its content (written through a temporary file, fsync'ed) or the path of a complete staged file
        (renamed). Returns each output's size and sha256 (:func:`~.manifest.output_digest`), for its record.
        Raises OSError naming the output that could not be written."""
        digests = {}
        for name, value in staged.items():
            target = self.out / name
            try:
                if isinstance(value, bytes):
                    digests[name] = bytes_digest(value)
                    write_atomic(target, value)
                else:
                    digests[name] = output_digest(value)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fileio.commit(value, target)
            except OSError as exc:  # name the output, not its temporary file (which must not stay behind)
                if isinstance(value, bytes):
                    fileio.partial_path(target).unlink(missing_ok=True)
                raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        return digests

    def record(self, item: WorkItem, status: str, *, fingerprint: dict[str, Any], started: float, frames: int = 0,
               error: str | None = None, digests: dict[str, dict[str, Any]] | None = None,
               redo_reason: str | None = None) -> BatchRecord:
        """Append ``item``'s record to the manifest (its outputs and their digests when ``ok``; ``seconds`` since
        ``started``, a :func:`time.perf_counter` reading) and report it."""
        rec = BatchRecord(item.inp.source, item.inp.relpath, status, self.cfg.task, error=error,
                          frames=frames if status == OK else 0, seconds=time.perf_counter() - started,
                          outputs=item.outputs if status == OK else (), fingerprint=fingerprint,
                          settings=self._settings, run=self.run_id,
                          output_digests=(digests or {}) if status == OK else {}, redo_reason=redo_reason)
        self.manifest.append(rec)
        if self._bars:
            self._bars[0].update()
        if self.on_record is not None:
            self.on_record(rec)
        return rec

    # -- running ---------------------------------------------------------------------------------------

    def run(self, inputs: Sequence[BatchInput]) -> BatchSummary:
        """Process ``inputs``; returns one record per input (in input order)."""
        t0 = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        todo, skipped = self.plan(inputs)
        for rec in skipped:
            self.manifest.append(rec)
        records: dict[int, BatchRecord] = {}
        if todo and self.cfg.task == "track":
            self.check_detector()
        if todo:
            planned = {p.item.index: p for p in todo}
            self._open_bars(len(todo))
            try:
                outcomes = self.executor().run([p.item for p in todo], on_frames=self.frames_done)
                with contextlib.closing(outcomes):  # an error here stops the executor's work too
                    for outcome in outcomes:
                        index = outcome.item.index
                        records[index] = self.settle(outcome, planned[index].fingerprint, planned[index].redo_reason)
            finally:
                for bar in self._bars:
                    bar.close()
                self._bars = []
                shutil.rmtree(self.staging, ignore_errors=True)
                with contextlib.suppress(OSError):
                    (self.out / STAGING_DIR).rmdir()  # only when empty: another run may be using it
        by_rel = {r.relpath: r for r in skipped}
        ordered = [records.get(i) or by_rel[inp.relpath] for i, inp in enumerate(inputs)]
        return BatchSummary(ordered, time.perf_counter() - t0)

    def _open_bars(self, files: int) -> None:
        from tqdm import tqdm

        if self.progress:
            self._bars = [tqdm(total=files, desc="files", unit="file", position=0),
                          tqdm(desc="frames", unit="frame", position=1)]

    def frames_done(self, n: int) -> None:
        """Advance the frames bar by ``n``."""
        if self._bars:
            self._bars[1].update(n)


def run_batch(inputs: Sequence[str | Path], config: BatchSettings, *, progress: bool = False,
              on_record: Callable[[BatchRecord], None] | None = None, classifier=None) -> BatchSummary:
    """Run ``config.task`` on every video under ``inputs`` (folders and/or files), writing outputs and
    ``manifest.jsonl`` under ``config.out``. See :mod:`vidgru.batch` for the rules.

    Example::

        summary = run_batch(["videos/"], BatchSettings(task="classify", out="results"))
        print(summary.count("ok"), summary.count("failed"))
    """
    runner = BatchRunner(config, progress=progress, on_record=on_record, classifier=classifier)
    return runner.run(find_batch_inputs(inputs))
