"""The Ray executor: the batch's jobs spread over a Ray cluster (``executor="ray"``).

Decoding (classify) or whole track jobs run as Ray tasks (1 CPU each, not retried); the classifier lives in a
Ray actor (``num_gpus=1`` when the cluster has GPUs). The driver writes outputs and the manifest through the
:class:`~vidgru.batch.runner.BatchRunner`, with the same rules as the local executor. ``file_timeout_s`` is
not supported here (:class:`~vidgru.config.BatchConfig` refuses it with ``executor="ray"``). Ray is imported
only when a batch runs on it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidgru.batch.jobs import (
    CRASH_HOOK_ENV,
    HANG_HOOK_ENV,
    DecodeSpec,
    build_classifier,
    decode_spec_for,
    decode_whole,
    default_workers,
    describe_error,
    match_outputs,
    run_annotate_job,
    run_track_job,
)
from vidgru.batch.manifest import FAILED, BatchRecord
from vidgru.config import BatchConfig, TrackConfig
from vidgru.errors import ConfigError

if TYPE_CHECKING:
    from vidgru.batch.runner import BatchRunner, _Pending


class RayExecutor:
    """The same jobs on a Ray cluster: decoding (classify) or whole track jobs as tasks, the classifier in an
    actor (``num_gpus=1`` when the cluster has GPUs). The driver writes outputs and the manifest, so inputs
    must be readable at the same path on every node (shared storage); outputs only need the driver's disk."""

    def __init__(self, runner: BatchRunner) -> None:
        self.runner = runner

    def _init(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("executor ray needs Ray: pip install 'vidgru[ray]'") from None
        if not ray.is_initialized():
            address = self.runner.cfg.ray_address
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                workers = self.runner.cfg.workers or default_workers(self.runner.cfg.task)
                ray.init(num_cpus=max(2, workers + 1), include_dashboard=False, log_to_driver=False)
        return ray

    def run(self, todo: list[_Pending]) -> dict[int, BatchRecord]:
        """Process ``todo`` on the cluster; returns each input's record, keyed by its index."""
        ray = self._init()
        cfg = self.runner.cfg
        records: dict[int, BatchRecord] = {}
        in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
        env = {k: os.environ[k] for k in (CRASH_HOOK_ENV, HANG_HOOK_ENV) if k in os.environ}
        options = {"max_retries": 0, "runtime_env": {"env_vars": env}} if env else {"max_retries": 0}
        if cfg.task == "classify":
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
            actor_cls = ray.remote(num_gpus=gpus, num_cpus=1)(_ClassifierActor)
            device = cfg.device if not gpus else "cuda"
            actor = actor_cls.remote(dataclasses.replace(cfg, device=device))
            spec = ray.get(actor.decode_spec.remote())
            decode = ray.remote(num_cpus=1)(_ray_decode).options(**options)
            submit = lambda p: actor.classify.remote(p.inp.source, decode.remote(p.inp.source, spec))  # noqa: E731
        else:
            track_cfg = self.runner.track_config()
            task = ray.remote(num_cpus=1)(_ray_track).options(**options)
            submit = lambda p: task.remote(p.inp.source, track_cfg, cfg.out_video)  # noqa: E731
        queue = deque(todo)
        refs: dict[Any, _Pending] = {}
        while queue or refs:
            while queue and len(refs) < in_flight:
                p = queue.popleft()
                p.started = time.perf_counter()
                refs[submit(p)] = p
            ready, _ = ray.wait(list(refs), num_returns=1)
            p = refs.pop(ready[0])
            try:
                frames, files = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                records[p.index] = self.runner.record(p, FAILED, _ray_reason(exc))
                continue
            p.frames = frames
            self.runner.frames_done(frames)
            p.staged.update(match_outputs(p.outputs, files))
            missing = [n for n in p.outputs if n not in p.staged]
            if missing:
                records[p.index] = self.runner.record(p, FAILED, f"no {', '.join(missing)} was produced")
                continue
            records[p.index] = self.runner.commit(p)
        return records


def _ray_reason(exc: BaseException) -> str:
    """One line for a failed Ray task: the input's own error, or what happened to the worker process."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "ActorUnavailable" in name:
        return f"worker process crashed while reading the file (Ray: {name})"
    return describe_error(exc)


def _ray_decode(source: str, spec: DecodeSpec):
    return decode_whole(source, spec)


def _ray_track(source: str, cfg: TrackConfig, out_video: bool) -> tuple[int, dict[str, bytes]]:
    with tempfile.TemporaryDirectory(prefix="vidgru-batch-") as tmp:
        done = run_track_job(source, cfg, Path(tmp) / "job", out_video=out_video)
        return done.frames, {k: Path(v).read_bytes() for k, v in done.files.items()}


class _ClassifierActor:
    """The clip classifier held by a Ray actor: decoded videos in, result JSON (and annotated video) out."""

    def __init__(self, cfg: BatchConfig) -> None:
        self.cfg = cfg
        self._classifier = None

    def _clf(self):
        if self._classifier is None:
            self._classifier = build_classifier(self.cfg)
        return self._classifier

    def decode_spec(self) -> DecodeSpec:
        return decode_spec_for(self._clf(), self.cfg.fps)

    def classify(self, source: str, decoded) -> tuple[int, dict[str, bytes]]:
        from vidgru.classify import EmbeddedVideo

        stamps, crops, flow, end = decoded
        clf = self._clf()
        emb = clf.embedder.embed_mixed([(crops, clf.embedder.new_stream(), flow)])[0]
        result = clf.classify_embedded(EmbeddedVideo(source, end.info, stamps, emb, end.duration_s))
        d = result.to_dict()
        files = {"json": (json.dumps(d, indent=1) + "\n").encode()}
        if self.cfg.out_video:
            with tempfile.TemporaryDirectory(prefix="vidgru-batch-") as tmp:
                target = Path(tmp) / "annotated.mp4"
                run_annotate_job(source, d["segments"], d["duration_s"], self.cfg.fps, target)
                files["annotated.mp4"] = target.read_bytes()
        return end.frames, files
