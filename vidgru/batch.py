"""Many videos -> per-video results: a manifest, resume, fault isolation; a local process pool or Ray.

One job per input video, a pure function of (input, task settings) -> output files + one manifest record.
Outputs mirror the input tree under the output folder (``a/b/c.mp4`` -> ``a/b/c.json`` for ``classify``,
``a/b/c.mot.txt`` + ``a/b/c.jsonl`` for ``track``, ``a/b/c.annotated.mp4`` with ``out_video``). Every output
is written under a temporary name and renamed when complete; only then is the input's record appended to
``manifest.jsonl`` (flushed and fsync'ed), so a killed run never leaves a file that a later run trusts.

Resume: an input is skipped when its latest record is ``ok`` (or ``skipped``), its fingerprint (size + mtime,
or the content's sha256) and the task-settings fingerprint match, and every output it lists exists. Failed
inputs are retried; ``force`` redoes everything.

Local executor (:func:`run_batch` with ``executor="local"``): worker processes (``spawn``) decode; a worker
crash (a segfault in a decoder) fails that one input, and a fresh worker takes its place.

- classify: workers sample each video at the model's ``sample_fps``, centre-crop the frames with the
  backbone's :class:`~vidgru.backbone.Preprocess` and send ``(video, timestamps, crops)`` chunks; the main
  process holds ONE classifier and embeds chunks of several videos together
  (:meth:`~vidgru.backbone.TorchEmbedder.embed_mixed`, one motion stream per video, fed in frame order), then
  runs the clip GRU on a video when its last chunk is in.
- track: the whole per-video job runs in a worker (detector and appearance embedder built once per worker).

Ray executor (``executor="ray"``): decoding (classify) or whole track jobs run as Ray tasks; the classifier
lives in a Ray actor (``num_gpus=1`` when the cluster has GPUs). The driver writes outputs and the manifest,
with the same rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.config import BatchConfig, TrackConfig
from vidgru.errors import ConfigError, VidgruError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
STAGING_DIR = ".staging"  # under the output folder: track outputs wait here until they are complete
CHUNK_FRAMES = 16  # frames per message from a decode worker
CRASH_HOOK_ENV = "VIDGRU_BATCH_CRASH_ON"  # test hook: a worker aborts (os.abort) on inputs whose name contains it
RECORD_VERSION = 1
DEFAULT_DETECTOR = "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"  # as in `vidgru track`

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


# ----------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch: ``source`` (a path as found) and ``relpath``, its place under the input root
    (POSIX style), which its outputs mirror under the output folder."""

    source: str
    relpath: str


@dataclass(frozen=True)
class BatchRecord:
    """One line of ``manifest.jsonl``: what happened to one input in one run.

    ``outputs`` are paths relative to the output folder; ``frames`` are the frames the task used (sampled
    frames for classify, every frame for track); ``seconds`` is wall time from dispatch to the record.
    """

    path: str
    relpath: str
    status: str  # ok, failed, skipped
    task: str
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    outputs: tuple[str, ...] = ()
    fingerprint: dict[str, Any] = field(default_factory=dict)
    settings: str = ""
    run: str = ""
    version: int = RECORD_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outputs"] = list(self.outputs)
        d["seconds"] = round(self.seconds, 3)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["outputs"] = tuple(values.get("outputs", ()))
        return cls(**values)


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of a batch run: records of this run (one per input, in input order) and its wall time."""

    records: list[BatchRecord]
    seconds: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def frames(self) -> int:
        """Frames processed in this run (skipped inputs not counted)."""
        return sum(r.frames for r in self.records if r.status == OK)

    @property
    def failures(self) -> list[BatchRecord]:
        return [r for r in self.records if r.status == FAILED]

    @property
    def exit_code(self) -> int:
        """0 when no input failed, 1 when some did (the others were processed)."""
        return 1 if self.failures else 0


class Manifest:
    """``manifest.jsonl`` in the output folder: appended one record at a time, each flushed and fsync'ed, so
    it is readable after a kill (a torn last line is ignored when reading)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[BatchRecord]:
        """All records, oldest first (lines that do not parse, e.g. torn by a kill, are skipped)."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(BatchRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out

    def latest(self) -> dict[str, BatchRecord]:
        """The last record of each input, keyed by ``relpath``."""
        return {r.relpath: r for r in self.read()}

    def append(self, record: BatchRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.to_dict()) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            if f.tell() > 0 and not _ends_with_newline(self.path):
                line = "\n" + line  # a torn line from a killed run: start on a fresh one
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


# ------------------------------------------------------------------------------------ inputs and outputs


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


def output_names(relpath: str, task: str, *, out_video: bool, taken: set[str] | None = None) -> tuple[str, ...]:
    """Output paths (relative to the output folder) of one input: ``a/b/c.mp4`` -> ``a/b/c.json`` (classify)
    or ``a/b/c.mot.txt`` and ``a/b/c.jsonl`` (track), plus ``a/b/c.annotated.mp4`` with ``out_video``.
    When ``taken`` already holds the stem (``c.mp4`` next to ``c.avi``), the extension is kept: ``c.avi.json``."""
    stem = relpath.rsplit(".", 1)[0] if "." in relpath.rsplit("/", 1)[-1] else relpath
    if taken is not None:
        stem = relpath if stem in taken else stem
        taken.add(stem)
    names = [f"{stem}.json"] if task == "classify" else [f"{stem}.mot.txt", f"{stem}.jsonl"]
    if out_video:
        names.append(f"{stem}.annotated.mp4")
    return tuple(names)


def file_fingerprint(path: str | Path, *, content_hash: bool = False) -> dict[str, Any]:
    """What identifies an input's content: ``size`` (bytes) and ``mtime_ns``, or ``size`` and ``sha256``.
    A folder (an image sequence) is fingerprinted over its files."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    size = sum(f.stat().st_size for f in files)
    if not content_hash:
        return {"size": size, "mtime_ns": max((f.stat().st_mtime_ns for f in files), default=0)}
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
    return {"size": size, "sha256": h.hexdigest()}


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of the task settings that change results (not device, runtime or batch size)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``<path>.partial`` (flushed, fsync'ed, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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


@dataclass(frozen=True)
class DecodedChunk:
    """Consecutive sampled frames of one video: ``timestamps_s`` (n,) seconds, ``crops`` (n, s, s, 3) uint8 RGB."""

    job: int
    timestamps_s: np.ndarray
    crops: np.ndarray


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


def _maybe_crash(source: str) -> None:
    """Test hook for crash isolation: abort this process like a crashing decoder would."""
    marker = os.environ.get(CRASH_HOOK_ENV)
    if marker and marker in Path(source).name:
        os.abort()


def decode_chunks(job: int, source: str, spec: DecodeSpec) -> Iterator[DecodedChunk | DecodeEnd]:
    """Read ``source`` at ``spec.sample_fps`` and yield centre-cropped chunks, then a :class:`DecodeEnd`.
    The duration rule is :func:`vidgru.classify.embed_video`'s: one frame past the last sample, or the
    container's duration when longer. Raises VideoOpenError for unreadable input."""
    from vidgru.video import VideoSource

    _maybe_crash(source)
    stamps: list[float] = []
    crops: list[np.ndarray] = []
    n = 0
    last = None
    with VideoSource(source, sample_fps=spec.sample_fps, fps=spec.fps) as src:
        for frame in src:
            crops.append(spec.preprocess.crop(frame.image))
            stamps.append(frame.timestamp_s)
            last = frame.timestamp_s
            n += 1
            if len(crops) == CHUNK_FRAMES:
                yield DecodedChunk(job, np.asarray(stamps, np.float64), np.stack(crops))
                stamps, crops = [], []
        if crops:
            yield DecodedChunk(job, np.asarray(stamps, np.float64), np.stack(crops))
        info = src.info
        decoded = src.decoded_frames
    duration = last + 1.0 / info.fps if last is not None else 0.0
    if info.duration_s:
        duration = max(duration, info.duration_s)
    yield DecodeEnd(job, info, duration, n, decoded)


def decode_whole(source: str, spec: DecodeSpec) -> tuple[np.ndarray, np.ndarray, DecodeEnd]:
    """:func:`decode_chunks` gathered: ``(timestamps_s (N,), crops (N, s, s, 3) uint8, end)`` (the Ray path)."""
    stamps, crops, end = [], [], None
    for item in decode_chunks(0, source, spec):
        if isinstance(item, DecodedChunk):
            stamps.append(item.timestamps_s)
            crops.append(item.crops)
        else:
            end = item
    size = spec.preprocess.crop_size
    return (np.concatenate(stamps) if stamps else np.zeros(0),
            np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8), end)


@dataclass
class _TrackResources:
    """Per-process detectors and appearance embedder, built on first use and reused for later videos."""

    detectors: dict[str, Any] = field(default_factory=dict)
    embedder: Any = None


def run_track_job(source: str, cfg: TrackConfig, workdir: Path, *, out_video: bool,
                  resources: _TrackResources | None = None) -> JobDone:
    """Track one video and write ``mot.txt``, ``jsonl`` (and ``annotated.mp4``) into ``workdir``.

    Returns a :class:`JobDone` whose ``files`` map those keys to the complete files. Raises VidgruError for
    unreadable input or a bad detector; nothing is left in ``workdir`` on failure.
    """
    from vidgru.detect import create_detector
    from vidgru.sinks import MotSink, TrackJsonlSink, TrailHistory, VideoSink, draw_tracks
    from vidgru.track.pipeline import appearance_embedder, build_tracker, track_frames
    from vidgru.video import VideoSource

    _maybe_crash(source)
    resources = resources or _TrackResources()
    spec = cfg.detector or DEFAULT_DETECTOR
    if spec.startswith("file"):
        raise ConfigError("batch track: --detector file needs MOTChallenge sequences; use `vidgru track` for those")
    if spec not in resources.detectors:
        resources.detectors[spec] = create_detector(spec, classes=cfg.class_list, score_threshold=cfg.score_threshold,
                                                    min_box_size=cfg.min_box_size, device=cfg.device,
                                                    weights=cfg.weights)
    detector = resources.detectors[spec]
    detector.reset()
    if cfg.appearance and resources.embedder is None:
        resources.embedder = appearance_embedder(device=cfg.device, runtime=cfg.runtime)
    workdir.mkdir(parents=True, exist_ok=True)
    files = {"mot.txt": workdir / "tracks.mot.txt", "jsonl": workdir / "tracks.jsonl"}
    if out_video:
        files["annotated.mp4"] = workdir / "annotated.mp4"
    frames, ids = 0, set()
    try:
        with VideoSource(source, fps=cfg.fps, max_frames=cfg.max_frames) as video, \
                MotSink(files["mot.txt"]) as mot, TrackJsonlSink(files["jsonl"]) as jsonl:
            tracker = build_tracker(cfg, spec, fps=video.info.fps)
            writer = VideoSink(files["annotated.mp4"], video.info.fps) if out_video else None
            trails = TrailHistory(max_age_s=cfg.trail_s)
            with writer if writer is not None else contextlib.nullcontext():
                for frame, ft in track_frames(video, detector, tracker, embedder=resources.embedder,
                                              detect_every=cfg.detect_every, batch_size=4):
                    mot.write(ft)
                    jsonl.write(ft)
                    ids.update(t.track_id for t in ft.tracks)
                    frames += 1
                    if writer is not None:
                        trails.update(ft)
                        writer.write(draw_tracks(frame.image, ft, trails))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)  # the sinks may have renamed partial files into place
        raise
    return JobDone(0, frames, {k: str(v) for k, v in files.items()}, {"tracks": len(ids)})


def run_annotate_job(source: str, segments: list[dict[str, Any]], duration_s: float, fps: float | None,
                     target: Path) -> JobDone:
    """Draw a classification's current segment label on every frame of ``source`` into ``target`` (mp4)."""
    from vidgru.sinks import VideoSink, draw_label
    from vidgru.video import VideoSource

    frames = 0
    with VideoSource(source, fps=fps) as src, VideoSink(target, src.info.fps) as sink:
        seg_i = 0
        for frame in src:
            while seg_i < len(segments) - 1 and frame.timestamp_s >= segments[seg_i]["end_s"]:
                seg_i += 1
            seg = segments[seg_i]
            sink.write(draw_label(frame.image, f"{seg['label']} {seg['score']:.2f}",
                                  progress=frame.timestamp_s / max(duration_s, 1e-6)))
            frames += 1
    return JobDone(0, frames, {"annotated.mp4": str(target)})


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
    resources = _TrackResources()
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
            conn.send(JobFailed(job.job, _describe(exc)))


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, VidgruError) else f"{type(exc).__name__}: {text}"


class _WorkerPool:
    """N spawned worker processes, each with its own pipe (a crash corrupts nothing shared). A worker that
    dies is reported with the job it held and replaced."""

    def __init__(self, size: int) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self._slots: list[dict[str, Any]] = [self._start() for _ in range(size)]
        self._idle_deaths = 0  # workers that died holding no job: a broken environment, not a bad input

    def _start(self) -> dict[str, Any]:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child,), daemon=True, name="vidgru-batch-worker")
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "job": None}

    @property
    def idle(self) -> int:
        return sum(s["job"] is None for s in self._slots)

    @property
    def busy(self) -> int:
        return len(self._slots) - self.idle

    def submit(self, job: _Job) -> None:
        slot = next(s for s in self._slots if s["job"] is None)
        slot["job"] = job.job
        slot["conn"].send(job)

    def release(self, job: int) -> None:
        for s in self._slots:
            if s["job"] == job:
                s["job"] = None

    def poll(self, timeout: float) -> tuple[list[Any], list[tuple[int, str]]]:
        """Messages that arrived (at most a few per worker) and ``(job, why)`` for workers that died."""
        from multiprocessing.connection import wait

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
                if slot["job"] is not None:
                    crashed.append((slot["job"], f"worker process crashed ({_exit_reason(proc.exitcode)})"))
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


# ------------------------------------------------------------------------------------------- the runner


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
    """Runs one batch (see the module docstring). Build it with the settings, then call :meth:`run`.

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
        self._classifier = classifier
        self._settings = ""
        self._bars: list[Any] = []

    # -- settings -------------------------------------------------------------------------------------

    def classifier(self):
        """The one clip classifier of this run (main process), built on first use."""
        if self._classifier is None:
            from vidgru.classify import ClipClassifier

            c = self.cfg
            self._classifier = ClipClassifier.from_path(
                c.model, window_s=c.window_s, stride_s=c.stride_s, sample_fps=c.sample_fps, weights=c.weights,
                device=c.device, precision=c.precision, runtime=c.runtime, batch_size=c.batch_size)
        return self._classifier

    def task_settings(self) -> dict[str, Any]:
        """The settings that decide a task's results (their fingerprint is stored in every record)."""
        c = self.cfg
        if c.task == "classify":
            from vidgru.classify import default_model_path

            model = Path(c.model) if c.model else default_model_path()
            return {"task": "classify", "model": _file_digest(model), "window_s": c.window_s,
                    "stride_s": c.stride_s, "sample_fps": c.sample_fps, "fps": c.fps,
                    "weights": _file_digest(c.weights) if c.weights and Path(c.weights).is_file() else c.weights}
        track = dataclasses.asdict(self.track_config())
        for key in ("device", "runtime", "mot", "json", "out_video"):
            track.pop(key, None)
        if track.get("motion_model") and Path(track["motion_model"]).is_file():
            track["motion_model"] = _file_digest(track["motion_model"])
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
        spec = cfg.detector or DEFAULT_DETECTOR
        if spec.startswith("file"):
            raise ConfigError("batch track: --detector file needs MOTChallenge sequences; use `vidgru track` for those")
        create_detector(spec, classes=cfg.class_list, score_threshold=cfg.score_threshold,
                        min_box_size=cfg.min_box_size, device="cpu", weights=cfg.weights)

    # -- planning ---------------------------------------------------------------------------------------

    def plan(self, inputs: Sequence[BatchInput]) -> tuple[list[_Pending], list[BatchRecord]]:
        """Split inputs into work to do and skip records (resume rules in the module docstring)."""
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
            if (prev is not None and prev.status in (OK, SKIPPED) and prev.fingerprint == fp
                    and prev.settings == settings and set(outputs) <= set(prev.outputs)
                    and all((self.out / o).is_file() for o in prev.outputs)):
                skipped.append(BatchRecord(inp.source, inp.relpath, SKIPPED, self.cfg.task, frames=prev.frames,
                                           outputs=prev.outputs, fingerprint=fp, settings=settings, run=self.run_id))
                continue
            todo.append(_Pending(i, inp, outputs, fp, 0.0))
        return todo, skipped

    # -- records -----------------------------------------------------------------------------------------

    def _commit(self, p: _Pending) -> BatchRecord:
        """Move a finished input's outputs into place, then write its ok record."""
        for name in p.outputs:
            staged = p.staged[name]
            target = self.out / name
            if isinstance(staged, bytes):
                write_atomic(target, staged)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
        return self._record(p, OK)

    def _record(self, p: _Pending, status: str, error: str | None = None) -> BatchRecord:
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
                    done = self._run_local(todo)
            finally:
                for bar in self._bars:
                    bar.close()
                self._bars = []
                shutil.rmtree(self.out / STAGING_DIR / self.run_id, ignore_errors=True)
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

    def _frames_done(self, n: int) -> None:
        if self._bars:
            self._bars[1].update(n)

    def _run_local(self, todo: list[_Pending]) -> dict[int, BatchRecord]:
        workers = self.cfg.workers or default_workers(self.cfg.task)
        workers = min(workers, len(todo))
        clf = self.classifier() if self.cfg.task == "classify" else None
        track_cfg = self.track_config() if self.cfg.task == "track" else None
        threads = max(1, (os.cpu_count() or 1) // workers)
        queue: deque[tuple[str, _Pending]] = deque(("start", p) for p in todo)
        active: dict[int, _Pending] = {}
        records: dict[int, BatchRecord] = {}
        buffer: list[DecodedChunk] = []
        pool = _WorkerPool(workers)
        clean = False
        try:
            while queue or active:
                while queue and pool.idle:
                    kind, p = queue.popleft()
                    active[p.index] = p
                    if kind == "annotate":
                        target = self.out / STAGING_DIR / self.run_id / f"{p.index}" / "annotated.mp4"
                        target.parent.mkdir(parents=True, exist_ok=True)
                        result = json.loads(p.staged[p.outputs[0]])
                        pool.submit(_Job(p.index, "annotate", p.inp.source, {
                            "segments": result["segments"], "duration_s": result["duration_s"],
                            "fps": self.cfg.fps, "target": str(target)}))
                        continue
                    p.started = time.perf_counter()
                    if clf is not None:
                        p.stream = clf.embedder.new_stream()
                        spec = DecodeSpec(clf.sample_fps, self.cfg.fps, clf.embedder.preprocess)
                        pool.submit(_Job(p.index, "decode", p.inp.source, {"spec": spec}))
                    else:
                        workdir = self.out / STAGING_DIR / self.run_id / f"{p.index}"
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
                        records[p.index] = self._record(active.pop(p.index), FAILED, msg.error)
                for job, why in crashed:
                    if job in active:
                        buffer = [c for c in buffer if c.job != job]
                        records[job] = self._record(active.pop(job), FAILED, f"{why} while reading the file")
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
        parts = [(c.crops, active[c.job].stream) for c in buffer]
        embedded = clf.embedder.embed_mixed(parts)
        for chunk, emb in zip(buffer, embedded):
            p = active[chunk.job]
            p.stamps.append(chunk.timestamps_s)
            p.embeddings.append(emb)
        self._frames_done(sum(len(c.crops) for c in buffer))

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
            records[p.index] = self._record(p, FAILED, _describe(exc))
            return
        p.frames = end.frames
        p.staged[p.outputs[0]] = (json.dumps(result.to_dict(), indent=1) + "\n").encode()
        if self.cfg.out_video:
            queue.appendleft(("annotate", p))  # drawn by a worker; the record waits for it
            return
        records[p.index] = self._commit(p)

    def _finish_worker_job(self, p: _Pending, done: JobDone, records: dict[int, BatchRecord],
                           active: dict[int, _Pending]) -> None:
        del active[p.index]
        p.staged.update(_match_outputs(p.outputs, done.files))
        if self.cfg.task == "track":
            p.frames = done.frames
            self._frames_done(done.frames)
        missing = [n for n in p.outputs if n not in p.staged]
        if missing:
            records[p.index] = self._record(p, FAILED, f"internal error: no {', '.join(missing)} was produced")
            return
        records[p.index] = self._commit(p)


def _match_outputs(outputs: Sequence[str], files: dict[str, Any]) -> dict[str, Any]:
    """Job files keyed by kind (``json``, ``mot.txt``, ``jsonl``, ``annotated.mp4``) -> by output name."""
    out = {}
    for name in outputs:
        for kind, value in files.items():
            if name.endswith("." + kind):
                out[name] = value
    return out


def run_batch(inputs: Sequence[str | Path], config: BatchConfig, *, progress: bool = False,
              on_record: Callable[[BatchRecord], None] | None = None, classifier=None) -> BatchSummary:
    """Run ``config.task`` on every video under ``inputs`` (folders and/or files), writing outputs and
    ``manifest.jsonl`` under ``config.out``. See the module docstring for the rules.

    Example::

        summary = run_batch(["videos/"], BatchConfig(task="classify", out="results"))
        print(summary.count("ok"), summary.count("failed"))
    """
    runner = BatchRunner(config, progress=progress, on_record=on_record, classifier=classifier)
    return runner.run(find_batch_inputs(inputs))


# --------------------------------------------------------------------------------------------------- Ray


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
        ray = self._init()
        cfg = self.runner.cfg
        records: dict[int, BatchRecord] = {}
        in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
        env = {CRASH_HOOK_ENV: os.environ[CRASH_HOOK_ENV]} if CRASH_HOOK_ENV in os.environ else {}
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
                records[p.index] = self.runner._record(p, FAILED, _ray_reason(exc))
                continue
            p.frames = frames
            self.runner._frames_done(frames)
            p.staged.update(_match_outputs(p.outputs, files))
            missing = [n for n in p.outputs if n not in p.staged]
            if missing:
                records[p.index] = self.runner._record(p, FAILED, f"no {', '.join(missing)} was produced")
                continue
            records[p.index] = self.runner._commit(p)
        return records


def _ray_reason(exc: BaseException) -> str:
    """One line for a failed Ray task: the input's own error, or what happened to the worker process."""
    cause = getattr(exc, "cause", None)
    exc = cause if isinstance(cause, BaseException) else exc
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "ActorUnavailable" in name:
        return f"worker process crashed while reading the file (Ray: {name})"
    return _describe(exc)


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
        self.runner = BatchRunner(cfg)

    def decode_spec(self) -> DecodeSpec:
        clf = self.runner.classifier()
        return DecodeSpec(clf.sample_fps, self.cfg.fps, clf.embedder.preprocess)

    def classify(self, source: str, decoded) -> tuple[int, dict[str, bytes]]:
        from vidgru.classify import EmbeddedVideo

        stamps, crops, end = decoded
        clf = self.runner.classifier()
        emb = clf.embedder.embed_mixed([(crops, clf.embedder.new_stream())])[0]
        result = clf.classify_embedded(EmbeddedVideo(source, end.info, stamps, emb, end.duration_s))
        d = result.to_dict()
        files = {"json": (json.dumps(d, indent=1) + "\n").encode()}
        if self.cfg.out_video:
            with tempfile.TemporaryDirectory(prefix="vidgru-batch-") as tmp:
                target = Path(tmp) / "annotated.mp4"
                run_annotate_job(source, d["segments"], d["duration_s"], self.cfg.fps, target)
                files["annotated.mp4"] = target.read_bytes()
        return end.frames, files
