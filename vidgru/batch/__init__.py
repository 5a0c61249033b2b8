"""Many videos -> per-video results: a manifest, resume, fault isolation; a local process pool or Ray.

One job per input video, a pure function of (input, task settings) -> output files + one manifest record.
Outputs mirror the input tree under the output folder (``a/b/c.mp4`` -> ``a/b/c.json`` for ``classify``,
``a/b/c.mot.txt`` + ``a/b/c.jsonl`` for ``track``, ``a/b/c.annotated.mp4`` with ``out_video``). Every output
is written under a temporary name and renamed when complete; only then is the input's record appended to
``manifest.jsonl`` (flushed and fsync'ed), so a killed run never leaves a file that a later run trusts.

Resume: an input is skipped when its latest record is ``ok`` (or ``skipped``), its fingerprint (size + mtime,
or the content's sha256) and the task-settings fingerprint match, and every output it lists still has the size
and sha256 recorded when it was committed. Failed inputs are retried; ``force`` redoes everything.

Local executor (:func:`run_batch` with ``executor="local"``): worker processes (``spawn``) decode; a worker
crash (a segfault in a decoder) fails that one input, and a fresh worker takes its place. With
``file_timeout_s``, a worker that spends longer than that on one input is killed the same way.

- classify: workers sample each video at the model's ``sample_fps``, centre-crop the frames with the
  backbone's :class:`~vidgru.backbone.Preprocess` and send ``(video, timestamps, crops)`` chunks; the main
  process holds ONE classifier and embeds chunks of several videos together
  (:meth:`~vidgru.backbone.TorchEmbedder.embed_mixed`, one motion stream per video, fed in frame order), then
  runs the clip GRU on a video when its last chunk is in.
- track: the whole per-video job runs in a worker (detector and appearance embedder built once per worker).

Ray executor (``executor="ray"``): decoding (classify) or whole track jobs run as Ray tasks; the classifier
lives in a Ray actor (``num_gpus=1`` when the cluster has GPUs). The driver writes outputs and the manifest,
with the same rules.

Executors run work and yield outcomes; the runner alone moves outputs into place and writes the manifest.
The modules, in the order data flows:

- :mod:`~vidgru.batch.jobs`: inputs, output names, and the per-video jobs that run in workers;
- :mod:`~vidgru.batch.manifest`: records, fingerprints, the settings hash, the resume rule, atomic writes;
- :mod:`~vidgru.batch.work`: the join of runner and executors: work items, their outcomes, the
  :class:`~vidgru.batch.work.Executor` protocol;
- :mod:`~vidgru.batch.local`: the worker pool (crash isolation, time limit) and the local executor;
- :mod:`~vidgru.batch.ray_executor`: the Ray executor;
- :mod:`~vidgru.batch.runner`: :class:`BatchRunner` (plan, pick an executor, commit outputs and records) and
  :func:`run_batch`.
"""

from __future__ import annotations

from vidgru.batch.jobs import (
    CRASH_HOOK_ENV,
    HANG_HOOK_ENV,
    BatchInput,
    DecodeSpec,
    decode_spec_for,
    decode_whole,
    default_workers,
    find_batch_inputs,
    output_names,
)
from vidgru.batch.manifest import MANIFEST_NAME, BatchRecord, BatchSummary, Manifest
from vidgru.batch.runner import BatchRunner, run_batch

__all__ = [
    "CRASH_HOOK_ENV",
    "HANG_HOOK_ENV",
    "MANIFEST_NAME",
    "BatchInput",
    "BatchRecord",
    "BatchRunner",
    "BatchSummary",
    "DecodeSpec",
    "Manifest",
    "decode_spec_for",
    "decode_whole",
    "default_workers",
    "find_batch_inputs",
    "output_names",
    "run_batch",
]
