"""What each command is asked to do: frozen, validated settings records, one per command.

A ``*Settings`` record is what a command hands to the library (``ClassifySettings`` -> :mod:`vidgru.classify`,
``TrackSettings`` -> :func:`vidgru.track.pipeline.track_source`, ...). A component's own hyper-parameters are
``*Config`` records beside the component (``TrackerConfig``, ``GruMotionConfig``, ``MotionTrainConfig``).

Each field has one default and its help text beside it (``metadata["help"]``); ``vidgru.config`` fills these
records from YAML files and command-line flags, and ``vidgru.cli`` makes one ``--flag`` per field. Old names of
renamed fields stay accepted (``metadata["aliases"]``). Bad values raise :class:`ConfigError` naming the field.

A leaf module: it imports only the error types and :mod:`vidgru.choices`, so every stage may use it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidgru.choices import (
    BACKBONE_NAMES,
    BATCH_TASKS,
    DATA_KINDS,
    EXECUTORS,
    HEADS,
    POOLINGS,
    PRECISIONS,
    RUNTIMES,
    SHOT_DETECTORS,
    STATE_MODELS,
)
from vidgru.errors import ConfigError

DEVICE_HELP = "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps."
RUNTIME_HELP = "Backbone runtime: auto (ONNX Runtime on a CPU when installed, else PyTorch), torch or onnx."


def setting(default: Any = None, help: str = "", *, aliases: tuple[str, ...] = (), path: bool = False,
            allow_inf: bool = False) -> Any:
    """A settings field: its default, its help text, old names still accepted, and whether it names a file.
    Numbers must be finite unless ``allow_inf`` (then ``inf`` is accepted, and its help should say what it means;
    ``nan`` never is)."""
    return dataclasses.field(default=default, metadata={"help": help, "aliases": aliases, "path": path,
                                                        "allow_inf": allow_inf})


def field_help(cls: type, name: str) -> str:
    return next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name)


# Integers are handed to C code (OpenCV, torch, numpy): beyond a C int they overflow there, far from the flag.
MAX_INT = 2**31 - 1


def _check_numbers(obj: Any) -> None:
    """Every number in a settings record is finite and every integer fits a C int: ``nan`` compares false with
    everything and would slip past the range checks below; ``inf`` would pass ``> 0``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            if not (f.metadata.get("allow_inf") and value == math.inf):
                raise ConfigError(f"{f.name}: must be a finite number, got {value}")
        elif isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
            raise ConfigError(f"{f.name}: must be between {-MAX_INT} and {MAX_INT}, got {value}")


def _check_positive(obj: Any, *names: str, allow_none: bool = True) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None and allow_none:
            continue
        if value is None or not value > 0:
            raise ConfigError(f"{name}: must be > 0, got {value}")


def _check_not_negative(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and not value >= 0:
            raise ConfigError(f"{name}: must be >= 0, got {value}")


def _check_choice(obj: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        aliases = next((f.metadata.get("aliases", ()) for f in dataclasses.fields(obj) if f.name == name), ())
        label = f"{name} (old name: {', '.join(aliases)})" if aliases else name
        raise ConfigError(f"{label}: {value!r} is not one of {', '.join(choices)}")


def _check_fraction(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name}: must be between 0 and 1, got {value}")


def names_list(text: str | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty items dropped); None -> []."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


# -------------------------------------------------------------------------------------------------- classify

SHOT_DETECTOR_HELP = ("Shot boundaries: auto (the shipped learned detector, else rules), learned, rules "
                      "(parameter-free: cuts and fades) or none (the whole video is one shot).")
TAG_THRESHOLD_HELP = "Content tags: the least mean probability over a shot for a category to be shown."


@dataclass(frozen=True)
class ClassifySettings:
    """Settings of ``vidgru classify``. ``None`` for a sampling value means "as the model was trained"."""

    model: str | None = setting(None, "Trained clip model (.pt from `vidgru train`, or a folder from `vidgru "
                                      "export`: ONNX Runtime, no PyTorch). Default: the camera-motion model "
                                      "shipped with vidgru.", path=True)
    window_s: float | None = setting(None, "Window length in seconds. Default: as the model was trained.")
    stride_s: float | None = setting(None, "Seconds between window starts. Default: as the model was trained.")
    sample_fps: float | None = setting(None, "Frames per second fed to the model. Default: as the model was "
                                             "trained.")
    fps: float | None = setting(None, "Frame rate to assume when the file's own is wrong or missing (image "
                                      "folders: default 25).")
    reconnect_s: float = setting(1.0, "Cameras and streams that drop: seconds before the first attempt to "
                                      "reconnect; the wait doubles after each failed attempt, up to 30 s.")
    max_reconnects: int = setting(5, "Cameras and streams: reconnection attempts in a row before giving up (0: "
                                     "stop at the first drop).")
    weights: str | None = setting(None, "Backbone weights file, if the model was trained on custom weights.",
                                  path=True)
    device: str = setting("auto", DEVICE_HELP)
    precision: str = setting("auto", "auto (fp16 on CUDA, fp32 elsewhere), fp32, fp16 or bf16.")
    runtime: str = setting("auto", RUNTIME_HELP)
    batch_size: int = setting(32, "Frames per backbone forward pass.")
    top_k: int = setting(3, "Classes listed per video in the table.")
    json: str | None = setting(None, "Write JSON Lines here, one object per input ('-' = stdout; the table then "
                                     "goes to stderr).", path=True)
    csv: str | None = setting(None, "Write a CSV of clip, segment and window rows here.", path=True)
    out_video: str | None = setting(None, "Write the video with the current label drawn on it (with several "
                                          "inputs: a folder, <name>.annotated.mp4 in it).", path=True)
    shot_detector: str = setting("auto", SHOT_DETECTOR_HELP)
    shot_model: str | None = setting(None, "Shot-boundary model (.pt). Default: the one shipped with vidgru.",
                                     path=True)
    tags: bool = setting(True, "Tag each shot with the ImageNet categories the backbone's own head sees in it.")
    tag_threshold: float = setting(0.1, TAG_THRESHOLD_HELP)

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_positive(self, "window_s", "stride_s", "sample_fps", "fps", "batch_size", "top_k", "reconnect_s")
        _check_not_negative(self, "max_reconnects")
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "runtime", RUNTIMES)
        _check_choice(self, "shot_detector", SHOT_DETECTORS)
        _check_fraction(self, "tag_threshold")


@dataclass(frozen=True)
class ShotsSettings:
    """Settings of ``vidgru shots``: shot boundaries (and optionally tags) without the camera-motion model."""

    shot_detector: str = setting("auto", SHOT_DETECTOR_HELP)
    shot_model: str | None = setting(None, "Shot-boundary model (.pt). Default: the one shipped with vidgru.",
                                     path=True)
    tags: bool = setting(False, "Also tag each shot with the ImageNet categories the backbone's own head sees in "
                                "it (no extra cost worth counting).")
    tag_threshold: float = setting(0.1, TAG_THRESHOLD_HELP)
    sample_fps: float | None = setting(None, "Frames per second examined. Default: as the shot model was trained "
                                             "(8).")
    fps: float | None = setting(None, "Frame rate to assume when the file's own is wrong or missing (image "
                                      "folders: default 25).")
    device: str = setting("auto", DEVICE_HELP)
    runtime: str = setting("auto", RUNTIME_HELP)
    batch_size: int = setting(32, "Frames per backbone forward pass.")
    json: str | None = setting(None, "Write JSON Lines here, one object per input ('-' = stdout; the table then "
                                     "goes to stderr).", path=True)
    csv: str | None = setting(None, "Write a CSV with one row per shot here.", path=True)

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_positive(self, "sample_fps", "fps", "batch_size")
        _check_choice(self, "runtime", RUNTIMES)
        _check_choice(self, "shot_detector", SHOT_DETECTORS)
        _check_fraction(self, "tag_threshold")


# ----------------------------------------------------------------------------------------------------- train


@dataclass(frozen=True)
class TrainSettings:
    """Settings of ``vidgru train``: data, embedding, model and optimisation."""

    data: str | None = setting(None, "Labelled clips or images: DATA_DIR/<class>/<videos or images> or a CSV/TXT "
                                     "list of path,label.", path=True)
    out: str = setting("model.pt", "Where to write the model checkpoint (metrics JSON and PNG plots go next to "
                                   "it).", path=True)
    val_dir: str | None = setting(None, "A separate validation data set (same layout); otherwise a stratified "
                                        "split of DATA_DIR.", path=True)
    val_fraction: float = setting(0.2, "Share of each class held out for validation when there is no --val-dir.")
    data_kind: str = setting("auto", "clips, images, or auto: images when the class folders (or the list) hold "
                                     "image files, each one a sample (an image model); clips otherwise.")
    # embedding
    backbone: str = setting("mobilenet_v2", "Frame embedder: " + ", ".join(BACKBONE_NAMES) + ".")
    weights: str | None = setting(None, "Backbone weights: a torchvision weights id, a .pth file, or 'none' for "
                                        "random.", path=True)
    spatial_grid: int = setting(1, "Pool the backbone's feature map to a g x g grid (keeps coarse layout; D grows "
                                   "by g*g).")
    motion: bool = setting(True, "Also compute frame-pair motion descriptors from the backbone's feature maps "
                                 "(GRU input).")
    motion_gaps: str = setting("1,2,4", "Frame pairs the motion descriptors compare, in sampled frames, "
                                        "comma-separated and increasing (1,2,4 = 0.125, 0.25, 0.5 s at 8 "
                                        "frames/s); longer gaps see slower motion.")
    motion_flow: bool = setting(True, "Add global-motion descriptors (shift, zoom, rotation of tracked corners, "
                                      "fitted robustly) to the motion descriptors: sub-pixel camera motion, "
                                      "unmoved by people walking through.")
    sample_fps: float = setting(8.0, "Frames per second sampled from each clip.")
    max_frames: int = setting(256, "At most this many sampled frames per training clip.")
    cache_dir: str | None = setting(None, "Embedding cache folder. Default: $VIDGRU_CACHE or "
                                          "~/.cache/vidgru/embeddings.", path=True)
    # windows (training samples and later classification)
    window_s: float = setting(2.0, "Seconds of video per training sample and per classification window.")
    stride_s: float = setting(1.0, "Seconds between classification windows (stored in the model).")
    # model
    head: str = setting("gru", "Clips: gru (temporal model) or mean (order-less baseline: mean of frame "
                               "embeddings -> linear). Images: gru (region GRU over the cells of the feature "
                               "map), linear (linear probe on pooled features) or mlp (pooled features -> MLP).")
    appearance: bool = setting(True, "Feed appearance features to the GRU (turn off for content-agnostic tasks "
                                     "like camera motion).")
    proj_dim: int = setting(256, "Size of the projection before the GRU.")
    hidden_size: int = setting(256, "GRU hidden size.")
    num_layers: int = setting(1, "GRU layers.")
    bidirectional: bool = setting(False, "Bidirectional GRU.")
    pooling: str = setting("attention", "How GRU outputs become one vector: last, mean or attention.")
    dropout: float = setting(0.2, "Dropout probability.")
    image_grid: int = setting(7, "Images: the backbone's feature map pooled to g x g cells, read by the region GRU "
                                 "as g*g steps (7: MobileNetV2's own 7 x 7 map at 224 x 224).")
    flip_augment: bool = setting(False, "Images: mirror half the training images left-right by permuting their "
                                        "cached cells (labels kept: leave off when left and right differ).")
    # optimisation
    epochs: int = setting(60, "Maximum epochs.")
    batch_size: int = setting(32, "Windows per optimisation step.")
    lr: float = setting(1e-3, "AdamW learning rate.")
    weight_decay: float = setting(1e-2, "AdamW weight decay.")
    patience: int = setting(12, "Stop after this many epochs without a better validation accuracy.")
    seed: int = setting(0, "Random seed (split, sampling, initialisation).")
    speed_jitter: float = setting(0.2, "Training windows are read at a random speed in [1-j, 1+j].")
    transition_prob: float = setting(0.0, "Share of training windows spliced from two clips (the label is split "
                                          "by time covered), so windows across a change of content are learnt "
                                          "too.")
    motion_augment: bool = setting(False, "Camera-motion classes only: mirror and time-reverse training clips by "
                                          "permuting their motion descriptors, swapping pan_left/right, "
                                          "tilt_up/down and zoom_in/out to match.")
    device: str = setting("auto", DEVICE_HELP)
    precision: str = setting("auto", "Backbone precision: auto, fp32, fp16 or bf16.")
    runtime: str = setting("auto", RUNTIME_HELP)

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_positive(self, "sample_fps", "max_frames", "window_s", "stride_s", "proj_dim", "hidden_size",
                        "num_layers", "epochs", "batch_size", "lr", "patience", "spatial_grid", "image_grid")
        _check_choice(self, "data_kind", DATA_KINDS)
        _check_choice(self, "backbone", BACKBONE_NAMES)
        _check_choice(self, "head", HEADS)
        _check_choice(self, "pooling", POOLINGS)
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "runtime", RUNTIMES)
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction: must be between 0 and 1, got {self.val_fraction}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.speed_jitter < 1.0:
            raise ConfigError(f"speed_jitter: must be in [0, 1), got {self.speed_jitter}")
        if not 0.0 <= self.transition_prob <= 1.0:
            raise ConfigError(f"transition_prob: must be in [0, 1], got {self.transition_prob}")
        if self.head == "mean" and not self.appearance:
            raise ConfigError("appearance: the mean head averages appearance features; it cannot be turned off")
        if self.motion_augment and (self.appearance or not self.motion):
            raise ConfigError("motion_augment: needs motion: true and appearance: false (mirroring and reversing "
                              "permute the motion descriptors; appearance features cannot follow)")
        if not self.appearance and not self.motion:
            raise ConfigError("appearance: false needs motion: true (the model would have no input)")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay: must be >= 0, got {self.weight_decay}")
        if self.seed < 0:
            raise ConfigError(f"seed: must be >= 0, got {self.seed}")
        self.motion_gap_tuple()  # validates

    def motion_gap_tuple(self) -> tuple[int, ...]:
        """``motion_gaps`` ("1,2,4") as a tuple of sampled-frame gaps: positive integers in increasing order."""
        parts = [p.strip() for p in str(self.motion_gaps).split(",")]
        try:
            gaps = tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"motion_gaps: expected comma-separated integers like 1,2,4, got {self.motion_gaps!r}"
                              ) from None
        if not gaps or any(g < 1 for g in gaps):
            raise ConfigError(f"motion_gaps: every gap must be a positive integer, got {self.motion_gaps!r}")
        if any(b <= a for a, b in zip(gaps, gaps[1:])):
            raise ConfigError(f"motion_gaps: gaps must be strictly increasing, got {self.motion_gaps!r}")
        return gaps


# ----------------------------------------------------------------------------------------------------- track


@dataclass(frozen=True)
class TrackSettings:
    """Settings of ``vidgru track`` (and of ``vidgru batch --task track``). Thresholds left at ``None`` are
    chosen for the detector family (:func:`vidgru.track.pipeline.tracker_config_for`)."""

    detector: str | None = setting(
        None, "torchvision:<name> (e.g. fasterrcnn_mobilenet_v3_large_320_fpn), onnx:PATH (NanoDet ONNX), bgsub "
              "(background subtraction, static cameras; also 'motion') or file[:PATH] (MOTChallenge det.txt). "
              "Default: file for a MOTChallenge sequence, else torchvision:fasterrcnn_mobilenet_v3_large_320_fpn.")
    classes: str | None = setting(None, "Keep only these classes, comma-separated (e.g. person,car).")
    score_threshold: float | None = setting(None, "Drop detections below this score (default: the detector's own, "
                                                  "low on purpose: the tracker uses low-score boxes to keep tracks "
                                                  "alive).")
    min_box_size: float = setting(0.0, "Drop boxes smaller than this many pixels (shorter side).")
    detect_every: int = setting(1, "Run the detector on every Nth frame; the tracker predicts the frames between.")
    state_model: str = setting("gru", "Track state model: gru (a Kalman filter whose corrections and error scale "
                                      "a GRU learned) or kalman (constant velocity). Old name: motion.",
                               aliases=("motion",))
    state_model_file: str | None = setting(None, "A GRU state model from `vidgru train-motion` (default: the one "
                                                 "shipped with vidgru). Old name: motion_model.",
                                           aliases=("motion_model",), path=True)
    appearance: bool = setting(True, "Match by appearance too (backbone embeddings of the boxes; needs frames, "
                                     "costs time).")
    high_threshold: float | None = setting(None, "Detections at or above this score are matched first and may "
                                                 "start tracks (default by detector: 0.7 torchvision/file, 0.45 "
                                                 "onnx, 0.3 bgsub).")
    low_threshold: float = setting(0.1, "Detections between this and --high-threshold only extend existing "
                                        "tracks.")
    new_track_threshold: float | None = setting(None, "An unmatched detection starts a track only at or above "
                                                      "this score.")
    motion_weight: float = setting(0.4, "Share of the state model's likelihood (the detection's fit to the "
                                        "predicted box, in units of the model's own error scale) in the "
                                        "association similarity; 0 = IoU alone.")
    min_hits: int = setting(3, "Matches before a new track is confirmed and reported.")
    max_lost_s: float = setting(1.5, "Seconds a track may go unseen before it is dropped.")
    fps: float | None = setting(None, "Override the source's frame rate (timestamps, MOT timing).")
    reconnect_s: float = setting(1.0, "Cameras and streams that drop: seconds before the first attempt to "
                                      "reconnect; the wait doubles after each failed attempt, up to 30 s.")
    max_reconnects: int = setting(5, "Cameras and streams: reconnection attempts in a row before giving up (0: "
                                     "stop at the first drop).")
    max_frames: int | None = setting(None, "Stop after this many frames.")
    weights: str | None = setting(None, "Detector weights for torchvision detectors: a .pth file or a torchvision "
                                        "weights id.", path=True)
    device: str = setting("auto", DEVICE_HELP)
    runtime: str = setting("auto", "Appearance backbone runtime: auto, torch or onnx.")
    mot: str | None = setting(None, "Write MOTChallenge txt (frame,id,x,y,w,h,score,-1,-1,-1); a folder when "
                                    "tracking several sequences (<name>.txt each).", path=True)
    json: str | None = setting(None, "Write JSON Lines, one record per frame ('-' for stdout).", path=True)
    out_video: str | None = setting(None, "Write an annotated mp4 (boxes, IDs, classes, trails).", path=True)
    trail_s: float = setting(1.5, "Seconds of trail drawn behind each track.")
    line: tuple[str, ...] = setting((), "A counting line 'NAME:x1,y1,x2,y2' in pixels, or fractions of the frame "
                                        "(all values in [0, 1]). Crossings are 'in' from the left of "
                                        "x1,y1->x2,y2 to its right (downwards for a line drawn left to right).")
    zone: tuple[str, ...] = setting((), "A polygon zone 'NAME:x1,y1,x2,y2,x3,y3,...' (pixels or fractions): "
                                        "occupancy, entries/exits, dwell time.")
    analytics: str | None = setting(None, "A YAML file of lines, zones, a ground-plane calibration and counting "
                                          "rules (configs/analytics.yaml); --line/--zone add to it.", path=True)
    events: str | None = setting(None, "Write analytics events as JSON Lines: line crossings, zone entries and "
                                       "exits ('-' for stdout); a folder with several inputs.", path=True)
    summary: str | None = setting(None, "Write the analytics summary (counts per line, direction and class; zone "
                                        "statistics; speeds) at the end: .json or .csv; a folder with several "
                                        "inputs.", path=True)
    heatmap: str | None = setting(None, "Write a PNG heatmap of where tracks went (over the last frame when there "
                                        "are frames); a folder with several inputs.", path=True)

    def __post_init__(self) -> None:
        _check_numbers(self)
        if not (isinstance(self.line, tuple) and isinstance(self.zone, tuple)):
            raise ConfigError("line and zone: expected lists of 'NAME:x1,y1,...' strings")
        if self.summary and Path(self.summary).suffix.lower() not in ("", ".json", ".csv"):
            raise ConfigError(f"summary {self.summary}: must end in .json or .csv (or name a folder for several "
                              "inputs)")
        if self.json == "-" and self.events == "-":
            raise ConfigError("json and events: only one of them can go to stdout ('-')")
        _check_positive(self, "detect_every", "min_hits", "max_lost_s", "fps", "max_frames", "reconnect_s",
                        allow_none=True)
        _check_not_negative(self, "max_reconnects")
        _check_choice(self, "state_model", STATE_MODELS)
        _check_choice(self, "runtime", RUNTIMES)
        _check_fraction(self, "score_threshold", "high_threshold", "low_threshold", "new_track_threshold",
                        "motion_weight")
        if not (self.min_box_size >= 0 and self.trail_s >= 0):
            raise ConfigError("min_box_size and trail_s: must be >= 0")

    @property
    def class_list(self) -> list[str] | None:
        return names_list(self.classes) or None

    @property
    def has_analytics_shapes(self) -> bool:
        """Lines, zones or an analytics file given (``vidgru batch`` then writes events and a summary)."""
        return bool(self.line or self.zone or self.analytics)

    @property
    def wants_analytics(self) -> bool:
        """Lines, zones or an analytics file given, or an analytics output asked for."""
        return bool(self.line or self.zone or self.analytics or self.events or self.summary or self.heatmap)


# ------------------------------------------------------------------------------------- train-motion (state model)


@dataclass(frozen=True)
class StateModelTrainSettings:
    """Settings of ``vidgru train-motion`` (the tracker's GRU state model)."""

    out: str = setting("motion.pt", "Where to write the GRU state model (a JSON of metrics goes next to it).",
                       path=True)
    val: str | None = setting(None, "Sequences held out for validation: names or glob patterns, comma-separated "
                                    "(GRU vs Kalman is reported on them, per data set).")
    exclude: str | None = setting(None, "Sequences not used at all: names or glob patterns, comma-separated "
                                        "(e.g. a test sequence).")
    first_half: str | None = setting(None, "Sequences of which only the first half is used: names or glob "
                                           "patterns, comma-separated (e.g. 'MOT17-*' when evaluating on the "
                                           "MOT17 val-half protocol).")
    dataset_weights: str | None = setting(None, "Share of training windows per data set, NAME=W,... (data sets "
                                                "are the DATA folders, named as printed at the start). Unnamed "
                                                "data sets weigh 1: by default each gets an equal share, however "
                                                "many trajectories it has.")
    steps: int = setting(2000, "Optimisation steps.")
    batch_size: int = setting(128, "Trajectory windows per step.")
    window: int = setting(48, "Frames per training window.")
    lr: float = setting(3e-3, "Peak learning rate (one-cycle schedule).")
    hidden_size: int = setting(64, "GRU hidden size.")
    seed: int = setting(0, "Random seed.")

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_positive(self, "steps", "batch_size", "window", "lr", "hidden_size", allow_none=False)
        if self.seed < 0:
            raise ConfigError(f"seed: must be >= 0, got {self.seed}")
        self.weights_by_dataset()  # ConfigError now, not after loading the data

    def weights_by_dataset(self) -> dict[str, float]:
        """``dataset_weights`` parsed: data set name -> weight (>= 0)."""
        out: dict[str, float] = {}
        for item in names_list(self.dataset_weights):
            name, sep, value = item.partition("=")
            try:
                weight = float(value)
            except ValueError:
                weight = float("nan")
            if not sep or not name.strip() or not 0 <= weight < math.inf:
                raise ConfigError(f"dataset_weights: expected NAME=WEIGHT with a weight >= 0, got {item!r}")
            out[name.strip()] = weight
        return out


# ----------------------------------------------------------------------------------------------------- batch


@dataclass(frozen=True)
class BatchSettings:
    """Settings of ``vidgru batch``: the task, where results go and how the work is spread; the task's own
    settings are a whole :class:`ClassifySettings` and :class:`TrackSettings` (only the task's one is used)."""

    task: str = setting("classify", "classify (a clip label and timeline per video) or track (MOT txt + JSON "
                                    "Lines per video).")
    out: str = setting("results", "Output folder: results mirror the input tree (a/b/c.mp4 -> a/b/c.json or "
                                  "a/b/c.mot.txt + a/b/c.jsonl), plus manifest.jsonl.", path=True)
    workers: int | None = setting(None, "Worker processes that decode (classify) or run whole jobs (track). "
                                        "Default: from the core count.")
    executor: str = setting("local", "local (worker processes on this machine) or ray (tasks and an actor on a "
                                     "Ray cluster).")
    ray_address: str | None = setting(None, "Ray cluster to join ('auto' = the one started by `ray start` here). "
                                            "Default: a local instance.")
    force: bool = setting(False, "Redo every input, even those a previous run finished.")
    hash: bool = setting(False, "Fingerprint inputs by content (sha256) instead of size + modification time.")
    out_video: bool = setting(False, "Also write <name>.annotated.mp4 per video.")
    file_timeout_s: float | None = setting(None, "Seconds one input may hold a worker (a hung decoder, a stalled "
                                                 "network file): past it the worker is killed, the input fails and "
                                                 "a fresh worker goes on. Local executor only. Default: no limit.")
    classify: ClassifySettings = dataclasses.field(default_factory=ClassifySettings)
    track: TrackSettings = dataclasses.field(default_factory=TrackSettings)

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_choice(self, "task", BATCH_TASKS)
        _check_choice(self, "executor", EXECUTORS)
        _check_positive(self, "workers", "file_timeout_s")
        if self.ray_address and self.executor != "ray":
            raise ConfigError("ray_address: only used with executor: ray")
        if self.file_timeout_s is not None and self.executor != "local":
            raise ConfigError("file_timeout_s: only supported with executor: local")

    @property
    def device(self) -> str:
        return self.classify.device if self.task == "classify" else self.track.device

    @property
    def fps(self) -> float | None:
        return self.classify.fps if self.task == "classify" else self.track.fps
