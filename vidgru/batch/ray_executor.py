"""The Ray executor: the batch's jobs spread over a Ray cluster (``executor="ray"``).

Decoding (classify) or whole track jobs run as Ray tasks (1 CPU each, not retried); the classifier lives in a
Ray actor (``num_gpus=1`` when the cluster has GPUs). Job files come back to the driver as bytes, and the
executor yields each item's outcome (:mod:`vidgru.batch.work`); the runner writes outputs and the manifest,
with the same rules as for the local executor. ``file_timeout_s`` is not supported here
(:class:`~vidgru.settings.BatchSettings` refuses it with ``executor="ray"``). Ray is imported only when a batch
runs on it.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.batch.jobs import (
    CRASH_HOOK_ENV,
    HANG_HOOK_ENV,
    DecodeEnd,
    DecodeSpec,
    build_classifier,
    decode_spec_for,
    decode_whole,
    default_workers,
    describe_error,
    result_json_bytes,
    run_annotate_job,
    run_track_job,
)
from vidgru.batch.work import ItemDone, ItemFailed, Outcome, WorkItem
from vidgru.errors import ConfigError
from vidgru.settings import BatchSettings, TrackSettings


@dataclass(frozen=True)
class _DecodedVideo:
    """A video decoded for classification (a Ray task's result, the classifier actor's input):
    ``timestamps_s`` (N,) seconds, ``crops`` (N, s, s, 3) uint8 RGB, ``flow`` (N, k) global-motion rows or
    None, and the end of decoding."""

    timestamps_s: np.ndarray
    crops: np.ndarray
    flow: np.ndarray | None
    end: DecodeEnd


@dataclass(frozen=True)
class _JobFiles:
    """A finished job's files as they come back to the driver: ``files`` by kind, as bytes."""

    frames: int
    files: dict[str, bytes]


class RayExecutor:
    """The same jobs on a Ray cluster: decoding (classify) or whole track jobs as tasks, the classifier in an
    actor (``num_gpus=1`` when the cluster has GPUs). Inputs must be readable at the same path on every node
    (shared storage); outputs only need the driver's disk.

    Args:
        config: the batch settings (task, workers, ``ray_address``, device, ``fps``, ``out_video``; the
            classifier is built from them in the actor).
        track_config: track: the settings of every track job.
    """

    def __init__(self, config: BatchSettings, *, track_config: TrackSettings | None = None) -> None:
        self.cfg = config
        self.track_config = track_config

    def _init(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("executor ray needs Ray: pip install 'vidgru[ray]'") from None
        if not ray.is_initialized():
            address = self.cfg.ray_address
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                workers = self.cfg.workers or default_workers(self.cfg.task)
                ray.init(num_cpus=max(2, workers + 1), include_dashboard=False, log_to_driver=False)
        return ray

    def run(self, items: Sequence[WorkItem], *, on_frames: Callable[[int], None]) -> Iterator[Outcome]:
        """Run ``items`` on the cluster, yielding each one's outcome as it ends (see
        :class:`~vidgru.batch.work.Executor`)."""
        ray = self._init()
        cfg = self.cfg
        in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
        env = {k: os.environ[k] for k in (CRASH_HOOK_ENV, HANG_HOOK_ENV) if k in os.environ}
        options = {"max_retries": 0, "runtime_env": {"env_vars": env}} if env else {"max_retries": 0}
        if cfg.task == "classify":
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
            actor_cls = ray.remote(num_gpus=gpus, num_cpus=1)(_ClassifierActor)
            device = cfg.device if not gpus else "cuda"
            classify = dataclasses.replace(cfg.classify, device=device)
            actor = actor_cls.remote(dataclasses.replace(cfg, classify=classify))
            spec = ray.get(actor.decode_spec.remote())
            decode = ray.remote(num_cpus=1)(_ray_decode).options(**options)

            def submit(item: WorkItem):
                return actor.classify.remote(item.inp.source, decode.remote(item.inp.source, spec))
        else:
            track_cfg = self.track_config
            task = ray.remote(num_cpus=1)(_ray_track).options(**options)

            def submit(item: WorkItem):
                return task.remote(item.inp.source, track_cfg, cfg.out_video)
        queue = deque(items)
        refs: dict[Any, WorkItem] = {}  # Ray object ref -> its item
        started: dict[int, float] = {}  # item index -> time.perf_counter() at dispatch
        while queue or refs:
            while queue and len(refs) < in_flight:
                item = queue.popleft()
                started[item.index] = time.perf_counter()
                refs[submit(item)] = item
            ready, _ = ray.wait(list(refs), num_returns=1)
            item = refs.pop(ready[0])
            try:
                done: _JobFiles = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                yield ItemFailed(item, _ray_reason(exc), started.pop(item.index))
                continue
            on_frames(done.frames)
            yield ItemDone(item, done.frames, dict(done.files), started.pop(item.index))


def _ray_reason(exc: BaseException) -> str:
    """One line for a failed Ray task: the input's own error, or what happened to the worker process."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "ActorUnavailable" in name:
        return f"worker process crashed while reading the file (Ray: {name})"
    return describe_error(exc)


def _ray_decode(source: str, spec: DecodeSpec) -> _DecodedVideo:
    return _DecodedVideo(*decode_whole(source, spec))


def _ray_track(source: str, cfg: TrackSettings, out_video: bool) -> _JobFiles:
    with tempfile.TemporaryDirectory(prefix="vidgru-batch-") as tmp:
        done = run_track_job(source, cfg, Path(tmp) / "job", out_video=out_video)
        return _JobFiles(done.frames, {k: Path(v).read_bytes() for k, v in done.files.items()})


class _ClassifierActor:
    """The clip classifier held by a Ray actor: decoded videos in, result JSON (and annotated video) out."""

    def __init__(self, cfg: BatchSettings) -> None:
        self.cfg = cfg
        self._classifier = None

    def _clf(self):
        if self._classifier is None:
            self._classifier = build_classifier(self.cfg.classify)
        return self._classifier

    def decode_spec(self) -> DecodeSpec:
        return decode_spec_for(self._clf(), self.cfg.fps)

    def classify(self, source: str, decoded: _DecodedVideo) -> _JobFiles:
        from vidgru.classify import EmbeddedVideo

        clf = self._clf()
        end = decoded.end
        emb = clf.embedder.embed_mixed([(decoded.crops, clf.embedder.new_stream(), decoded.flow)])[0]
        result = clf.classify_embedded(EmbeddedVideo(source, end.info, decoded.timestamps_s, emb, end.duration_s))
        d = result.to_dict()
        files = {"json": result_json_bytes(d)}
        if self.cfg.out_video:
            with tempfile.TemporaryDirectory(prefix="vidgru-batch-") as tmp:
                target = Path(tmp) / "annotated.mp4"
                run_annotate_job(source, d["segments"], d["duration_s"], self.cfg.fps, target, d.get("shots"))
                files["annotated.mp4"] = target.read_bytes()
        return _JobFiles(end.frames, files)
