"""The batch runner: plans a batch (resume), runs it on an executor, and writes outputs and records.

:class:`BatchRunner` is the part both executors share: the task's settings and their fingerprint, the one
clip classifier (classify), the plan (which inputs to redo, which to skip), moving finished outputs into
place (:meth:`BatchRunner.commit`) before their record goes to the manifest (:meth:`BatchRunner.record`),
and the progress bars. :func:`run_batch` is the entry point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.batch.jobs import (
    STAGING_DIR,
    BatchInput,
    DecodeEnd,
    build_classifier,
    find_batch_inputs,
    output_names,
    track_detector_spec,
)
from vidgru.batch.local import LocalExecutor
from vidgru.batch.manifest import (
    MANIFEST_NAME,
    OK,
    SKIPPED,
    BatchRecord,
    BatchSummary,
    Manifest,
    file_digest,
    file_fingerprint,
    is_finished,
    settings_fingerprint,
    write_atomic,
)
from vidgru.batch.ray_executor import RayExecutor
from vidgru.config import BatchConfig, TrackConfig


@dataclass
class _Pending:
    """An input being processed: where it stands and what it will write."""

    index: int
    inp: BatchInput
    outputs: tuple[str, ...]
    fingerprint: dict[str, Any]
    started: float
    stream: Any = None
    stamps: list[np.ndarray] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    end: DecodeEnd | None = None
    staged: dict[str, bytes | str] = field(default_factory=dict)  # output name -> bytes, or a staged file path
    frames: int = 0


class BatchRunner:
    """Runs one batch (see :mod:`vidgru.batch`). Build it with the settings, then call :meth:`run`.

    Args:
        config: the batch settings (:class:`~vidgru.config.BatchConfig`).
        progress: show tqdm bars (files and frames).
        on_record: called with each record as it is written (e.g. to print failures as they happen).
        classifier: a :class:`~vidgru.classify.ClipClassifier` to use instead of building one from ``config``
            (reuse one model across runs); it must match the config's model and sampling.
    """

    def __init__(self, config: BatchConfig, *, progress: bool = False,
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
            self._classifier = build_classifier(self.cfg)
        return self._classifier

    def task_settings(self) -> dict[str, Any]:
        """The settings that decide a task's results (their fingerprint is stored in every record)."""
        c = self.cfg
        if c.task == "classify":
            from vidgru.classify import default_model_path

            model = Path(c.model) if c.model else default_model_path()
            return {"task": "classify", "model": file_digest(model), "window_s": c.window_s,
                    "stride_s": c.stride_s, "sample_fps": c.sample_fps, "fps": c.fps,
                    "weights": file_digest(c.weights) if c.weights and Path(c.weights).is_file() else c.weights}
        track = dataclasses.asdict(self.track_config())
        for key in ("device", "runtime", "mot", "json", "out_video"):
            track.pop(key, None)
        if track.get("motion_model") and Path(track["motion_model"]).is_file():
            track["motion_model"] = file_digest(track["motion_model"])
        return {"task": "track", **track}

    def track_config(self) -> TrackConfig:
        from vidgru.config import build_config

        c = self.cfg
        return build_config(TrackConfig, c.track_config, detector=c.detector, classes=c.classes,
                            score_threshold=c.score_threshold, detect_every=c.detect_every, motion=c.motion,
                            appearance=c.appearance, fps=c.fps, max_frames=c.max_frames, weights=c.weights,
                            device=c.device, runtime=c.runtime)

    def check_detector(self) -> None:
        """Build the track task's detector once here, so a bad name or missing weights stops the run with one
        error (ConfigError, DetectorError, WeightsUnavailableError) instead of failing every input alike."""
        from vidgru.detect import create_detector

        cfg = self.track_config()
        spec = track_detector_spec(cfg)
        create_detector(spec, classes=cfg.class_list, score_threshold=cfg.score_threshold,
                        min_box_size=cfg.min_box_size, device="cpu", weights=cfg.weights)

    # -- planning ---------------------------------------------------------------------------------------

    def plan(self, inputs: Sequence[BatchInput]) -> tuple[list[_Pending], list[BatchRecord]]:
        """Split inputs into work to do and skip records (the resume rule: :func:`~.manifest.is_finished`)."""
        settings = settings_fingerprint(self.task_settings())
        self._settings = settings
        previous = {} if self.cfg.force else self.manifest.latest()
        taken: set[str] = set()
        todo, skipped = [], []
        for i, inp in enumerate(inputs):
            outputs = output_names(inp.relpath, self.cfg.task, out_video=self.cfg.out_video, taken=taken)
            try:
                fp = file_fingerprint(inp.source, content_hash=self.cfg.hash)
            except OSError as exc:
                fp = {"error": str(exc)}
            prev = previous.get(inp.relpath)
            if is_finished(prev, fingerprint=fp, settings=settings, outputs=outputs, out=self.out):
                skipped.append(BatchRecord(inp.source, inp.relpath, SKIPPED, self.cfg.task, frames=prev.frames,
                                           outputs=prev.outputs, fingerprint=fp, settings=settings, run=self.run_id))
                continue
            todo.append(_Pending(i, inp, outputs, fp, 0.0))
        return todo, skipped

    # -- records -----------------------------------------------------------------------------------------

    def commit(self, p: _Pending) -> BatchRecord:
        """Move a finished input's outputs into place, then write its ok record."""
        for name in p.outputs:
            staged = p.staged[name]
            target = self.out / name
            if isinstance(staged, bytes):
                write_atomic(target, staged)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
        return self.record(p, OK)

    def record(self, p: _Pending, status: str, error: str | None = None) -> BatchRecord:
        """Write ``p``'s record (a failed one deletes its staged files) and report it."""
        for staged in p.staged.values():
            if isinstance(staged, str) and status != OK:
                Path(staged).unlink(missing_ok=True)
        rec = BatchRecord(p.inp.source, p.inp.relpath, status, self.cfg.task, error=error,
                          frames=p.frames if status == OK else 0, seconds=time.perf_counter() - p.started,
                          outputs=p.outputs if status == OK else (), fingerprint=p.fingerprint,
                          settings=self._settings, run=self.run_id)
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
            self._open_bars(len(todo))
            try:
                if self.cfg.executor == "ray":
                    done = RayExecutor(self).run(todo)
                else:
                    done = LocalExecutor(self).run(todo)
            finally:
                for bar in self._bars:
                    bar.close()
                self._bars = []
                shutil.rmtree(self.staging, ignore_errors=True)
                with contextlib.suppress(OSError):
                    (self.out / STAGING_DIR).rmdir()  # only when empty: another run may be using it
            records.update(done)
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


def run_batch(inputs: Sequence[str | Path], config: BatchConfig, *, progress: bool = False,
              on_record: Callable[[BatchRecord], None] | None = None, classifier=None) -> BatchSummary:
    """Run ``config.task`` on every video under ``inputs`` (folders and/or files), writing outputs and
    ``manifest.jsonl`` under ``config.out``. See :mod:`vidgru.batch` for the rules.

    Example::

        summary = run_batch(["videos/"], BatchConfig(task="classify", out="results"))
        print(summary.count("ok"), summary.count("failed"))
    """
    runner = BatchRunner(config, progress=progress, on_record=on_record, classifier=classifier)
    return runner.run(find_batch_inputs(inputs))
