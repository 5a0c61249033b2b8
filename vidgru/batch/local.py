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
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidgru.batch.jobs import (
    DecodedChunk,
    DecodeEnd,
    JobDone,
    JobFailed,
    TrackResources,
    decode_chunks,
    decode_spec_for,
    default_workers,
    describe_error,
    match_outputs,
    run_annotate_job,
    run_track_job,
)
from vidgru.batch.manifest import FAILED, BatchRecord
from vidgru.errors import VidgruError

if TYPE_CHECKING:
    from vidgru.batch.runner import BatchRunner, _Pending


# ---------------------------------------------------------------------------------------- worker process


@dataclass(frozen=True)
class _Job:
    """A message to a worker: what to do with one input."""

    job: int
    kind: str  # decode, track, annotate
    source: str
    args: dict[str, Any]


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
            if job.kind == "decode":
                for item in decode_chunks(job.job, job.source, job.args["spec"]):
                    conn.send(item)
                continue
            if job.kind == "track":
                import torch

                torch.set_num_threads(job.args["threads"])
                done = run_track_job(job.source, job.args["config"], Path(job.args["workdir"]),
                                     out_video=job.args["out_video"], resources=resources)
            else:
                done = run_annotate_job(job.source, job.args["segments"], job.args["duration_s"], job.args["fps"],
                                        Path(job.args["target"]))
            conn.send(dataclasses.replace(done, job=job.job))
        except Exception as exc:  # noqa: BLE001 - any failure of one input is that input's record
            conn.send(JobFailed(job.job, describe_error(exc)))


class _WorkerPool:
    """N spawned worker processes, each with its own pipe (a crash corrupts nothing shared). A worker that
    dies is reported with the job it held and replaced. With ``file_timeout_s``, a worker that holds one job
    longer than that (a hung decoder, a stalled network file) is killed, and reported and replaced the same
    way."""

    def __init__(self, size: int, *, file_timeout_s: float | None = None) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self._file_timeout_s = file_timeout_s
        self._slots: list[dict[str, Any]] = [self._start() for _ in range(size)]
        self._idle_deaths = 0  # workers that died holding no job: a broken environment, not a bad input

    def _start(self) -> dict[str, Any]:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child,), daemon=True, name="vidgru-batch-worker")
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "job": None, "started": 0.0, "overdue": False}

    @property
    def idle(self) -> int:
        return sum(s["job"] is None for s in self._slots)

    @property
    def busy(self) -> int:
        return len(self._slots) - self.idle

    def submit(self, job: _Job) -> None:
        slot = next(s for s in self._slots if s["job"] is None)
        slot["job"] = job.job
        slot["started"] = time.monotonic()
        slot["conn"].send(job)

    def release(self, job: int) -> None:
        for s in self._slots:
            if s["job"] == job:
                s["job"] = None

    def _kill_overdue(self) -> None:
        """Kill the workers that have held their job longer than the time limit; :meth:`poll` sees them die."""
        if self._file_timeout_s is None:
            return
        now = time.monotonic()
        for s in self._slots:
            if s["job"] is not None and not s["overdue"] and now - s["started"] > self._file_timeout_s:
                s["overdue"] = True
                s["proc"].kill()

    def poll(self, timeout: float) -> tuple[list[Any], list[tuple[int, str]]]:
        """Messages that arrived (at most a few per worker) and ``(job, why)`` for workers that died or were
        killed for running past the time limit."""
        from multiprocessing.connection import wait

        self._kill_overdue()
        waitables = [s["conn"] for s in self._slots] + [s["proc"].sentinel for s in self._slots]
        ready = set(wait(waitables, timeout=timeout))
        messages, crashed = [], []
        for i, slot in enumerate(self._slots):
            conn, proc = slot["conn"], slot["proc"]
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
                if slot["job"] is not None and slot["overdue"]:
                    crashed.append((slot["job"], f"exceeded the time limit of {self._file_timeout_s:g} s per file "
                                                 "(--file-timeout-s); its worker process was killed"))
                elif slot["job"] is not None:
                    crashed.append((slot["job"], f"worker process crashed ({_exit_reason(proc.exitcode)}) "
                                                 "while reading the file"))
                else:
                    self._idle_deaths += 1
                    if self._idle_deaths > 2 * len(self._slots):
                        raise VidgruError(f"batch worker processes keep exiting before any work "
                                          f"({_exit_reason(proc.exitcode)}); run with -vv to see why")
                conn.close()
                self._slots[i] = self._start()
        return messages, crashed

    def close(self, *, kill: bool = False) -> None:
        for s in self._slots:
            try:
                if not kill:
                    s["conn"].send(None)
            except (OSError, ValueError):
                pass
        for s in self._slots:
            s["proc"].join(timeout=0.2 if kill else 5)
            if s["proc"].is_alive():
                s["proc"].kill()
                s["proc"].join(timeout=5)
            s["conn"].close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ---------------------------------------------------------------------------------------- the executor


class LocalExecutor:
    """Runs a batch's pending inputs on a :class:`_WorkerPool` (see the module docstring); outputs and
    records go through the :class:`~vidgru.batch.runner.BatchRunner`."""

    def __init__(self, runner: BatchRunner) -> None:
        self.runner = runner
        self.cfg = runner.cfg

    def run(self, todo: list[_Pending]) -> dict[int, BatchRecord]:
        """Process ``todo``; returns each input's record, keyed by its index."""
        workers = self.cfg.workers or default_workers(self.cfg.task)
        workers = min(workers, len(todo))
        clf = self.runner.classifier() if self.cfg.task == "classify" else None
        track_cfg = self.runner.track_config() if self.cfg.task == "track" else None
        threads = max(1, (os.cpu_count() or 1) // workers)
        queue: deque[tuple[str, _Pending]] = deque(("start", p) for p in todo)
        active: dict[int, _Pending] = {}
        records: dict[int, BatchRecord] = {}
        buffer: list[DecodedChunk] = []
        pool = _WorkerPool(workers, file_timeout_s=self.cfg.file_timeout_s)
        clean = False
        try:
            while queue or active:
                while queue and pool.idle:
                    kind, p = queue.popleft()
                    active[p.index] = p
                    if kind == "annotate":
                        target = self.runner.staging / f"{p.index}" / "annotated.mp4"
                        target.parent.mkdir(parents=True, exist_ok=True)
                        result = json.loads(p.staged[p.outputs[0]])
                        pool.submit(_Job(p.index, "annotate", p.inp.source, {
                            "segments": result["segments"], "duration_s": result["duration_s"],
                            "fps": self.cfg.fps, "target": str(target)}))
                        continue
                    p.started = time.perf_counter()
                    if clf is not None:
                        p.stream = clf.embedder.new_stream()
                        spec = decode_spec_for(clf, self.cfg.fps)
                        pool.submit(_Job(p.index, "decode", p.inp.source, {"spec": spec}))
                    else:
                        workdir = self.runner.staging / f"{p.index}"
                        pool.submit(_Job(p.index, "track", p.inp.source, {
                            "config": track_cfg, "workdir": str(workdir), "out_video": self.cfg.out_video,
                            "threads": threads}))
                buffered = sum(len(c.crops) for c in buffer)
                messages, crashed = pool.poll(timeout=0.0 if buffered else 0.5)
                for msg in messages:
                    p = active.get(msg.job)
                    if p is None:
                        continue  # a late message of an input that already failed
                    if isinstance(msg, DecodedChunk):
                        buffer.append(msg)
                    elif isinstance(msg, DecodeEnd):
                        p.end = msg
                        pool.release(msg.job)
                    elif isinstance(msg, JobDone):
                        pool.release(msg.job)
                        self._finish_worker_job(p, msg, records, active)
                    elif isinstance(msg, JobFailed):
                        pool.release(msg.job)
                        buffer = [c for c in buffer if c.job != msg.job]
                        records[p.index] = self.runner.record(active.pop(p.index), FAILED, msg.error)
                for job, why in crashed:
                    if job in active:
                        buffer = [c for c in buffer if c.job != job]
                        records[job] = self.runner.record(active.pop(job), FAILED, why)
                buffered = sum(len(c.crops) for c in buffer)
                if clf is not None and buffer and (buffered >= clf.embedder.batch_size or not messages):
                    self._embed_buffer(clf, buffer, active)
                    buffer = []
                if clf is not None:
                    waiting = {c.job for c in buffer}
                    for p in [p for p in active.values() if p.end is not None and p.index not in waiting]:
                        self._finish_classify(clf, p, records, active, queue)
            clean = True
        finally:
            pool.close(kill=not clean)
        return records

    def _embed_buffer(self, clf, buffer: list[DecodedChunk], active: dict[int, _Pending]) -> None:
        """One mixed batch: chunks of several videos through the backbone together, each video's motion
        stream fed its own rows in order."""
        parts = [(c.crops, active[c.job].stream, c.flow) for c in buffer]
        embedded = clf.embedder.embed_mixed(parts)
        for chunk, emb in zip(buffer, embedded):
            p = active[chunk.job]
            p.stamps.append(chunk.timestamps_s)
            p.embeddings.append(emb)
        self.runner.frames_done(sum(len(c.crops) for c in buffer))

    def _finish_classify(self, clf, p: _Pending, records: dict[int, BatchRecord], active: dict[int, _Pending],
                         queue: deque) -> None:
        from vidgru.classify import EmbeddedVideo

        del active[p.index]
        end = p.end
        stamps = np.concatenate(p.stamps) if p.stamps else np.zeros(0)
        emb = np.concatenate(p.embeddings) if p.embeddings else np.zeros((0, clf.embedder.embed_dim), np.float32)
        p.stamps, p.embeddings = [], []
        try:
            result = clf.classify_embedded(EmbeddedVideo(p.inp.source, end.info, stamps, emb, end.duration_s))
        except VidgruError as exc:
            records[p.index] = self.runner.record(p, FAILED, describe_error(exc))
            return
        p.frames = end.frames
        p.staged[p.outputs[0]] = (json.dumps(result.to_dict(), indent=1) + "\n").encode()
        if self.cfg.out_video:
            queue.appendleft(("annotate", p))  # drawn by a worker; the record waits for it
            return
        records[p.index] = self.runner.commit(p)

    def _finish_worker_job(self, p: _Pending, done: JobDone, records: dict[int, BatchRecord],
                           active: dict[int, _Pending]) -> None:
        del active[p.index]
        p.staged.update(match_outputs(p.outputs, done.files))
        if self.cfg.task == "track":
            p.frames = done.frames
            self.runner.frames_done(done.frames)
        missing = [n for n in p.outputs if n not in p.staged]
        if missing:
            records[p.index] = self.runner.record(p, FAILED, f"internal error: no {', '.join(missing)} was produced")
            return
        records[p.index] = self.runner.commit(p)
