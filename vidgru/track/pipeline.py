"""Source -> detector -> (crop embeddings) -> tracker -> sinks: tracking one input.

:func:`track_source` is the one per-input job behind ``vidgru track`` and ``vidgru batch --task track``: it opens
the source (a video, image folder, camera, stream or MOTChallenge sequence), tracks it and writes the requested
outputs (:class:`TrackOutputs`), returning a :class:`TrackSummary`. Inside, :func:`track_frames` yields each
frame with its tracks; MOTChallenge sequences without images are tracked from their det.txt alone
(:func:`track_sequence_detections`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidgru.errors import VideoOpenError, VidgruError
from vidgru.fileio import check_outputs, distinct_names
from vidgru.settings import TrackSettings
from vidgru.track.tracker import StateModel, Tracker, TrackerConfig
from vidgru.types import Detections, Frame, FrameTracks

if TYPE_CHECKING:
    from vidgru.analytics import Analytics, AnalyticsSpec, AnalyticsSummary
    from vidgru.backbone import Embedder
    from vidgru.detect import Detector

log = logging.getLogger(__name__)

# Score thresholds of the first association stage and for starting tracks, by detector family. Faster R-CNN
# style scores (torchvision, MOTChallenge det.txt) are tuned on the MOT15 training sequences
# (docs/benchmarks.md); NanoDet's sigmoid scores run lower for the same boxes.
_THRESHOLDS = {"file": (0.7, 0.8), "torchvision": (0.7, 0.8), "onnx": (0.45, 0.5), "bgsub": (0.3, 0.3)}

DEFAULT_DETECTOR = "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"  # for sources that bring no detections

APPEARANCE_CROP = 128  # crops are resized to this square before embedding: ~3x cheaper than 224, enough for re-ID


def build_detector(cfg: TrackSettings, spec: str) -> Detector:
    """The detector ``spec`` (``torchvision:<name>``, ``onnx:PATH``, ``bgsub`` or ``file:PATH``) with the
    filtering and device settings of ``cfg``."""
    from vidgru.detect import create_detector

    return create_detector(spec, classes=cfg.class_list, score_threshold=cfg.score_threshold,
                           min_box_size=cfg.min_box_size, device=cfg.device, weights=cfg.weights)


def tracker_config_for(cfg: TrackSettings, detector_spec: str) -> TrackerConfig:
    """The tracker settings for ``cfg``, filling unset thresholds with the defaults of the detector family."""
    from vidgru.detect import detector_kind

    high, new = _THRESHOLDS.get(detector_kind(detector_spec), (0.5, 0.6))
    base = TrackerConfig()
    return replace(
        base,
        high_threshold=cfg.high_threshold if cfg.high_threshold is not None else high,
        new_track_threshold=cfg.new_track_threshold if cfg.new_track_threshold is not None else new,
        low_threshold=min(cfg.low_threshold, cfg.high_threshold if cfg.high_threshold is not None else high),
        motion_weight=cfg.motion_weight,
        min_hits=cfg.min_hits,
        max_lost_s=cfg.max_lost_s,
    )


def build_tracker(cfg: TrackSettings, detector_spec: str, *, fps: float | None = None) -> Tracker:
    """A :class:`Tracker` with the state model ``cfg.state_model`` (the shipped GRU model unless
    ``cfg.state_model_file`` names another)."""
    motion: StateModel
    if cfg.state_model == "gru":
        from vidgru.track.gru_motion import GruBank

        motion = GruBank(cfg.state_model_file, dt_s=1.0 / fps if fps else 0.1)
    else:
        from vidgru.track.kalman import KalmanBank

        motion = KalmanBank()
    return Tracker(motion=motion, config=tracker_config_for(cfg, detector_spec))


def appearance_embedder(*, device: str = "auto", runtime: str = "auto", size: int = APPEARANCE_CROP) -> Embedder:
    """The default backbone set up for object crops: inputs are ``size`` x ``size`` (crops are stretched to it,
    not centre-cropped, so the whole object is seen)."""
    from dataclasses import replace as _replace

    from vidgru.backbone import create_embedder

    embedder = create_embedder(device=device, runtime=runtime, batch_size=64)
    embedder.preprocess = _replace(embedder.preprocess, resize_size=size, crop_size=size)
    return embedder


def crop_embeddings(embedder: Embedder, image: np.ndarray, boxes: np.ndarray, mask: np.ndarray | None = None
                    ) -> np.ndarray:
    """L2-normalised appearance embeddings (N, D) of the boxes (N, 4) xyxy cut from ``image`` (H, W, 3) RGB.
    Only rows where ``mask`` is true are embedded; the others are zeros."""
    import cv2

    h, w = image.shape[:2]
    size = embedder.preprocess.crop_size
    boxes = np.asarray(boxes, dtype=np.float64)
    keep = np.flatnonzero(mask) if mask is not None else np.arange(len(boxes))
    crops = []
    for x1, y1, x2, y2 in boxes[keep]:
        xa, ya = int(np.clip(x1, 0, w - 1)), int(np.clip(y1, 0, h - 1))
        xb, yb = int(np.clip(np.ceil(x2), xa + 1, w)), int(np.clip(np.ceil(y2), ya + 1, h))
        crops.append(cv2.resize(image[ya:yb, xa:xb], (size, size), interpolation=cv2.INTER_AREA))
    out = None
    if crops:
        feats = np.asarray(embedder.embed(np.stack(crops)), dtype=np.float32)
        out = np.zeros((len(boxes), feats.shape[1]), dtype=np.float32)
        out[keep] = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
    return out


def track_frames(frames: Iterable[Frame], detector: Detector, tracker: Tracker, *, embedder: Embedder | None = None,
                 detect_every: int = 1,
                 batch_size: int = 1) -> Iterator[tuple[Frame, FrameTracks]]:
    """Track objects through ``frames`` (in order). Detection runs on every ``detect_every``-th frame, in
    batches of up to ``batch_size`` frames (use 1 for live sources); on the others the tracker coasts.

    Yields ``(frame, tracks)`` per frame, in order.
    """
    pending: list[tuple[Frame, bool]] = []

    def flush():
        to_detect = [f for f, d in pending if d]
        found = iter(detector.detect(to_detect)) if to_detect else iter(())
        for frame, detect in pending:
            if not detect:
                yield frame, tracker.coast(frame.timestamp_s, frame_index=frame.index)
                continue
            dets: Detections = next(found)
            emb = None
            if embedder is not None and len(dets):  # only boxes that can be matched by appearance are embedded
                emb = crop_embeddings(embedder, frame.image, dets.xyxy,
                                      dets.scores >= tracker.config.high_threshold)
            yield frame, tracker.update(dets, frame.timestamp_s, embeddings=emb, frame_index=frame.index)
        pending.clear()

    source = iter(frames)
    for n in itertools.count():
        try:
            frame = next(source)
        except StopIteration:
            break
        except VidgruError:
            if pending:  # the frames read before the source failed are tracked too
                yield from flush()
            raise
        pending.append((frame, n % detect_every == 0))
        if sum(d for _, d in pending) >= batch_size or (batch_size == 1):
            yield from flush()
    if pending:
        yield from flush()


def track_sequence_detections(detections: list[Detections], fps: float, tracker: Tracker
                              ) -> Iterator[FrameTracks]:
    """Track a MOTChallenge sequence from its detections alone (no images): frame i at time i / fps."""
    for i, dets in enumerate(detections):
        yield tracker.update(dets, i / fps, frame_index=i)


# ------------------------------------------------------------------------------------------ one input, whole


@dataclass(frozen=True)
class TrackOutputs:
    """Where one input's results go (None: not written): MOTChallenge txt, JSON Lines (``"-"``: stdout), an
    annotated mp4, and the analytics outputs: events as JSON Lines (``"-"``: stdout), the summary (.json or
    .csv) and the heatmap PNG."""

    mot: str | Path | None = None
    jsonl: str | Path | None = None
    video: str | Path | None = None
    events: str | Path | None = None
    summary: str | Path | None = None
    heatmap: str | Path | None = None

    @classmethod
    def for_input(cls, cfg: TrackSettings, name: str, *, many: bool) -> TrackOutputs:
        """The outputs ``cfg`` asks for; with ``many`` inputs its paths are folders holding ``<name>.txt``,
        ``<name>.jsonl``, ``<name>.annotated.mp4``, ``<name>.events.jsonl``, ``<name>.summary.json`` (or .csv
        when the folder's name ends in .csv) and ``<name>.heatmap.png`` (JSON Lines to stdout stay on stdout)."""
        if not many:
            return cls(cfg.mot, cfg.json, cfg.out_video, cfg.events, cfg.summary, cfg.heatmap)
        summary_ext = ".csv" if cfg.summary and str(cfg.summary).lower().endswith(".csv") else ".json"
        return cls(Path(cfg.mot) / f"{name}.txt" if cfg.mot else None,
                   cfg.json if cfg.json in (None, "-") else Path(cfg.json) / f"{name}.jsonl",
                   Path(cfg.out_video) / f"{name}.annotated.mp4" if cfg.out_video else None,
                   cfg.events if cfg.events in (None, "-") else Path(cfg.events) / f"{name}.events.jsonl",
                   Path(cfg.summary) / f"{name}.summary{summary_ext}" if cfg.summary else None,
                   Path(cfg.heatmap) / f"{name}.heatmap.png" if cfg.heatmap else None)

    @classmethod
    def for_inputs(cls, cfg: TrackSettings, items: list[Any]) -> list[TrackOutputs]:
        """The outputs of each of ``items`` (:func:`track_inputs`), checked before any work: with several
        inputs, inputs whose names collide get distinct file names (:func:`vidgru.fileio.distinct_names`:
        ``clip.avi.txt``, then ``a_clip.mp4.txt``).

        Raises:
            ConfigError: an output cannot be written, or would overwrite an input (:func:`check_track_outputs`).
        """
        many = len(items) > 1
        names = [input_name(item) for item in items]
        if many and (cfg.mot or cfg.out_video or cfg.json not in (None, "-") or cfg.events not in (None, "-")
                     or cfg.summary or cfg.heatmap):
            names = distinct_names([_input_path(item) for item in items], names)
        outputs = [cls.for_input(cfg, name, many=many) for name in names]
        check_track_outputs(cfg, items, outputs)
        return outputs

    @property
    def files(self) -> list[str | Path]:
        """The files asked for (stdout excluded)."""
        return [p for p in (self.mot, self.jsonl, self.video, self.events, self.summary, self.heatmap)
                if p is not None and str(p) != "-"]


def _input_path(item: Any) -> str:
    from vidgru.mot import MotSequence

    if isinstance(item, MotSequence):
        return str(item.path)
    return f"camera{item}" if isinstance(item, int) else str(item)


def check_track_outputs(cfg: TrackSettings, items: list[Any], outputs: list[TrackOutputs]) -> None:
    """Refuse, before any work, outputs that cannot be written or would overwrite what tracking reads: the
    inputs (a sequence folder and everything in it, a video, an image folder), a detections or model file.

    Raises:
        ConfigError: naming the flag and the path (:func:`vidgru.fileio.check_outputs`).
    """
    inputs: list[Any] = [_input_path(item) for item in items if not isinstance(item, int)]
    inputs += [cfg.weights, cfg.state_model_file, cfg.analytics]
    from vidgru.detect import detector_kind

    spec = cfg.detector or ""
    if detector_kind(spec) in ("file", "onnx") and ":" in spec:
        inputs.append(spec.split(":", 1)[1])  # the det.txt or model file it reads
    kind = "folder" if len(outputs) > 1 else "file"
    check_outputs([("--mot", cfg.mot, kind), ("--json", cfg.json, kind), ("--out-video", cfg.out_video, kind),
                   ("--events", cfg.events, kind), ("--summary", cfg.summary, kind), ("--heatmap", cfg.heatmap, kind)],
                  inputs=inputs)
    if len(outputs) > 1:
        flags = ("--mot", "--json", "--out-video", "--events", "--summary", "--heatmap")
        check_outputs([(flag, path, "file") for out in outputs
                       for flag, path in zip(flags, (out.mot, out.jsonl, out.video, out.events, out.summary,
                                                     out.heatmap), strict=True)], inputs=inputs)


@dataclass(frozen=True)
class TrackSummary:
    """What tracking one input did: its name, frames processed, distinct track IDs reported, wall time, and
    whether a live source was stopped by the user (Ctrl-C, or q/Esc in the window); ``incomplete`` says why the
    input ended early (a truncated file: the results of the frames before are kept) and
    ``written`` lists the files written."""

    name: str
    frames: int
    tracks: int
    seconds: float
    stopped: bool = False
    incomplete: str | None = None
    written: tuple[str, ...] = ()
    analytics: AnalyticsSummary | None = None

    @property
    def frames_per_s(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def analytics_spec_for(cfg: TrackSettings) -> AnalyticsSpec | None:
    """What the analytics stage measures for ``cfg`` (``--line``, ``--zone``, ``--analytics``), or None when no
    analytics is asked for; an analytics output without lines or zones still gets speeds and the heatmap.

    Raises:
        ConfigError: a bad line, zone or analytics file (checked before any input is opened).
    """
    if not cfg.wants_analytics:
        return None
    from vidgru.analytics import AnalyticsSpec, analytics_spec

    return analytics_spec(cfg.line, cfg.zone, cfg.analytics) or AnalyticsSpec()


class _AnalyticsOutputs:
    """The analytics stage of one input and its outputs: events as they happen, the heatmap, the summary."""

    def __init__(self, spec: AnalyticsSpec, outputs: TrackOutputs, size: tuple[int, int] | None, fps: float,
                 forget_s: float) -> None:
        from vidgru.analytics import Analytics
        from vidgru.analytics.heatmap import Heatmap

        self.analytics: Analytics = Analytics(spec, frame_size=size, forget_s=forget_s)  # ConfigError: geometry
        self.outputs = outputs
        if outputs.heatmap and size is None:
            raise VidgruError("--heatmap: the frame size of this input is unknown (no images, no size in "
                              "seqinfo.ini)")
        self.heatmap = Heatmap(size) if outputs.heatmap and size is not None else None
        self.frame_s = 1.0 / fps if fps else 0.0
        self.events = None
        self.background = None  # the last frame (H, W, 3) RGB, under the heatmap

    def open(self, stack: contextlib.ExitStack) -> list:
        from vidgru.sinks import JsonlSink

        if self.outputs.events:
            self.events = stack.enter_context(JsonlSink(self.outputs.events))
            return [self.events]
        return []

    def update(self, ft: FrameTracks, image: np.ndarray | None = None) -> None:
        from vidgru.analytics import anchor_points

        self._write(self.analytics.update(ft))
        if self.heatmap is not None:
            self.heatmap.add(anchor_points(ft.tracks, self.analytics.spec.anchor), seconds=self.frame_s)
            self.background = image if image is not None else self.background

    def _write(self, events: list) -> None:
        if self.events is not None:
            for event in events:
                self.events.write_record(event.to_dict())

    def finish(self) -> tuple[AnalyticsSummary, list[str]]:
        """Write the events of the end of the input, the summary and the heatmap; return the summary and the
        files written."""
        from vidgru.analytics.events import SUMMARY_CSV_HEADER
        from vidgru.fileio import strict_json, write_text_atomic

        self._write(self.analytics.finish())
        summary = self.analytics.summary()
        written = []
        if self.outputs.summary:
            path = self.outputs.summary
            if str(path).lower().endswith(".csv"):
                import csv
                import io

                buf = io.StringIO()
                csv.writer(buf).writerows([SUMMARY_CSV_HEADER, *summary.csv_rows()])
                write_text_atomic(path, buf.getvalue())
            else:
                write_text_atomic(path, strict_json(summary.to_dict(), indent=1) + "\n")
            written.append(str(path))
        if self.heatmap is not None:
            self.heatmap.save(self.outputs.heatmap, background=self.background)
            written.append(str(self.outputs.heatmap))
        return summary, written


def track_inputs(source: str | int) -> list[Any]:
    """What ``vidgru track SOURCE`` tracks: a camera index stays as it is; a MOTChallenge sequence folder gives
    its :class:`~vidgru.mot.MotSequence`; a folder of such sequences gives all of them; anything else (a video
    file, an image folder or glob, a stream URL) is tracked as a video source."""
    from vidgru.mot import find_mot_sequences, is_mot_sequence, open_mot_sequence

    if isinstance(source, int):
        return [source]
    path = Path(source)
    if path.is_dir() and is_mot_sequence(path):
        return [open_mot_sequence(path)]
    if path.is_dir():
        seqs = find_mot_sequences(path)
        if seqs:
            return list(seqs)
    return [source]


def input_name(item: Any) -> str:
    """A short name for a track input: the sequence name, ``camera<N>`` or the file/folder stem."""
    from vidgru.mot import MotSequence

    if isinstance(item, MotSequence):
        return item.name
    return f"camera{item}" if isinstance(item, int) else Path(str(item)).stem


def detector_spec_for(cfg: TrackSettings, item: Any) -> str:
    """The detector spec for ``item``: ``cfg.detector``, or ``file`` for a MOTChallenge sequence and the
    torchvision default otherwise; ``file`` is resolved to the sequence's det.txt."""
    from vidgru.mot import MotSequence

    is_seq = isinstance(item, MotSequence)
    spec = cfg.detector or ("file" if is_seq else DEFAULT_DETECTOR)
    if spec == "file":
        if not is_seq:
            raise VidgruError("--detector file needs a MOTChallenge sequence folder (or file:PATH to a det.txt)")
        from vidgru.detect import sequence_detections_path

        spec = f"file:{sequence_detections_path(item.path)}"
    return spec


def track_source(item: Any, cfg: TrackSettings, outputs: TrackOutputs, *, detectors: dict[str, Detector] | None = None,
                 embedder: Callable[[], Embedder] | None = None, show: bool = False, progress: Any = None,
                 detect_batch: int = 4, keep_partial: bool = False) -> TrackSummary:
    """Track one input and write its outputs.

    The input is opened first, then the detector built, then the outputs created: an input that cannot be read
    leaves no file behind. Outputs that hold results when the run stops early (Ctrl-C, the input failing
    part-way) are kept, and the error says so (a note on the exception); outputs without any are removed.

    Args:
        item: a video file, image folder or glob, stream URL, camera index (int), or a
            :class:`~vidgru.mot.MotSequence` (tracked from its det.txt; without images, no frames are read).
        cfg: the tracking settings (detector, state model, thresholds, frame rate, frame limit...).
        outputs: where results go; files are written whole (on an error or Ctrl-C the results so far are kept).
        detectors: a cache of built detectors by spec, reused across inputs (models are built once).
        embedder: returns the appearance embedder, called only when ``cfg.appearance`` and there are frames.
        show: show a live window (q, Esc or closing it stops).
        progress: an optional tqdm-like bar (``total`` is set here, ``update(1)`` per frame).
        detect_batch: frames per detector call for files (live sources use 1, for latency).
        keep_partial: when a recorded input fails part-way (a truncated or corrupt file), return the summary of
            the frames before with ``incomplete`` set instead of raising.

    Raises:
        VidgruError: unreadable input, a bad detector, no frames to draw or show for an image-less sequence, an
            output that cannot be written.
    """
    from vidgru.analytics.draw import draw_analytics
    from vidgru.detect import check_spec
    from vidgru.mot import MotSequence
    from vidgru.sinks import LiveWindow, MotSink, TrackJsonlSink, TrailHistory, VideoSink, draw_tracks
    from vidgru.video import VideoSource, is_live_source

    name = input_name(item)
    spec = detector_spec_for(cfg, item)
    check_spec(spec)  # a wrong --detector is reported before the input is opened
    analytics_spec = analytics_spec_for(cfg)  # and bad lines, zones or analytics files
    stage: _AnalyticsOutputs | None = None
    analytics_summary, analytics_written = None, []
    detectors = {} if detectors is None else detectors
    is_seq = isinstance(item, MotSequence)
    frames_done, ids, stopped, incomplete = 0, set(), False, None
    t0 = time.perf_counter()
    files: list = []  # the file sinks, to say which were kept

    def get_detector() -> Detector:  # built once the input opened; models once for all inputs
        if spec not in detectors:
            detectors[spec] = build_detector(cfg, spec)
        found = detectors[spec]
        found.reset()
        return found

    def open_sinks(stack: contextlib.ExitStack, size: tuple[int, int] | None, fps: float) -> list:
        nonlocal stage
        if analytics_spec is not None:  # bad geometry for this frame size fails here, before any file
            stage = _AnalyticsOutputs(analytics_spec, outputs, size, fps, cfg.max_lost_s)
        opened = []
        if outputs.mot:
            opened.append(stack.enter_context(MotSink(outputs.mot)))
        if outputs.jsonl:
            opened.append(stack.enter_context(TrackJsonlSink(outputs.jsonl)))
        if stage is not None:
            files.extend(stage.open(stack))
        files.extend(opened)
        return opened

    def written() -> tuple[str, ...]:
        return tuple(str(f.path) for f in files if f.kept) + tuple(analytics_written)

    def record(ft: FrameTracks, sinks: list, image: np.ndarray | None = None) -> None:
        nonlocal frames_done
        for sink in sinks:
            sink.write(ft)
        if stage is not None:
            stage.update(ft, image)
        ids.update(t.track_id for t in ft.tracks)
        frames_done += 1
        if progress is not None:
            progress.update(1)

    try:
        with contextlib.ExitStack() as stack:
            if is_seq and item.image_dir is None:
                # Detections only (MOT15 here has no images): motion-only tracking, no video.
                if outputs.video or show:
                    raise VidgruError(f"{item.path}: the sequence has no images, so there is nothing to draw or "
                                      "show")
                detector = get_detector()
                n = item.length or (max(detector.detections, default=-1) + 1)
                n = min(n, cfg.max_frames) if cfg.max_frames else n
                if progress is not None:
                    progress.total = n
                dets = [detector.at(i) for i in range(n)]
                fps = cfg.fps or item.fps
                tracker = build_tracker(cfg, spec, fps=fps)
                size = (item.width, item.height) if item.width and item.height else None
                sinks = open_sinks(stack, size, fps)
                for ft in track_sequence_detections(dets, fps, tracker):
                    record(ft, sinks)

            else:
                # The input first (a missing file fails in a moment), then the models, then the outputs.
                source = str(item.image_dir) if is_seq else item
                live = not is_seq and is_live_source(source)
                video = stack.enter_context(VideoSource(source, fps=cfg.fps or (item.fps if is_seq else None),
                                                        live=live, max_frames=cfg.max_frames,
                                                        reconnect_s=cfg.reconnect_s,
                                                        max_reconnects=cfg.max_reconnects))
                detector = get_detector()
                fps = video.info.fps
                tracker = build_tracker(cfg, spec, fps=fps)
                app = embedder() if cfg.appearance and embedder is not None else None
                window = stack.enter_context(LiveWindow(f"vidgru track - {name}")) if show else None
                sinks = open_sinks(stack, (video.info.width, video.info.height), fps)
                writer = stack.enter_context(VideoSink(outputs.video, fps)) if outputs.video else None
                if writer is not None:
                    files.append(writer)
                trails = TrailHistory(max_age_s=cfg.trail_s)
                if progress is not None and not live:
                    total = video.info.frame_count
                    progress.total = min(total, cfg.max_frames) if total and cfg.max_frames else total
                tick, rate = time.perf_counter(), 0.0
                try:
                    for frame, ft in track_frames(video, detector, tracker, embedder=app,
                                                  detect_every=cfg.detect_every,
                                                  batch_size=1 if live else detect_batch):
                        record(ft, sinks, frame.image)
                        if writer or window:
                            now = time.perf_counter()
                            rate = 0.9 * rate + 0.1 / max(now - tick, 1e-6) if rate else 1.0 / max(now - tick, 1e-6)
                            tick = now
                            trails.update(ft)
                            image = draw_tracks(frame.image, ft, trails, fps=rate if window else None)
                            if stage is not None:
                                image = draw_analytics(image, stage.analytics, in_place=True)
                            if writer:
                                writer.write(image)
                            if window and not window.show(image):
                                stopped = True  # q, Esc or the window closed
                                break
                except KeyboardInterrupt:
                    if not live:
                        raise
                    stopped = True
                except VideoOpenError as exc:
                    # A recorded input failed part-way (a truncated or corrupt file): the frames before it are
                    # results. A live source that stops is an error (its results so far are kept too).
                    if not (keep_partial and frames_done and not live):
                        raise
                    incomplete = f"{exc}; kept the results of the {frames_done} frames before it"
            if stage is not None:  # the input ended (or a live one was stopped): the analytics outputs
                analytics_summary, analytics_written = stage.finish()
    except (VidgruError, KeyboardInterrupt) as exc:
        kept = written()
        if kept:
            exc.add_note(f"kept the results of the first {frames_done} frames in {', '.join(kept)}")
        raise
    return TrackSummary(name, frames_done, len(ids), time.perf_counter() - t0, stopped, incomplete, written(),
                        analytics_summary)
