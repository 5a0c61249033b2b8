"""Whole-video classification: frames -> embeddings -> sliding windows -> clip GRU -> timeline.

A video is sampled at ``sample_fps``; every frame is embedded once. Windows of ``window_s`` seconds start every
``stride_s`` seconds; each window's embeddings go through the clip model, giving per-window class
probabilities. The clip-level label is the argmax of the mean window probability. Segments merge consecutive
windows with the same label; each window "owns" the time around its centre, so a segment boundary falls
within one stride of where the content changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidgru.errors import CheckpointError, ConfigError, VideoOpenError, VidgruError
from vidgru.fileio import check_outputs, distinct_names
from vidgru.motion_features import MotionSpec
from vidgru.paths import CLIP_MODEL, shipped_model
from vidgru.settings import ClassifySettings, ShotsSettings
from vidgru.types import ClipResult, Frame, Segment, Shot, ShotList, VideoInfo, WindowPrediction

if TYPE_CHECKING:  # torch is imported when a model is loaded, not with this module (batch decode workers use it)
    from vidgru.backbone import Embedder
    from vidgru.exported import ExportedClipModel
    from vidgru.shots import ShotFinder
    from vidgru.temporal import ClipCheckpoint

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = CLIP_MODEL


def default_model_path() -> Path:
    """The clip model shipped inside the package (used when no ``--model`` is given)."""
    path = shipped_model(DEFAULT_MODEL_NAME)
    if not path.is_file():
        raise CheckpointError(f"no --model given and the default model {path} is not installed")
    return path


@dataclass(frozen=True)
class EmbeddedVideo:
    """A video reduced to per-frame embeddings: ``timestamps_s`` (N,), ``embeddings`` (N, D) float32."""

    source: str
    info: VideoInfo
    timestamps_s: np.ndarray
    embeddings: np.ndarray
    duration_s: float


@dataclass(frozen=True)
class CropBatch:
    """Consecutive sampled frames of one source, cropped for the backbone: ``timestamps_s`` (n,) seconds and
    ``crops`` (n, s, s, 3) uint8 RGB."""

    timestamps_s: np.ndarray
    crops: np.ndarray


def crop_batches(frames: Iterable[Frame], preprocess, size: int) -> Iterator[CropBatch]:
    """Centre-crop sampled frames with the backbone's ``preprocess`` and group them ``size`` at a time (the last
    batch may be shorter). Only the crops of one batch are held at once. The one decode-and-crop path of
    classification: :func:`embed_video`, :meth:`ClipClassifier.stream` and the batch workers all read this."""
    stamps: list[float] = []
    crops: list[np.ndarray] = []
    for frame in frames:
        crops.append(preprocess.crop(frame.image))
        stamps.append(frame.timestamp_s)
        if len(crops) == size:
            yield CropBatch(np.asarray(stamps, np.float64), np.stack(crops))
            stamps, crops = [], []
    if crops:
        yield CropBatch(np.asarray(stamps, np.float64), np.stack(crops))


@dataclass(frozen=True)
class PreparedBatch:
    """A :class:`CropBatch` with the global-motion rows of its frames ((n, len(gaps) * 11) float32, or None when
    the model uses none), computed where the frames were decoded."""

    batch: CropBatch
    flow: np.ndarray | None


def prepared_batches(frames: Iterable[Frame], preprocess, size: int, flow_gaps: Sequence[int] = (), *,
                     ahead: int = 2) -> Iterator[PreparedBatch]:
    """:func:`crop_batches` plus each batch's global motion (:class:`~vidgru.motion_features.GlobalMotionStream`
    when ``flow_gaps``), produced in a background thread up to ``ahead`` batches before they are asked for, so
    that cropping and corner tracking (OpenCV, which releases the GIL) overlap the backbone. Errors of the
    source are raised here, after the batches that came before them. Closing the generator stops the thread."""
    import queue
    import threading

    from vidgru.motion_features import GlobalMotionStream

    # Corner tracking may use half the cores; the backbone has the rest (on 2 cores: one thread, overlapped).
    workers = max(1, (os.cpu_count() or 1) // 2)
    flow = GlobalMotionStream(tuple(flow_gaps), workers=workers) if flow_gaps else None
    items: queue.Queue = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in crop_batches(frames, preprocess, size):
                rows = flow.update(batch.crops) if flow is not None else None
                if not put(PreparedBatch(batch, rows)):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            put(exc)

    worker = threading.Thread(target=produce, name="vidgru-prepare", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5.0)


def covered_duration(last_timestamp_s: float | None, info: VideoInfo, *, whole: bool) -> float:
    """Seconds of video a classification covers: one frame past the last sampled frame, or the container's
    duration when the whole video was read (``whole``) and it is longer (sampling may stop short of the end)."""
    duration = last_timestamp_s + 1.0 / info.fps if last_timestamp_s is not None else 0.0
    if whole and info.duration_s:
        duration = max(duration, info.duration_s)
    return duration


def embed_video(
    source: str,
    embedder: Embedder,
    *,
    sample_fps: float | None,
    fps: float | None = None,
    max_frames: int | None = None,
    progress=None,
    on_incomplete: Callable[[VideoOpenError], None] | None = None,
) -> EmbeddedVideo:
    """Decode ``source`` at ``sample_fps`` and embed every sampled frame, batch by batch (bounded memory:
    only embeddings are kept, never frames). ``progress`` is an optional tqdm bar: its total is set from the
    source's estimate and it advances by frames embedded.

    A source that fails part-way (a truncated or corrupt file) raises VideoOpenError, unless ``on_incomplete``
    is given: it then gets the error and the frames that decoded before it are returned."""
    from vidgru.video import VideoSource

    stamps: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    stream = embedder.new_stream()  # motion descriptors continue across batches of this video
    with VideoSource(source, sample_fps=sample_fps, fps=fps, max_frames=max_frames) as src:
        info = src.info
        if progress is not None:
            progress.total = src.estimated_output_frames()
            progress.refresh()
        cut: list[VideoOpenError] = []

        def frames_until_cut() -> Iterator[Frame]:  # the frames before a failure still make a last batch
            try:
                yield from src
            except VideoOpenError as exc:
                cut.append(exc)

        motion = getattr(embedder, "motion", None)
        flow_gaps = tuple(motion.gaps) if motion is not None and motion.flow else ()
        for prepared in prepared_batches(frames_until_cut(), embedder.preprocess,
                                         getattr(embedder, "batch_size", 32), flow_gaps):
            batch = prepared.batch
            if prepared.flow is not None:  # global motion already computed next to decoding
                chunks.append(embedder.embed_mixed([(batch.crops, stream, prepared.flow)])[0])
            else:
                chunks.append(embedder.embed(batch.crops, stream))
            stamps.append(batch.timestamps_s)
            if progress is not None:
                progress.update(len(batch.crops))
        if cut:
            if on_incomplete is None or not chunks:
                raise cut[0]
            on_incomplete(cut[0])
    emb = np.concatenate(chunks) if chunks else np.zeros((0, embedder.embed_dim), np.float32)
    times = np.concatenate(stamps) if stamps else np.zeros(0, np.float64)
    whole = (max_frames is None or len(times) < max_frames) and not cut  # a cut file covers what decoded
    duration = covered_duration(float(times[-1]) if len(times) else None, info, whole=whole)
    return EmbeddedVideo(source, info, times, emb, duration)


def window_starts(duration_s: float, window_s: float, stride_s: float) -> list[float]:
    """Start times of the sliding windows covering [0, duration_s]; one window when the video is short."""
    if duration_s <= window_s:
        return [0.0]
    n = math.ceil((duration_s - window_s) / stride_s - 1e-9) + 1
    return [min(k * stride_s, duration_s - window_s) for k in range(n)]


def window_probabilities(
    net, timestamps_s: np.ndarray, embeddings: np.ndarray, duration_s: float, *, window_s: float,
    stride_s: float, device: str = "cpu", batch_size: int = 64,
) -> list[tuple[float, float, np.ndarray]]:
    """Run a clip model over sliding windows of embedded frames.

    Args:
        net: a clip model taking (B, T, D) and (B,) lengths.
        timestamps_s: (N,) seconds; embeddings: (N, D) float32.
    Returns:
        (start_s, end_s, probs (C,)) for each window that contains at least one frame.
    """
    spans = []
    for start in window_starts(duration_s, window_s, stride_s):
        end = min(start + window_s, duration_s) if duration_s > 0 else start + window_s
        idx = np.nonzero((timestamps_s >= start - 1e-6) & (timestamps_s < end - 1e-6))[0]
        if len(idx):
            spans.append((start, end, idx))
    out = []
    for b in range(0, len(spans), batch_size):
        chunk = spans[b : b + batch_size]
        t_max = max(len(idx) for _, _, idx in chunk)
        x = np.zeros((len(chunk), t_max, embeddings.shape[1]), np.float32)  # (B, T, D), zero-padded
        lengths = np.zeros(len(chunk), np.int64)
        for i, (_, _, idx) in enumerate(chunk):
            x[i, : len(idx)] = embeddings[idx]
            lengths[i] = len(idx)
        if hasattr(net, "probabilities"):  # an exported head (vidgru.exported.OnnxClipHead): no torch
            probs = net.probabilities(x, lengths)
        else:
            import torch

            with torch.inference_mode():
                logits = net(torch.from_numpy(x).to(device), torch.from_numpy(lengths).to(device))
                probs = logits.float().softmax(dim=1).cpu().numpy()  # (B, C)
        out.extend((start, end, p) for (start, end, _), p in zip(chunk, probs))
    return out


def merge_segments(windows: list[WindowPrediction], duration_s: float) -> list[Segment]:
    """Consecutive windows with the same label -> segments. Window k owns the time between the midpoints of
    its centre and its neighbours' centres; the first starts at 0 and the last ends at ``duration_s``."""
    if not windows:
        return []
    centres = [(w.start_s + w.end_s) / 2 for w in windows]
    bounds = [0.0] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [max(duration_s, windows[-1].end_s)]
    segments: list[Segment] = []
    run_start, scores = 0, [windows[0].score]
    for k in range(1, len(windows) + 1):
        if k < len(windows) and windows[k].label == windows[run_start].label:
            scores.append(windows[k].score)
            continue
        segments.append(Segment(bounds[run_start], bounds[k], windows[run_start].label, float(np.mean(scores))))
        if k < len(windows):
            run_start, scores = k, [windows[k].score]
    return segments


class ClipClassifier:
    """A trained clip model together with the backbone it was trained on.

    Args:
        checkpoint: a loaded :class:`~vidgru.temporal.ClipCheckpoint`, or an exported model
            (:class:`~vidgru.exported.ExportedClipModel`: ONNX Runtime on the CPU, no torch).
        window_s, stride_s, sample_fps: override the sampling the model was trained with.
        weights: backbone weights override (a path), e.g. when the model used custom weights.
        device, precision, runtime, batch_size: passed to the embedder (see
            :func:`~vidgru.backbone.create_embedder`).
        shot_detector, shot_model, tags, tag_threshold: shots and content tags (:class:`~vidgru.shots.ShotFinder`);
            with the defaults (``none``, no tags) the whole video is one shot, as before shots existed.
    """

    def __init__(
        self,
        checkpoint: ClipCheckpoint | ExportedClipModel,
        *,
        window_s: float | None = None,
        stride_s: float | None = None,
        sample_fps: float | None = None,
        weights: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        runtime: str = "auto",
        batch_size: int = 32,
        embedder: Embedder | None = None,
        shot_detector: str = "none",
        shot_model: str | None = None,
        tags: bool = False,
        tag_threshold: float = 0.1,
    ) -> None:
        self.checkpoint = checkpoint
        exported = hasattr(checkpoint, "head")  # an ExportedClipModel
        self.class_names = list(checkpoint.class_names)
        sampling = checkpoint.sampling.replace(sample_fps=sample_fps, window_s=window_s, stride_s=stride_s)
        self.window_s, self.stride_s, self.sample_fps = sampling.window_s, sampling.stride_s, sampling.sample_fps
        bb = checkpoint.backbone
        if exported:
            if runtime == "torch" or device not in ("auto", "cpu"):
                raise ConfigError(f"{checkpoint.folder} is an exported model: it runs with ONNX Runtime on the CPU "
                                  "(no --runtime torch or --device)")
            if embedder is None:
                embedder = checkpoint.embedder(batch_size=batch_size)
        elif embedder is None:
            from vidgru.backbone import create_embedder

            custom = bb.weights.startswith("custom-")
            if custom and weights is None:
                raise ConfigError(
                    f"the model was trained on custom backbone weights ({bb.weights}); pass them with --weights"
                )
            embedder = create_embedder(
                bb.name, runtime=runtime, weights=weights or (None if custom else bb.weights), device=device,
                precision=precision, batch_size=batch_size, spatial_grid=bb.spatial_grid,
                motion=MotionSpec.from_dict(bb.motion) if bb.motion else None,
            )
        expected_dim = checkpoint.embed_dim if exported else checkpoint.model.embed_dim
        if embedder.embed_dim != expected_dim:
            raise CheckpointError(
                f"model expects {expected_dim}-d embeddings but backbone {embedder.name} gives {embedder.embed_dim}"
            )
        self.embedder = embedder
        if exported:
            self.device = "cpu"
            self.net = checkpoint.head()
        else:
            from vidgru.backbone import resolve_device

            self.device = resolve_device(device)
            self.net = checkpoint.build(self.device)
        if exported:  # the lean runtime stays torch-free: no ImageNet head in an export, no PyTorch shot model
            tags = False
            if shot_detector == "auto":
                shot_detector = "rules"
        self.shots: ShotFinder | None = None
        if shot_detector != "none" or tags:
            from vidgru.shots import ShotFinder

            self.shots = ShotFinder(embedder, detector=shot_detector, model=shot_model, tags=tags,
                                    tag_threshold=tag_threshold)

    @classmethod
    def from_path(cls, path: str | Path | None, **kwargs) -> ClipClassifier:
        """Load ``path`` (a checkpoint, or a folder written by ``vidgru export``), or the packaged default model
        when ``path`` is None."""
        from vidgru.exported import ExportedClipModel, is_export

        if is_export(path):
            return cls(ExportedClipModel.load(path), **kwargs)
        from vidgru.temporal import load_checkpoint

        return cls(load_checkpoint(path if path is not None else default_model_path()), **kwargs)

    def predict_windows(self, timestamps_s: np.ndarray, embeddings: np.ndarray, duration_s: float
                        ) -> list[WindowPrediction]:
        """Slide windows over embedded frames (N,) / (N, D) and return per-window class probabilities."""
        spans = window_probabilities(self.net, timestamps_s, embeddings, duration_s, window_s=self.window_s,
                                     stride_s=self.stride_s, device=self.device)
        out = []
        for start, end, p in spans:
            k = int(p.argmax())
            out.append(WindowPrediction(start, end, self.class_names[k], float(p[k]), p))
        return out

    def classify_embedded(self, video: EmbeddedVideo) -> ClipResult:
        """The classification of an embedded video. With a shot finder, windows and segments are made shot by
        shot, so that no window averages frames from both sides of a cut and no segment spans one."""
        duration = video.duration_s
        shots = (self.shots.find(video.timestamps_s, video.embeddings, duration) if self.shots is not None
                 else [Shot(0.0, duration)])
        windows: list[WindowPrediction] = []
        segments: list[Segment] = []
        for k, shot in enumerate(shots):
            inside = video.timestamps_s >= shot.start_s
            if k < len(shots) - 1:
                inside &= video.timestamps_s < shot.end_s
            if not inside.any():
                continue
            length = shot.end_s - shot.start_s  # windows and segments in the shot's own time, then shifted
            own = self.predict_windows(video.timestamps_s[inside] - shot.start_s, video.embeddings[inside], length)
            windows += [dataclasses.replace(w, start_s=w.start_s + shot.start_s, end_s=w.end_s + shot.start_s)
                        for w in own]
            segments += [dataclasses.replace(s, start_s=s.start_s + shot.start_s, end_s=s.end_s + shot.start_s)
                         for s in merge_segments(own, length)]
        if not windows:
            raise ConfigError(f"{video.source}: no frames to classify")
        mean = np.mean([w.scores for w in windows], axis=0)
        k = int(mean.argmax())
        return ClipResult(
            video=video.source,
            label=self.class_names[k],
            score=float(mean[k]),
            scores={name: float(p) for name, p in zip(self.class_names, mean)},
            windows=windows,
            segments=segments,
            frames_used=len(video.timestamps_s),
            duration_s=duration,
            shots=shots,
        )

    def classify(self, source: str, *, fps: float | None = None, progress=None) -> ClipResult:
        """Classify one video file, image folder or glob. Raises VideoOpenError for unreadable input.
        ``progress``: an optional tqdm bar (see :func:`embed_video`)."""
        embedded = embed_video(source, self.embedder, sample_fps=self.sample_fps, fps=fps, progress=progress)
        return self.classify_embedded(embedded)

    def stream(self, source: str | int, *, fps: float | None = None, **source_options) -> Iterator[WindowPrediction]:
        """Live classification: every ``stride_s`` seconds of new frames, one prediction. The GRU's hidden
        state is carried from one stride to the next, so each frame is processed once and context persists.
        Runs until the source ends or the caller stops iterating. ``source_options`` go to
        :class:`~vidgru.video.VideoSource` (e.g. ``live=True``, ``capture_factory``)."""
        from vidgru.video import VideoSource

        if hasattr(self.net, "probabilities"):  # an exported head: the same loop in numpy
            yield from self._stream_exported(source, fps=fps, **source_options)
            return
        import torch

        stateful = hasattr(self.net, "forward_stream")
        per_stride = max(1, round(self.stride_s * self.sample_fps))
        hidden, prev = None, None
        motion = self.embedder.new_stream()
        with VideoSource(source, sample_fps=self.sample_fps, fps=fps, **source_options) as src:
            for batch in crop_batches(src, self.embedder.preprocess, per_stride):
                if len(batch.crops) < per_stride:
                    break  # the source ended inside a stride
                x = torch.from_numpy(self.embedder.embed(batch.crops, motion)).to(self.device)[None]  # (1, T, D)
                with torch.inference_mode():
                    if stateful:
                        logits, hidden = self.net.forward_stream(x, hidden=hidden, prev=prev)
                        prev = x[:, -1]
                    else:
                        logits = self.net(x)
                p = logits.float().softmax(dim=1)[0].cpu().numpy()
                k = int(p.argmax())
                yield WindowPrediction(float(batch.timestamps_s[0]), float(batch.timestamps_s[-1]),
                                       self.class_names[k], float(p[k]), p)

    def _stream_exported(self, source: str | int, *, fps: float | None = None, **source_options
                         ) -> Iterator[WindowPrediction]:
        """:meth:`stream` for an exported model: the GRU state carried through the ONNX head."""
        from vidgru.video import VideoSource

        per_stride = max(1, round(self.stride_s * self.sample_fps))
        hidden, prev = None, None
        motion = self.embedder.new_stream()
        with VideoSource(source, sample_fps=self.sample_fps, fps=fps, **source_options) as src:
            for batch in crop_batches(src, self.embedder.preprocess, per_stride):
                if len(batch.crops) < per_stride:
                    break  # the source ended inside a stride
                x = self.embedder.embed(batch.crops, motion)[None]  # (1, T, D)
                p, hidden = self.net.stream(x, hidden, prev)
                prev = x[:, -1]
                k = int(p.argmax())
                yield WindowPrediction(float(batch.timestamps_s[0]), float(batch.timestamps_s[-1]),
                                       self.class_names[k], float(p[k]), p)


def shot_caption(shots: Sequence[Shot], k: int) -> str:
    """``shot 2/5: parrot 0.61, perch 0.12`` for shot ``k`` (0-based) of ``shots``."""
    tags = ", ".join(f"{t.label} {t.score:.2f}" for t in shots[k].tags[:2])
    return f"shot {k + 1}/{len(shots)}" + (f": {tags}" if tags else "")


def write_label_video(source: str, segments: Sequence[Segment], duration_s: float, target: str | Path, *,
                      fps: float | None = None, strict: bool = True, shots: Sequence[Shot] = ()) -> int:
    """Draw the current segment's label and score (and a position bar) on every frame of ``source`` into the mp4
    ``target``, and with ``shots`` the current shot's number and tags; returns the frames written. The file
    appears whole or not at all. ``strict=False``: a source that is truncated (already reported) gives the video
    of the frames that decode, without an error."""
    from vidgru.sinks import VideoSink, draw_label
    from vidgru.video import VideoSource

    if not segments:
        raise ConfigError(f"{source}: no segments to draw")
    frames = 0
    with VideoSource(source, fps=fps) as src, VideoSink(target, src.info.fps) as sink:
        seg_i = shot_i = 0
        try:
            for frame in src:
                while seg_i < len(segments) - 1 and frame.timestamp_s >= segments[seg_i].end_s:
                    seg_i += 1
                while shot_i < len(shots) - 1 and frame.timestamp_s >= shots[shot_i].end_s:
                    shot_i += 1
                seg = segments[seg_i]
                text = f"{seg.label} {seg.score:.2f}"
                if shots:
                    text = f"{shot_caption(shots, shot_i)} | {text}"
                sink.write(draw_label(frame.image, text, progress=frame.timestamp_s / max(duration_s, 1e-6)))
                frames += 1
        except VideoOpenError:
            if strict or not frames:
                raise
    return frames


# ------------------------------------------------------------------------------------ the classify command's job


def classifier_for(cfg: ClassifySettings) -> ClipClassifier:
    """The classifier ``cfg`` describes: its model (the shipped one when None), sampling overrides, backbone
    weights, device, precision, runtime and batch size."""
    return ClipClassifier.from_path(
        cfg.model, window_s=cfg.window_s, stride_s=cfg.stride_s, sample_fps=cfg.sample_fps, weights=cfg.weights,
        device=cfg.device, precision=cfg.precision, runtime=cfg.runtime, batch_size=cfg.batch_size,
        shot_detector=cfg.shot_detector, shot_model=cfg.shot_model, tags=cfg.tags, tag_threshold=cfg.tag_threshold)


def classify_outputs(sources: Sequence[str], cfg: ClassifySettings) -> dict[str, Path]:
    """The label video of each source (``cfg.out_video``: a file, or with several sources a folder of
    ``<stem>.annotated.mp4``, colliding stems made distinct: ``clip.avi.annotated.mp4``, then
    ``a_clip.mp4.annotated.mp4``), after checking every output before any work.

    Raises:
        ConfigError: an output cannot be written, or would overwrite an input or the model
            (:func:`vidgru.fileio.check_outputs`).
    """
    many = len(sources) > 1
    inputs = [*sources, cfg.model, cfg.weights]
    check_outputs([("--json", cfg.json, "file"), ("--csv", cfg.csv, "file"),
                   ("--out-video", cfg.out_video, "folder" if many else "file")], inputs=inputs)
    if not cfg.out_video:
        return {}
    if not many:
        return {source: Path(cfg.out_video) for source in sources}
    names = distinct_names(sources)
    targets = {source: Path(cfg.out_video) / f"{name}.annotated.mp4" for source, name in zip(sources, names)}
    check_outputs([("--out-video", t, "file") for t in targets.values()], inputs=inputs)
    return targets


class _ResultSinks:
    """The JSON Lines and CSV outputs of a run over many inputs, each opened at the first result (a run in which
    every input fails writes no file) and closed with ``stack``."""

    def __init__(self, stack: contextlib.ExitStack, json_path: str | None, csv_path: str | None,
                 header: Sequence[str], rows: Callable) -> None:
        self._stack, self._json, self._csv, self._header, self._rows = stack, json_path, csv_path, header, rows
        self._jsonl = self._table = None

    def write(self, result) -> None:
        from vidgru.sinks import CsvSink, JsonlSink

        if self._json and self._jsonl is None:
            self._jsonl = self._stack.enter_context(JsonlSink(self._json))
        if self._csv and self._table is None:
            self._table = self._stack.enter_context(CsvSink(self._csv, self._header))
        if self._jsonl:
            self._jsonl.write_record(result.to_dict())
        if self._table:
            for row in self._rows(result):
                self._table.write_row(row)


def classify_sources(sources: Sequence[str], clf: ClipClassifier, cfg: ClassifySettings, *,
                     progress: Callable[[str], Any] | None = None,
                     on_result: Callable[[ClipResult], None] | None = None,
                     on_error: Callable[[str, VidgruError], None] | None = None,
                     on_incomplete: Callable[[str, VidgruError], None] | None = None) -> list[str]:
    """Classify recorded sources one by one and write the outputs ``cfg`` asks for: JSON Lines (``cfg.json``),
    CSV (``cfg.csv``) and label videos (:func:`classify_outputs`, checked before any work). A source that fails
    is reported through ``on_error`` and skipped; the others go on. A source that fails part-way (truncated or
    corrupt) is classified from the frames that decoded and reported through ``on_incomplete``. The JSON and
    CSV files are created with the first result (none when every source fails). ``progress(name)`` returns a
    tqdm-like bar for one source (closed here). Returns the sources that failed."""
    from vidgru.sinks import CLASSIFY_CSV_HEADER, classify_csv_rows

    failures = []
    video_targets = classify_outputs(sources, cfg)
    with contextlib.ExitStack() as stack:
        sinks = _ResultSinks(stack, cfg.json, cfg.csv, CLASSIFY_CSV_HEADER, classify_csv_rows)
        for source in sources:
            bar = progress(Path(source).name) if progress is not None else None
            cut: list[VideoOpenError] = []
            try:
                embedded = embed_video(source, clf.embedder, sample_fps=clf.sample_fps, fps=cfg.fps, progress=bar,
                                       on_incomplete=cut.append)
                result = clf.classify_embedded(embedded)
                if source in video_targets:
                    write_label_video(source, result.segments, result.duration_s, video_targets[source],
                                      fps=cfg.fps, strict=not cut, shots=result.shots)
            except VidgruError as exc:
                failures.append(source)
                if on_error is not None:
                    on_error(source, exc)
                continue
            finally:
                if bar is not None:
                    bar.close()
            sinks.write(result)
            if on_result is not None:
                on_result(result)
            if cut and on_incomplete is not None:
                on_incomplete(source, VidgruError(f"{cut[0]}; kept the results of the {result.frames_used} "
                                                  "sampled frames that decoded"))
    return failures


def classify_live(source: str | int, clf: ClipClassifier, cfg: ClassifySettings, *,
                  on_window: Callable[[WindowPrediction], None] | None = None) -> bool:
    """Classify a camera or stream as it plays: one prediction per stride (:meth:`ClipClassifier.stream`),
    each written to ``cfg.json`` as a JSON Lines record and passed to ``on_window``, until the source ends or
    Ctrl-C (which stops cleanly, keeping the records written). Returns True when stopped by Ctrl-C."""
    from vidgru.sinks import JsonlSink

    with JsonlSink(cfg.json) if cfg.json else contextlib.nullcontext() as jsonl:
        try:
            for w in clf.stream(source, fps=cfg.fps, reconnect_s=cfg.reconnect_s,
                                  max_reconnects=cfg.max_reconnects):
                if jsonl is not None:
                    jsonl.write_record({"video": str(source), "start_s": round(w.start_s, 3),
                                        "end_s": round(w.end_s, 3), "label": w.label, "score": round(w.score, 4)})
                if on_window is not None:
                    on_window(w)
        except KeyboardInterrupt:
            return True
    return False


# --------------------------------------------------------------------------------------- the shots command's job


def shots_finder_for(cfg: ShotsSettings) -> tuple[ShotFinder, float]:
    """The shot finder ``cfg`` describes, over an embedder built as its shot model was trained (the shipped
    model's when none is given; for the rules, the default camera-motion model's embedder), and the frames/s
    to sample at."""
    from vidgru.backbone import create_embedder
    from vidgru.shots import ShotFinder, default_shot_model_path
    from vidgru.shots.model import load_shot_model

    spec, sample_fps = None, 8.0
    path = Path(cfg.shot_model) if cfg.shot_model else default_shot_model_path()
    if cfg.shot_detector in ("learned", "auto") and (cfg.shot_model or path.is_file()):
        ckpt = load_shot_model(path)
        spec, sample_fps = ckpt.backbone, ckpt.sample_fps
    if spec is None:
        from vidgru.temporal import load_checkpoint

        clip = load_checkpoint(default_model_path())
        spec, sample_fps = clip.backbone, clip.sampling.sample_fps
    embedder = create_embedder(spec.name, runtime=cfg.runtime, weights=spec.weights, device=cfg.device,
                               batch_size=cfg.batch_size, spatial_grid=spec.spatial_grid,
                               motion=MotionSpec.from_dict(spec.motion) if spec.motion else None)
    finder = ShotFinder(embedder, detector=cfg.shot_detector, model=cfg.shot_model, tags=cfg.tags,
                        tag_threshold=cfg.tag_threshold)
    return finder, cfg.sample_fps or sample_fps


def shot_sources(sources: Sequence[str], finder: ShotFinder, cfg: ShotsSettings, *, sample_fps: float,
                 progress: Callable[[str], Any] | None = None,
                 on_result: Callable[[ShotList], None] | None = None,
                 on_error: Callable[[str, VidgruError], None] | None = None) -> list[str]:
    """Find the shots of recorded sources one by one and write ``cfg.json`` (JSON Lines) and ``cfg.csv`` (one row
    per shot), both checked before any work and created with the first result. A source that fails is reported
    through ``on_error`` and skipped. Returns the sources that failed."""
    from vidgru.sinks import SHOTS_CSV_HEADER, shots_csv_rows

    check_outputs([("--json", cfg.json, "file"), ("--csv", cfg.csv, "file")],
                  inputs=[*sources, cfg.shot_model])
    failures = []
    with contextlib.ExitStack() as stack:
        sinks = _ResultSinks(stack, cfg.json, cfg.csv, SHOTS_CSV_HEADER, shots_csv_rows)
        for source in sources:
            bar = progress(Path(source).name) if progress is not None else None
            try:
                video = embed_video(source, finder.embedder, sample_fps=sample_fps, fps=cfg.fps, progress=bar)
                result = ShotList(source, video.duration_s, len(video.timestamps_s),
                                  finder.find(video.timestamps_s, video.embeddings, video.duration_s))
            except VidgruError as exc:
                failures.append(source)
                if on_error is not None:
                    on_error(source, exc)
                continue
            finally:
                if bar is not None:
                    bar.close()
            sinks.write(result)
            if on_result is not None:
                on_result(result)
    return failures
