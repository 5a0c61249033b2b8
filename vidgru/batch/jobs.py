"""The batch's inputs and per-video jobs: finding inputs, naming outputs, and the job functions workers run.

One job per input video, a pure function of (input, task settings) -> output files. Outputs mirror the input
tree under the output folder (``a/b/c.mp4`` -> ``a/b/c.json`` for ``classify``, ``a/b/c.mot.txt`` +
``a/b/c.jsonl`` for ``track``, ``a/b/c.annotated.mp4`` with ``out_video``, ``a/b/c.events.jsonl`` +
``a/b/c.summary.json`` when the track task has lines, zones or an analytics file).

The jobs run in worker processes (:mod:`vidgru.batch.local`) or Ray tasks (:mod:`vidgru.batch.ray_executor`):

- classify: :func:`decode_chunks` samples a video at the model's ``sample_fps`` and centre-crops the frames
  with the backbone's :class:`~vidgru.backbone.Preprocess` (and computes their global-motion descriptors when
  the model uses them, :func:`decode_spec_for`); the classifier itself (:func:`build_classifier`)
  runs in the main process (or a Ray actor);
- track: :func:`run_track_job` runs the whole per-video job (detector and appearance embedder built once per
  worker and reused);
- :func:`run_annotate_job` draws a classification's labels into ``annotated.mp4``.

Test hooks: ``VIDGRU_BATCH_CRASH_ON=<text>`` makes a job ``os.abort()`` on inputs whose name contains
``<text>`` (a segfaulting decoder); ``VIDGRU_BATCH_HANG_ON=<text>`` makes it sleep forever (a hung decoder).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.errors import ConfigError, VidgruError
from vidgru.fileio import strict_json
from vidgru.settings import ClassifySettings, TrackSettings

STAGING_DIR = ".staging"  # under the output folder: track outputs wait here until they are complete
CHUNK_FRAMES = 16  # frames per message from a decode worker
CRASH_HOOK_ENV = "VIDGRU_BATCH_CRASH_ON"  # test hook: a worker aborts (os.abort) on inputs whose name contains it
HANG_HOOK_ENV = "VIDGRU_BATCH_HANG_ON"  # test hook: a worker sleeps forever on inputs whose name contains it


# ------------------------------------------------------------------------------------ inputs and outputs


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch: ``source`` (a path as found) and ``relpath``, its place under the input root
    (POSIX style), which its outputs mirror under the output folder."""

    source: str
    relpath: str


def find_batch_inputs(inputs: Sequence[str | Path]) -> list[BatchInput]:
    """Every video under the given folders (recursively) and the given files, with their relative paths.

    Raises:
        VideoOpenError: an input that does not exist or a folder without videos.
        ConfigError: two inputs that would write to the same outputs.
    """
    from vidgru.video import expand_inputs

    found: list[BatchInput] = []
    for item in inputs:
        root = Path(item)
        for source in expand_inputs([str(item)]):
            if root.is_dir():
                rel = Path(source).relative_to(root).as_posix()
                rel = root.resolve().name if rel == "." else rel
            else:
                rel = Path(source).name
            found.append(BatchInput(source, rel))
    seen: dict[str, str] = {}
    for inp in found:
        if inp.relpath in seen:
            raise ConfigError(f"{inp.source} and {seen[inp.relpath]} would both write {inp.relpath}'s outputs; "
                              "run them in separate batches")
        seen[inp.relpath] = inp.source
    return found


def output_names(relpath: str, task: str, *, out_video: bool, taken: set[str] | None = None,
                 analytics: bool = False) -> tuple[str, ...]:
    """Output paths (relative to the output folder) of one input: ``a/b/c.mp4`` -> ``a/b/c.json`` (classify)
    or ``a/b/c.mot.txt`` and ``a/b/c.jsonl`` (track), plus ``a/b/c.annotated.mp4`` with ``out_video`` and
    ``a/b/c.events.jsonl`` and ``a/b/c.summary.json`` with ``analytics`` (track only).
    When ``taken`` already holds the stem (``c.mp4`` next to ``c.avi``), the extension is kept: ``c.avi.json``."""
    stem = relpath.rsplit(".", 1)[0] if "." in relpath.rsplit("/", 1)[-1] else relpath
    if taken is not None:
        stem = relpath if stem in taken else stem
        taken.add(stem)
    names = [f"{stem}.json"] if task == "classify" else [f"{stem}.mot.txt", f"{stem}.jsonl"]
    if out_video:
        names.append(f"{stem}.annotated.mp4")
    if analytics and task == "track":
        names += [f"{stem}.events.jsonl", f"{stem}.summary.json"]
    return tuple(names)


def match_outputs(outputs: Sequence[str], files: dict[str, Any]) -> dict[str, Any]:
    """Job files keyed by kind (``json``, ``mot.txt``, ``jsonl``, ``annotated.mp4``, ``events.jsonl``,
    ``summary.json``) -> by output name (the longest kind a name ends with: ``c.events.jsonl`` is events)."""
    out = {}
    for name in outputs:
        kinds = [kind for kind in files if name.endswith("." + kind)]
        if kinds:
            out[name] = files[max(kinds, key=len)]
    return out


def result_json_bytes(result: dict[str, Any]) -> bytes:
    """A classification's record (``ClipResult.to_dict()``) as the bytes of its ``.json`` output."""
    return (strict_json(result, indent=1) + "\n").encode()


def default_workers(task: str) -> int:
    """Worker processes by default: all cores but one for classify (the main process runs the model), half
    the cores for track (each worker runs a detector with its own threads)."""
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if task == "classify" else max(1, cores // 2)


# --------------------------------------------------------------------------------------------- the jobs


@dataclass(frozen=True)
class DecodeSpec:
    """How a worker reads a video for classification: sampling (frames/s), an optional frame-rate override
    and the backbone's centre crop."""

    sample_fps: float
    fps: float | None
    preprocess: Any  # vidgru.backbone.Preprocess
    flow_gaps: tuple[int, ...] = ()  # the model's global-motion gaps: computed here, next to decoding


@dataclass(frozen=True)
class DecodedChunk:
    """Consecutive sampled frames of one video: ``timestamps_s`` (n,) seconds, ``crops`` (n, s, s, 3) uint8 RGB,
    and their global-motion rows (n, k) when the model uses them."""

    job: int
    timestamps_s: np.ndarray
    crops: np.ndarray
    flow: np.ndarray | None = None


@dataclass(frozen=True)
class DecodeEnd:
    """A video was read to the end: its info, the time it covers and the frames decoded (before sampling)."""

    job: int
    info: Any  # vidgru.types.VideoInfo
    duration_s: float
    frames: int
    decoded_frames: int


@dataclass(frozen=True)
class JobFailed:
    job: int
    error: str


@dataclass(frozen=True)
class JobDone:
    """A worker-side job finished: its staged files (``name -> path``) and the frames it processed."""

    job: int
    frames: int
    files: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)


def _test_hooks(source: str) -> None:
    """Test hooks for fault isolation: abort this process like a crashing decoder would, or hang like a
    stalled one (until the per-file time limit kills it)."""
    name = Path(source).name
    marker = os.environ.get(CRASH_HOOK_ENV)
    if marker and marker in name:
        os.abort()
    marker = os.environ.get(HANG_HOOK_ENV)
    if marker and marker in name:
        while True:
            time.sleep(3600)


def decode_spec_for(classifier, fps: float | None) -> DecodeSpec:
    """How workers should read videos for ``classifier`` (:class:`~vidgru.classify.ClipClassifier`): its
    sampling and crop, and its global-motion gaps when its model uses them (computed next to decoding)."""
    motion = classifier.embedder.motion
    gaps = tuple(motion.gaps) if motion is not None and motion.flow else ()
    return DecodeSpec(classifier.sample_fps, fps, classifier.embedder.preprocess, gaps)


def decode_chunks(job: int, source: str, spec: DecodeSpec) -> Iterator[DecodedChunk | DecodeEnd]:
    """Read ``source`` at ``spec.sample_fps`` and yield centre-cropped chunks (with their global-motion rows
    when ``spec.flow_gaps``), then a :class:`DecodeEnd`. The duration rule is
    :func:`vidgru.classify.embed_video`'s: one frame past the last sample, or the container's duration when
    longer. Raises VideoOpenError for unreadable input."""
    from vidgru.classify import covered_duration, crop_batches
    from vidgru.motion_features import GlobalMotionStream
    from vidgru.video import VideoSource

    flow = GlobalMotionStream(spec.flow_gaps) if spec.flow_gaps else None
    _test_hooks(source)
    n, last = 0, None
    with VideoSource(source, sample_fps=spec.sample_fps, fps=spec.fps) as src:
        for batch in crop_batches(src, spec.preprocess, CHUNK_FRAMES):
            yield DecodedChunk(job, batch.timestamps_s, batch.crops,
                               flow.update(batch.crops) if flow is not None else None)
            n += len(batch.crops)
            last = float(batch.timestamps_s[-1])
        info = src.info
        decoded = src.decoded_frames
    yield DecodeEnd(job, info, covered_duration(last, info, whole=True), n, decoded)


def decode_whole(source: str, spec: DecodeSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, DecodeEnd]:
    """:func:`decode_chunks` gathered: ``(timestamps_s (N,), crops (N, s, s, 3) uint8, flow (N, k) or None,
    end)`` (the Ray path)."""
    stamps, crops, flows, end = [], [], [], None
    for item in decode_chunks(0, source, spec):
        if isinstance(item, DecodedChunk):
            stamps.append(item.timestamps_s)
            crops.append(item.crops)
            flows.append(item.flow)
        else:
            end = item
    size = spec.preprocess.crop_size
    flow = np.concatenate(flows) if flows and flows[0] is not None else None
    return (np.concatenate(stamps) if stamps else np.zeros(0),
            np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8), flow, end)


@dataclass
class TrackResources:
    """Per-process detectors and appearance embedder, built on first use and reused for later videos."""

    detectors: dict[str, Any] = field(default_factory=dict)
    embedder: Any = None


def run_track_job(source: str, cfg: TrackSettings, workdir: Path, *, out_video: bool,
                  resources: TrackResources | None = None) -> JobDone:
    """Track one video (:func:`vidgru.track.pipeline.track_source`) and write ``mot.txt``, ``jsonl`` (and
    ``annotated.mp4``) into ``workdir``.

    Returns a :class:`JobDone` whose ``files`` map those keys to the complete files. Raises VidgruError for
    unreadable input or a bad detector; nothing is left in ``workdir`` on failure.
    """
    from vidgru.track.pipeline import TrackOutputs, appearance_embedder, track_source

    _test_hooks(source)
    resources = resources or TrackResources()

    def embedder():
        if resources.embedder is None:
            resources.embedder = appearance_embedder(device=cfg.device, runtime=cfg.runtime)
        return resources.embedder

    track_detector_spec(cfg)  # ConfigError for detectors that need MOTChallenge sequences
    workdir.mkdir(parents=True, exist_ok=True)
    files = {"mot.txt": workdir / "tracks.mot.txt", "jsonl": workdir / "tracks.jsonl"}
    if out_video:
        files["annotated.mp4"] = workdir / "annotated.mp4"
    if cfg.has_analytics_shapes:
        files["events.jsonl"] = workdir / "events.jsonl"
        files["summary.json"] = workdir / "summary.json"
    try:
        outputs = TrackOutputs(files["mot.txt"], files["jsonl"], files.get("annotated.mp4"),
                               events=files.get("events.jsonl"), summary=files.get("summary.json"))
        summary = track_source(source, cfg, outputs, detectors=resources.detectors, embedder=embedder)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)  # the sinks may have renamed partial files into place
        raise
    return JobDone(0, summary.frames, {k: str(v) for k, v in files.items()}, {"tracks": summary.tracks})


def run_annotate_job(source: str, segments: list[dict[str, Any]], duration_s: float, fps: float | None,
                     target: Path, shots: list[dict[str, Any]] | None = None) -> JobDone:
    """Draw a classification's labels (its JSON ``segments``, and ``shots`` with their tags) on every frame of
    ``source`` into ``target`` (:func:`vidgru.classify.write_label_video`)."""
    from vidgru.classify import write_label_video
    from vidgru.types import Segment, Shot, Tag

    segs = [Segment(float(d["start_s"]), float(d["end_s"]), str(d["label"]), float(d["score"])) for d in segments]
    cuts = [Shot(float(d["start_s"]), float(d["end_s"]), str(d["kind"]), float(d["score"]),
                 tuple(Tag(str(t["label"]), float(t["score"])) for t in d["tags"])) for d in shots or []]
    return JobDone(0, write_label_video(source, segs, duration_s, target, fps=fps, shots=cuts),
                   {"annotated.mp4": str(target)})


def describe_error(exc: BaseException) -> str:
    """One line for a failed input: a VidgruError's own message, else the exception's type and message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, VidgruError) else f"{type(exc).__name__}: {text}"


def track_detector_spec(cfg: TrackSettings) -> str:
    """The track task's detector spec (``torchvision:<name>``, ``onnx:PATH``, ``motion``), default filled in.
    Raises ConfigError for ``file`` detectors, which need MOTChallenge sequences."""
    from vidgru.track.pipeline import DEFAULT_DETECTOR

    spec = cfg.detector or DEFAULT_DETECTOR
    if spec.startswith("file"):
        raise ConfigError("batch track: --detector file needs MOTChallenge sequences; use `vidgru track` for those")
    return spec


def build_classifier(cfg: ClassifySettings):
    """The clip classifier described by ``cfg`` (:func:`vidgru.classify.classifier_for`)."""
    from vidgru.classify import classifier_for

    return classifier_for(cfg)
