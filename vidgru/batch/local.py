"""The local executor: a pool of worker processes on this machine, with crash isolation and a time limit.

Worker processes (``spawn``) run the jobs of :mod:`vidgru.batch.jobs`, each with its own pipe to the main
process. A worker crash (a segfault in a decoder) fails that one input, and a fresh worker takes its place;
with ``file_timeout_s``, a worker that holds one input longer than that is killed and handled the same way.

- classify: workers decode and send ``(video, timestamps, crops)`` chunks (plus the crops' global-motion
  descriptors when the model uses them: they need no backbone); the main process holds ONE
  classifier and embeds chunks of several videos together
  (:meth:`~vidgru.backbone.TorchEmbedder.embed_mixed`, one motion stream per video, fed in frame order), then
  runs the clip GRU on a video when its last chunk is in (and, with ``out_video``, hands the drawing back to
  a worker);
- track: the whole per-video job runs in a worker.

The executor yields each item's outcome (:mod:`vidgru.batch.work`); it writes no output and no record.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidgru.batch.jobs import (
    DecodedChunk,
    DecodeEnd,
    DecodeSpec,
    JobDone,
    JobFailed,
    TrackResources,
    decode_chunks,
    decode_spec_for,
    default_workers,
    describe_error,
    result_json_bytes,
    run_annotate_job,
    run_track_job,
)
from vidgru.batch.work import ItemDone, ItemFailed, Outcome, WorkItem
from vidgru.errors import VidgruError

if TYPE_CHECKING:
    from vidgru.settings import BatchSettings, TrackSettings


# ---------------------------------------------------------------------------------------- worker process


@dataclass(frozen=True)
class _DecodeJob:
    """Decode ``source`` for classification; the worker answers with chunks, then a DecodeEnd."""

    job: int
    source: str
    spec: DecodeSpec


@dataclass(frozen=True)
class _TrackJob:
    """Track ``source`` into ``workdir``; the worker answers with a JobDone."""

    job: int
    source: str
    config: TrackSettings
    workdir: str
    out_video: bool
    threads: int  # torch threads in the worker


@dataclass(frozen=True)
class _AnnotateJob:
    """Draw a classification's segments over ``source`` into ``target`` (mp4); the worker answers with a JobDone."""

    job: int
    source: str
    segments: list[dict[str, Any]]
    duration_s: float
    fps: float | None
    target: str
    shots: tuple[dict[str, Any], ...] = ()


_Job = _DecodeJob | _TrackJob | _AnnotateJob  # main process -> worker
_Message = DecodedChunk | DecodeEnd | JobDone | JobFailed  # worker -> main process


def _worker_main(conn) -> None:
    """A worker process: run jobs from ``conn`` until it sends None; every outcome goes back on ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides what Ctrl-C means
    import cv2

    cv2.setNumThreads(1)
    resources = TrackResources()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            if isinstance(job, _DecodeJob):
                for item in decode_chunks(job.job, job.source, job.spec):
                    conn.send(item)
                continue
            if isinstance(job, _TrackJob):
                import torch

                torch.set_num_threads(job.threads)
                done = run_track_job(job.source, job.config, Path(job.workdir), out_video=job.out_video,
                                     resources=resources)
            else:
                done = run_annotate_job(job.source, job.segments, job.duration_s, job.fps, Path(job.target),
                                        list(job.shots))
            conn.send(dataclasses.replace(done, job=job.job))
        except Exception as exc:  # noqa: BLE001 - any failure of one input is that input's record
            conn.send(JobFailed(job.job, describe_error(exc)))


@dataclass
class _WorkerSlot:
    """One worker process, the main process's end of its pipe, and the job it holds (None: idle)."""

    proc: Any  # multiprocessing Process (spawn context)
    conn: Any  # multiprocessing Connection
    job: int | None = None
    started: float = 0.0  # time.monotonic() when it took the job
    overdue: bool = False  # killed for holding its job past the time limit


class _WorkerPool:
    """N spawned worker processes, each with its own pipe (a crash corrupts nothing shared). A worker that
    dies is reported with the job it held and replaced. With ``file_timeout_s``, a worker that holds one job
    longer than that (a hung decoder, a stalled network file) is killed, and reported and replaced the same
    way."""

    def __init__(self, size: int, *, file_timeout_s: float | None = None) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self._file_timeout_s = file_timeout_s
        self._slots: list[_WorkerSlot] = [self._start() for _ in range(size)]
        self._idle_deaths = 0  # workers that died holding no job: a broken environment, not a bad input

    def _start(self) -> _WorkerSlot:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child,), daemon=True, name="vidgru-batch-worker")
        proc.start()
        child.close()
        return _WorkerSlot(proc, parent)

    @property
    def idle(self) -> int:
        return sum(s.job is None for s in self._slots)

    @property
    def busy(self) -> int:
        return len(self._slots) - self.idle

    def submit(self, job: _Job) -> None:
        slot = next(s for s in self._slots if s.job is None)
        slot.job = job.job
        slot.started = time.monotonic()
        slot.conn.send(job)

    def release(self, job: int) -> None:
        for s in self._slots:
            if s.job == job:
                s.job = None

    def _kill_overdue(self) -> None:
        """Kill the workers that have held their job longer than the time limit; :meth:`poll` sees them die."""
        if self._file_timeout_s is None:
            return
        now = time.monotonic()
        for s in self._slots:
            if s.job is not None and not s.overdue and now - s.started > self._file_timeout_s:
                s.overdue = True
                s.proc.kill()

    def poll(self, timeout: float) -> tuple[list[_Message], list[JobFailed]]:
        """Messages that arrived (at most a few per worker), and a :class:`JobFailed` for the job of each worker
        that died or was killed for running past the time limit."""
        from multiprocessing.connection import wait

        self._kill_overdue()
        waitables = [s.conn for s in self._slots] + [s.proc.sentinel for s in self._slots]
        ready = set(wait(waitables, timeout=timeout))
        messages: list[_Message] = []
        lost: list[JobFailed] = []
        for i, slot in enumerate(self._slots):
            conn, proc = slot.conn, slot.proc
            if conn in ready:
                try:
                    for _ in range(4):
                        if not conn.poll():
                            break
                        messages.append(conn.recv())
                except (EOFError, OSError):
                    pass
            if proc.sentinel in ready or not proc.is_alive():
                proc.join(timeout=1)
                try:
                    while conn.poll():  # what it sent before dying still counts
                        messages.append(conn.recv())
                except (EOFError, OSError):
                    pass
                if slot.job is not None and slot.overdue:
                    lost.append(JobFailed(slot.job, f"exceeded the time limit of {self._file_timeout_s:g} s per "
                                                    "file (--file-timeout-s); its worker process was killed"))
                elif slot.job is not None:
                    lost.append(JobFailed(slot.job, f"worker process crashed ({_exit_reason(proc.exitcode)}) "
                                                    "while reading the file"))
                else:
                    self._idle_deaths += 1
                    if self._idle_deaths > 2 * len(self._slots):
                        raise VidgruError(f"batch worker processes keep exiting before any work "
                                          f"({_exit_reason(proc.exitcode)}); run with -vv to see why")
                conn.close()
                self._slots[i] = self._start()
        return messages, lost

    def close(self, *, kill: bool = False) -> None:
        for s in self._slots:
            try:
                if not kill:
                    s.conn.send(None)
            except (OSError, ValueError):
                pass
        for s in self._slots:
            s.proc.join(timeout=0.2 if kill else 5)
            if s.proc.is_alive():
                s.proc.kill()
                s.proc.join(timeout=5)
            s.conn.close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ---------------------------------------------------------------------------------------- the executor


@dataclass
class _InFlight:
    """An item between its dispatch and its outcome: what the local executor has of it so far."""

    item: WorkItem
    started: float = 0.0  # time.perf_counter() at dispatch
    files: dict[str, bytes | str] = field(default_factory=dict)  # by kind: content, or a staged file's path
    frames: int = 0
    # classify: the item's motion stream in the shared embedder, its embedded chunks, and the end of decoding
    stream: Any = None
    stamps: list[np.ndarray] = field(default_factory=list)  # (n,) seconds per chunk
    embeddings: list[np.ndarray] = field(default_factory=list)  # (n, D) per chunk
    end: DecodeEnd | None = None
    result: dict[str, Any] | None = None  # classify with out_video: the classification, waiting for its drawing


class LocalExecutor:
    """Runs work items on a :class:`_WorkerPool` (see the module docstring) and yields their outcomes.

    Args:
        config: the batch settings (workers, task, ``file_timeout_s``, ``fps``, ``out_video``).
        staging: a folder for this run's worker outputs (the caller removes it).
        classifier: classify: the one :class:`~vidgru.classify.ClipClassifier` (main process).
        track_config: track: the settings of every track job.
    """

    def __init__(self, config: BatchSettings, *, staging: Path, classifier=None,
                 track_config: TrackSettings | None = None) -> None:
        self.cfg = config
        self.staging = Path(staging)
        self.classifier = classifier
        self.track_config = track_config

    def run(self, items: Sequence[WorkItem], *, on_frames: Callable[[int], None]) -> Iterator[Outcome]:
        """Run ``items``, yielding each one's outcome as it ends (see :class:`~vidgru.batch.work.Executor`)."""
        workers = self.cfg.workers or default_workers(self.cfg.task)
        workers = min(workers, len(items))
        clf = self.classifier if self.cfg.task == "classify" else None
        threads = max(1, (os.cpu_count() or 1) // workers)
        queue: deque[_InFlight] = deque(_InFlight(item) for item in items)
        active: dict[int, _InFlight] = {}
        buffer: list[DecodedChunk] = []
        pool = _WorkerPool(workers, file_timeout_s=self.cfg.file_timeout_s)
        clean = False
        try:
            while queue or active:
                while queue and pool.idle:
                    w = queue.popleft()
                    active[w.item.index] = w
                    pool.submit(self._job_for(w, clf, threads))
                buffered = sum(len(c.crops) for c in buffer)
                messages, lost = pool.poll(timeout=0.0 if buffered else 0.5)
                for msg in messages:
                    w = active.get(msg.job)
                    if w is None:
                        continue  # a late message of an input that already failed
                    if isinstance(msg, DecodedChunk):
                        buffer.append(msg)
                    elif isinstance(msg, DecodeEnd):
                        w.end = msg
                        pool.release(msg.job)
                    elif isinstance(msg, JobDone):
                        pool.release(msg.job)
                        del active[msg.job]
                        w.files.update(msg.files)
                        if self.cfg.task == "track":
                            w.frames = msg.frames
                            on_frames(msg.frames)
                        yield ItemDone(w.item, w.frames, w.files, w.started)
                    elif isinstance(msg, JobFailed):
                        pool.release(msg.job)
                        buffer = [c for c in buffer if c.job != msg.job]
                        del active[msg.job]
                        yield ItemFailed(w.item, msg.error, w.started)
                for failed in lost:
                    if failed.job in active:
                        buffer = [c for c in buffer if c.job != failed.job]
                        w = active.pop(failed.job)
                        yield ItemFailed(w.item, failed.error, w.started)
                buffered = sum(len(c.crops) for c in buffer)
                if clf is not None and buffer and (buffered >= clf.embedder.batch_size or not messages):
                    self._embed_buffer(clf, buffer, active, on_frames)
                    buffer = []
                if clf is not None:
                    waiting = {c.job for c in buffer}
                    for w in [w for w in active.values() if w.end is not None and w.item.index not in waiting]:
                        del active[w.item.index]
                        outcome = self._classify(clf, w)
                        if outcome is None:
                            queue.appendleft(w)  # drawn by a worker; the outcome waits for it
                        else:
                            yield outcome
            clean = True
        finally:
            pool.close(kill=not clean)

    def _job_for(self, w: _InFlight, clf, threads: int) -> _Job:
        """The worker job that moves ``w`` on: its drawing once classified (with ``out_video``), else its
        decoding (classify) or its whole track job."""
        index, source = w.item.index, w.item.inp.source
        if w.result is not None:
            target = self.staging / f"{index}" / "annotated.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            return _AnnotateJob(index, source, w.result["segments"], w.result["duration_s"], self.cfg.fps,
                                str(target), tuple(w.result.get("shots", ())))
        w.started = time.perf_counter()
        if clf is not None:
            w.stream = clf.embedder.new_stream()
            return _DecodeJob(index, source, decode_spec_for(clf, self.cfg.fps))
        return _TrackJob(index, source, self.track_config, str(self.staging / f"{index}"), self.cfg.out_video,
                         threads)

    def _embed_buffer(self, clf, buffer: list[DecodedChunk], active: dict[int, _InFlight],
                      on_frames: Callable[[int], None]) -> None:
        """One mixed batch: chunks of several videos through the backbone together, each video's motion
        stream fed its own rows in order."""
        parts = [(c.crops, active[c.job].stream, c.flow) for c in buffer]
        embedded = clf.embedder.embed_mixed(parts)
        for chunk, emb in zip(buffer, embedded):
            w = active[chunk.job]
            w.stamps.append(chunk.timestamps_s)
            w.embeddings.append(emb)
        on_frames(sum(len(c.crops) for c in buffer))

    def _classify(self, clf, w: _InFlight) -> Outcome | None:
        """Run the clip GRU on a decoded, embedded video: its outcome, or None when its drawing comes next."""
        from vidgru.classify import EmbeddedVideo

        end = w.end
        stamps = np.concatenate(w.stamps) if w.stamps else np.zeros(0)
        emb = np.concatenate(w.embeddings) if w.embeddings else np.zeros((0, clf.embedder.embed_dim), np.float32)
        w.stamps, w.embeddings = [], []
        try:
            result = clf.classify_embedded(EmbeddedVideo(w.item.inp.source, end.info, stamps, emb, end.duration_s))
        except VidgruError as exc:
            return ItemFailed(w.item, describe_error(exc), w.started)
        w.frames = end.frames
        d = result.to_dict()
        w.files["json"] = result_json_bytes(d)
        if self.cfg.out_video:
            w.result = d
            return None
        return ItemDone(w.item, w.frames, w.files, w.started)
