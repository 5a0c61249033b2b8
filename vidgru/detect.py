"""Object detectors: one protocol, batched over frames, returning one :class:`~vidgru.types.Detections` per frame.

Frames in are :class:`~vidgru.types.Frame` (``image`` (H, W, 3) uint8 RGB); boxes out are (N, 4) float32 pixel
corners (x1, y1, x2, y2) in each frame's own resolution. :func:`create_detector` builds one from a spec:

==========================  ==========================================================================================
``torchvision:<name>``      a COCO detector from torchvision (see :data:`TORCHVISION_DETECTORS`); weights are found
                            like the backbone's (explicit file, torch hub cache, download when online, else
                            :class:`~vidgru.errors.WeightsUnavailableError`); ``weights="none"`` for random weights
``onnx:PATH``               a NanoDet-style ONNX model (e.g. the COCO NanoDet-m, ``nanodet-m-416-coco.onnx``), run
                            by ONNX Runtime (``pip install 'vidgru[onnx]'``)
``motion``                  background subtraction for static cameras: moving blobs, no weights, no classes
``file:PATH``               a MOTChallenge ``det.txt`` (precomputed detections, matched by frame index)
==========================  ==========================================================================================

Default score thresholds are deliberately low (:data:`DEFAULT_SCORE_THRESHOLDS`): the tracker associates in two
stages, ByteTrack-style, and recovers occluded objects from low-score boxes, so dropping them here would lose
information it needs. Raise ``score_threshold`` (e.g. to 0.35-0.5) when you draw or count the detections
themselves.

Detecting only every Nth frame is the caller's business (the tracker predicts the frames in between).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vidgru.errors import ConfigError, DetectorError
from vidgru.types import Detections, Frame

log = logging.getLogger(__name__)

# The 80 COCO categories in the order COCO-80 detectors (NanoDet, YOLO) number them, spelt as in the COCO
# annotations and torchvision's weights (darknet's coco.names spells a few differently: "motorbike", "sofa", ...),
# so that one ``classes=[...]`` list works for every detector.
COCO80_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

# Per detector kind. Low on purpose (see the module docstring); ``None`` keeps every box (a det.txt's scores
# may be on any scale, e.g. DPM's).
DEFAULT_SCORE_THRESHOLDS: dict[str, float | None] = {
    "torchvision": 0.1,
    "onnx": 0.1,
    "motion": 0.0,
    "file": None,
}

SPEC_FORMS = ("torchvision:<name>", "onnx:PATH", "motion", "file:PATH")


class Detector(Protocol):
    """Anything that finds objects in frames.

    ``name`` identifies the detector (e.g. ``"onnx:nanodet-m-416-coco.onnx"``); ``class_names`` maps the
    class ids it reports to names (``()`` when it has no classes, and its class ids are then -1).
    """

    name: str
    class_names: tuple[str, ...]

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Frames (each ``image`` (H, W, 3) uint8 RGB) -> one :class:`Detections` per frame, in the same order."""
        ...

    def reset(self) -> None:
        """Forget any state carried between calls (start of a new video). A no-op for stateless detectors."""
        ...


# ------------------------------------------------------------------------------------------------ filtering


def filter_detections(
    detections: Detections,
    *,
    score_threshold: float | None = None,
    class_ids: Sequence[int] | np.ndarray | None = None,
    min_box_size: float = 0.0,
) -> Detections:
    """Keep the boxes with ``score >= score_threshold``, a class id in ``class_ids`` and ``min(width, height) >=
    min_box_size`` pixels. ``None``/``0`` disables a test. Returns a new record (the input is not changed).

    Every detector applies its settings through this one function.
    """
    keep = np.ones(len(detections), bool)
    if score_threshold is not None:
        keep &= detections.scores >= score_threshold
    if class_ids is not None:
        keep &= np.isin(detections.class_ids, np.asarray(class_ids, np.int64))
    if min_box_size > 0:
        wh = detections.xyxy[:, 2:4] - detections.xyxy[:, 0:2]  # (N, 2)
        keep &= wh.min(axis=1) >= min_box_size
    return detections if keep.all() else detections[keep]


@dataclass(frozen=True)
class BoxFilter:
    """A detector's box filter settings, validated once (see :func:`filter_detections`)."""

    score_threshold: float | None = None
    class_ids: tuple[int, ...] | None = None
    min_box_size: float = 0.0

    def __call__(self, detections: Detections) -> Detections:
        return filter_detections(detections, score_threshold=self.score_threshold, class_ids=self.class_ids,
                                 min_box_size=self.min_box_size)


def make_box_filter(
    where: str,
    kind: str,
    class_names: Sequence[str],
    *,
    classes: Sequence[str] | None,
    score_threshold: float | None,
    min_box_size: float,
    ignore_names: Sequence[str] = (),
) -> BoxFilter:
    """Check the filter settings of the detector ``where`` (of ``kind``, a key of
    :data:`DEFAULT_SCORE_THRESHOLDS`) and turn class names into ids. ``ignore_names`` are placeholder categories
    that cannot be asked for (torchvision's ``__background__`` and ``N/A``).

    Raises:
        DetectorError: an unknown class name (the message lists the valid ones), classes for a class-less
            detector, or a negative/non-finite number.
    """
    threshold = DEFAULT_SCORE_THRESHOLDS[kind] if score_threshold is None else float(score_threshold)
    if threshold is not None and not math.isfinite(threshold):
        raise DetectorError(f"{where}: score_threshold must be a finite number, got {score_threshold}")
    if not (math.isfinite(min_box_size) and min_box_size >= 0):
        raise DetectorError(f"{where}: min_box_size must be >= 0 pixels, got {min_box_size}")
    class_ids = None
    if classes is not None:
        wanted = [classes] if isinstance(classes, str) else list(classes)
        if not class_names:
            raise DetectorError(f"{where}: this detector has no classes, so classes={wanted} cannot select any; "
                                "leave classes unset")
        if not wanted:
            raise DetectorError(f"{where}: classes is an empty list; leave it unset to keep every class")
        index = {name: i for i, name in enumerate(class_names) if name not in ignore_names}
        unknown = [name for name in wanted if name not in index]
        if unknown:
            raise DetectorError(f"{where}: unknown class {unknown[0]!r}; valid classes: {', '.join(index)}")
        class_ids = tuple(sorted({index[name] for name in wanted}))
    return BoxFilter(threshold, class_ids, float(min_box_size))


def _check_batch_size(where: str, batch_size: int) -> int:
    if int(batch_size) < 1:
        raise DetectorError(f"{where}: batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


# ---------------------------------------------------------------------------------------------- torchvision


@dataclass(frozen=True)
class TorchvisionDetectorSpec:
    """A torchvision detection builder: ``score_kwarg`` is its own score-threshold argument (set to ours, so it
    neither drops boxes we want nor keeps ones we would drop), ``default_weights`` its COCO weights id."""

    name: str
    score_kwarg: str
    default_weights: str = "COCO_V1"


TORCHVISION_DETECTORS: dict[str, TorchvisionDetectorSpec] = {
    spec.name: spec
    for spec in (
        TorchvisionDetectorSpec("fasterrcnn_mobilenet_v3_large_320_fpn", "box_score_thresh"),
        TorchvisionDetectorSpec("fasterrcnn_mobilenet_v3_large_fpn", "box_score_thresh"),
        TorchvisionDetectorSpec("fasterrcnn_resnet50_fpn_v2", "box_score_thresh"),
        TorchvisionDetectorSpec("retinanet_resnet50_fpn_v2", "score_thresh"),
        TorchvisionDetectorSpec("fcos_resnet50_fpn", "score_thresh"),
        TorchvisionDetectorSpec("ssdlite320_mobilenet_v3_large", "score_thresh"),
    )
}
_TORCHVISION_PLACEHOLDERS = ("__background__", "N/A")  # category slots of torchvision's 91-way COCO heads


class TorchvisionDetector:
    """A torchvision COCO detector, batched, under ``torch.inference_mode``.

    Class ids index torchvision's 91 COCO categories (``class_names[1] == "person"``). Each model resizes its
    input itself (e.g. short side 800 for the ResNet-50 ones, 320x320 for SSDlite) and returns boxes in the
    frame's own pixels.

    Args:
        name: a key of :data:`TORCHVISION_DETECTORS`.
        weights: ``None`` for the COCO weights (found offline as in :func:`vidgru.backbone.resolve_weights`),
            a torchvision weights id, a path to a state dict, or ``"none"`` for random weights.
        device: ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda[:N]`` or ``mps``.
        batch_size: frames per forward pass.
        classes, score_threshold, min_box_size: see :func:`create_detector`.
        allow_download: try torchvision's download when the weights are not on this machine.

    Raises:
        DetectorError: unknown name, weights id, file, class or device.
        WeightsUnavailableError: the weights are neither local nor downloadable, or a file is not a state
            dict of this model.
    """

    def __init__(
        self,
        name: str,
        *,
        weights: str | None = None,
        device: str = "auto",
        batch_size: int = 8,
        classes: Sequence[str] | None = None,
        score_threshold: float | None = None,
        min_box_size: float = 0.0,
        allow_download: bool = True,
    ) -> None:
        from vidgru.backbone import resolve_device, resolve_model_weights, weights_categories

        where = f"detector torchvision:{name}"
        try:
            spec = TORCHVISION_DETECTORS[name]
        except KeyError:
            raise DetectorError(
                f"detector: unknown torchvision detector {name!r}; choose one of {', '.join(TORCHVISION_DETECTORS)}"
            ) from None
        self.name = f"torchvision:{name}"
        self.batch_size = _check_batch_size(where, batch_size)
        categories = weights_categories(name, spec.default_weights)
        self.class_names: tuple[str, ...] = categories
        # Settings first, weights last: a typo should not wait for (or be hidden by) a weights problem.
        self.box_filter = make_box_filter(where, "torchvision", categories, classes=classes,
                                          score_threshold=score_threshold, min_box_size=min_box_size,
                                          ignore_names=_TORCHVISION_PLACEHOLDERS)
        try:
            self.device = resolve_device(device)
            self.resolved = resolve_model_weights(name, weights, default_weights=spec.default_weights,
                                                  allow_download=allow_download)
        except ConfigError as exc:
            raise DetectorError(f"{where}: {exc}") from None
        self.weights_id = self.resolved.weights_id
        self.model = self._build(spec, len(categories))

    def _build(self, spec: TorchvisionDetectorSpec, num_classes: int):
        import torchvision

        from vidgru.backbone import load_weights_file

        # weights_backbone=None: never fetch ImageNet backbone weights, the detector's own weights replace them.
        kwargs = {"weights": None, "weights_backbone": None, "num_classes": num_classes}
        if self.box_filter.score_threshold is not None:
            kwargs[spec.score_kwarg] = max(0.0, self.box_filter.score_threshold)
        model = torchvision.models.get_model(spec.name, **kwargs)
        if self.resolved.path is not None:
            # COCO checkpoints of some models were saved with FrozenBatchNorm2d (no num_batches_tracked
            # buffers); BatchNorm2d in eval mode computes the same thing and loads them as they are.
            load_weights_file(model, self.resolved.path, spec.name)
        else:
            log.warning("%s: using RANDOM weights (weights='none'); detections are meaningless", self.name)
        return model.eval().to(self.device)

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Frames (each (H, W, 3) uint8 RGB, sizes may differ) -> one :class:`Detections` per frame."""
        import torch

        out: list[Detections] = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                batch = frames[start : start + self.batch_size]
                # Upload uint8 (a quarter of the bytes), convert on the device: each (3, H, W) float in [0, 1].
                images = [
                    torch.from_numpy(np.ascontiguousarray(f.image)).to(self.device).permute(2, 0, 1).float().div_(255)
                    for f in batch
                ]
                for result in self.model(images):
                    det = Detections(
                        result["boxes"].float().cpu().numpy(),
                        result["scores"].float().cpu().numpy(),
                        result["labels"].cpu().numpy(),
                        self.class_names,
                    )
                    out.append(self.box_filter(det))
        return out


# --------------------------------------------------------------------------------------------------- ONNX


@dataclass(frozen=True)
class _Level:
    """One feature level of a NanoDet head: output names, grid and stride."""

    scores_output: str  # (1, cells, classes) sigmoid scores
    boxes_output: str  # (1, cells, 4 * bins) GFL side distributions
    cells: int
    stride: int
    grid_w: int


class OnnxDetector:
    """A NanoDet-style detector exported to ONNX, run by ONNX Runtime.

    The model contract (that of ``nanodet-m-416-coco.onnx``): one input (N, 3, H, W) float32 RGB in [0, 1] (no
    mean/std); the whole frame is stretched to (H, W) (no letterbox). Per feature level (strides 8, 16, 32 for a
    416 input) two outputs: class scores (N, cells, C), already sigmoid, and box regression (N, cells, 4 * bins):
    for each side (left, top, right, bottom) a distribution over ``bins`` distances (Generalized Focal Loss),
    ``distance = sum_k softmax(bins)_k * k * stride``, measured from the cell centre ``((col + 0.5) * stride,
    (row + 0.5) * stride)``, cells in row-major order. Then score threshold, class-wise NMS, scaling back to the
    frame. Decoding is vectorised numpy over the candidate cells.

    Args:
        path: the ``.onnx`` file.
        device: ``auto`` (CUDA execution provider when onnxruntime has one, else CPU), ``cpu`` or ``cuda[:N]``.
        batch_size: frames per ``run`` when the model's batch dimension is dynamic (a fixed batch of 1 is run
            frame by frame).
        classes, score_threshold, min_box_size: see :func:`create_detector`.
        nms_iou: IoU above which a box of the same class with a lower score is suppressed.
        max_detections: at most this many boxes per frame (highest scores first).

    Raises:
        DetectorError: onnxruntime missing, the file missing or unreadable, outputs not laid out as above, or
            an unknown class or device.
    """

    pre_nms_top_k = 1000  # candidates (cell, class) kept before NMS, by score

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str = "auto",
        batch_size: int = 8,
        classes: Sequence[str] | None = None,
        score_threshold: float | None = None,
        min_box_size: float = 0.0,
        nms_iou: float = 0.5,
        max_detections: int = 300,
    ) -> None:
        path = Path(path)
        where = f"detector onnx:{path}"
        try:
            import onnxruntime
        except ImportError:
            raise DetectorError(f"{where}: needs onnxruntime; pip install 'vidgru[onnx]' (or "
                                "pip install onnxruntime)") from None
        if not path.is_file():
            raise DetectorError(f"{where}: no such file (expected an ONNX model, e.g. nanodet-m-416-coco.onnx)")
        self.name = f"onnx:{path.name}"
        self.path = path
        self.batch_size = _check_batch_size(where, batch_size)
        if not (0 < nms_iou <= 1) or max_detections < 1:
            raise DetectorError(f"{where}: expected 0 < nms_iou <= 1 and max_detections >= 1, got {nms_iou} and "
                                f"{max_detections}")
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(str(path), options,
                                                         providers=_onnx_providers(where, device, onnxruntime))
        except Exception as exc:  # onnxruntime raises its own exception types, from C++
            raise DetectorError(f"{where}: cannot load the model: {str(exc).splitlines()[0]}") from exc
        self.providers = tuple(self._session.get_providers())
        self._read_layout(where)
        self.class_names = COCO80_CLASSES
        self.box_filter = make_box_filter(where, "onnx", self.class_names, classes=classes,
                                          score_threshold=score_threshold, min_box_size=min_box_size)

    def _read_layout(self, where: str) -> None:
        """Check the input and pair the outputs per level; precompute cell centres and strides."""
        inputs = self._session.get_inputs()
        expected = ("expected a NanoDet-style model: one (N, 3, H, W) input and, per level, (N, cells, 80) "
                    "scores and (N, cells, 4 * bins) box outputs")
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
            raise DetectorError(f"{where}: input is {[(i.name, i.shape) for i in inputs]}; {expected}")
        self._input_name = inputs[0].name
        batch, _, in_h, in_w = inputs[0].shape
        if not (isinstance(in_h, int) and isinstance(in_w, int)):
            raise DetectorError(f"{where}: input size {inputs[0].shape} is not fixed; {expected}")
        self.input_size = (in_w, in_h)  # (width, height) as cv2.resize takes it
        self.dynamic_batch = not isinstance(batch, int)

        by_cells: dict[int, dict[str, str]] = {}
        self._bins = 0
        for out in self._session.get_outputs():
            shape = out.shape
            if len(shape) != 3 or not isinstance(shape[1], int) or not isinstance(shape[2], int):
                raise DetectorError(f"{where}: output {out.name} has shape {shape}; {expected}")
            if shape[2] == len(COCO80_CLASSES):
                role = "scores"
            elif shape[2] % 4 == 0 and shape[2] > 4:
                role = "boxes"
                self._bins = shape[2] // 4
            else:
                raise DetectorError(f"{where}: output {out.name} has shape {shape}; {expected}")
            by_cells.setdefault(shape[1], {})[role] = out.name
        levels = []
        for cells, names in sorted(by_cells.items(), reverse=True):  # finest level (most cells) first
            stride = next((s for s in (4, 8, 16, 32, 64, 128)
                           if math.ceil(in_h / s) * math.ceil(in_w / s) == cells), None)
            if set(names) != {"scores", "boxes"} or stride is None:
                raise DetectorError(f"{where}: cannot match outputs {names} with {cells} cells to a feature level "
                                    f"of a {in_w}x{in_h} input; {expected}")
            levels.append(_Level(names["scores"], names["boxes"], cells, stride, math.ceil(in_w / stride)))
        if not levels:
            raise DetectorError(f"{where}: the model has no outputs; {expected}")
        self.levels = tuple(levels)
        self.strides = tuple(lv.stride for lv in levels)
        centres, strides = [], []
        for lv in levels:
            row, col = np.divmod(np.arange(lv.cells), lv.grid_w)
            centres.append(np.stack([(col + 0.5) * lv.stride, (row + 0.5) * lv.stride], axis=1))
            strides.append(np.full(lv.cells, lv.stride, np.float32))
        self._centres = np.concatenate(centres).astype(np.float32)  # (M, 2) x, y in input pixels
        self._cell_strides = np.concatenate(strides)  # (M,)
        self._output_names = [lv.scores_output for lv in levels] + [lv.boxes_output for lv in levels]

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (3, h, w) float32 RGB in [0, 1], the whole frame stretched to the input."""
        # Bilinear, as NanoDet's own pipeline resizes (INTER_AREA's smoother downscale found fewer people in
        # 1080p MOT17 frames: recall 0.36 vs 0.40).
        resized = cv2.resize(image, self.input_size, interpolation=cv2.INTER_LINEAR)  # (h, w, 3) uint8
        return resized.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255)

    def infer(self, frames: Sequence[Frame]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Run the network only: per frame, ``(scores (M, C), box distributions (M, 4 * bins))`` over all
        levels' cells. Exposed for timing; :meth:`detect` is the normal entry point."""
        step = self.batch_size if self.dynamic_batch else 1
        raw: list[tuple[np.ndarray, np.ndarray]] = []
        n_levels = len(self.levels)
        for start in range(0, len(frames), step):
            x = np.stack([self.preprocess(f.image) for f in frames[start : start + step]])  # (B, 3, h, w)
            outputs = self._session.run(self._output_names, {self._input_name: x})
            for b in range(len(x)):
                scores = np.concatenate([o[b] for o in outputs[:n_levels]])  # (M, C)
                boxes = np.concatenate([o[b] for o in outputs[n_levels:]])  # (M, 4 * bins)
                raw.append((scores, boxes))
        return raw

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Frames (each (H, W, 3) uint8 RGB, sizes may differ) -> one :class:`Detections` per frame."""
        raw = self.infer(frames)
        return [self.box_filter(self.decode(scores, boxes, frame.image.shape[:2]))
                for (scores, boxes), frame in zip(raw, frames)]

    def decode(self, scores: np.ndarray, boxes: np.ndarray, frame_hw: tuple[int, int]) -> Detections:
        """One frame's raw outputs (see :meth:`infer`) -> NMS'd detections in the frame's pixels."""
        threshold = self.box_filter.score_threshold or 0.0
        if self.box_filter.class_ids is not None:  # only the asked-for classes compete (NMS is class-wise anyway)
            class_ids = np.asarray(self.box_filter.class_ids)
            cells, column = np.nonzero(scores[:, class_ids] >= threshold)
            cls = class_ids[column]
        else:
            cells, cls = np.nonzero(scores >= threshold)
        if len(cells) == 0:
            return Detections.empty(self.class_names)
        conf = scores[cells, cls]
        if len(conf) > self.pre_nms_top_k:
            top = np.argpartition(-conf, self.pre_nms_top_k)[: self.pre_nms_top_k]
            cells, cls, conf = cells[top], cls[top], conf[top]

        # GFL decoding of the candidate cells only: softmax over bins, expected distance per side.
        logits = boxes[cells].reshape(len(cells), 4, self._bins)  # (K, 4 sides, bins)
        prob = np.exp(logits - logits.max(axis=2, keepdims=True))
        prob /= prob.sum(axis=2, keepdims=True)
        dist = (prob @ np.arange(self._bins, dtype=np.float32)) * self._cell_strides[cells, None]  # (K, 4) l,t,r,b
        centre = self._centres[cells]  # (K, 2)
        xyxy = np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1)  # (K, 4) input pixels

        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)
        keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, conf.astype(np.float32), cls.astype(np.int32), 0.0,
                                                  self.nms_iou), dtype=np.int64).reshape(-1)
        keep = keep[np.argsort(-conf[keep], kind="stable")][: self.max_detections]

        h, w = frame_hw
        scale = np.array([w / self.input_size[0], h / self.input_size[1]] * 2, np.float32)
        xyxy = xyxy[keep] * scale
        np.clip(xyxy, 0, [w, h, w, h], out=xyxy)
        return Detections(xyxy, conf[keep], cls[keep], self.class_names)


def _onnx_providers(where: str, device: str, onnxruntime) -> list:
    available = onnxruntime.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "auto":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"] if has_cuda else ["CPUExecutionProvider"]
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if not has_cuda:
            raise DetectorError(f"{where}: device {device!r} needs onnxruntime-gpu (this onnxruntime has "
                                f"{', '.join(available)}); use device auto or cpu")
        device_id = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
    raise DetectorError(f"{where}: unknown device {device!r}; use auto, cpu or cuda[:N]")


# ------------------------------------------------------------------------------------------------- motion


class MotionDetector:
    """Moving blobs in a static camera's frames: OpenCV's MOG2 background subtraction, morphology, connected
    components. No weights and no classes (class ids are -1).

    The background model is updated by every frame, so frames must come in order, across calls; call
    :meth:`reset` before a new video. The first ``warmup_frames`` frames only teach the background and
    return no boxes. A box's score is its foreground fill ratio (foreground pixels / box area, in [0, 1]):
    solid moving objects score high, loose noise low.

    Args:
        history_frames: MOG2's history (frames that shape the background model).
        var_threshold: MOG2's squared Mahalanobis distance for a pixel to count as foreground.
        warmup_frames: frames fed to the background model before any box is reported.
        min_area_frac: the smallest blob reported, as a fraction of the frame area (0.001 of 768x576 = 442 px).
        max_side: frames are shrunk so their longer side is at most this many pixels before subtraction
            (speed; boxes are scaled back to full resolution).
        score_threshold, min_box_size: see :func:`create_detector`.

    Raises:
        DetectorError: a setting out of range, or (in :meth:`detect`) a frame size change without :meth:`reset`.
    """

    def __init__(
        self,
        *,
        history_frames: int = 200,
        var_threshold: float = 16.0,
        warmup_frames: int = 10,
        min_area_frac: float = 0.001,
        max_side: int = 640,
        score_threshold: float | None = None,
        min_box_size: float = 0.0,
        classes: Sequence[str] | None = None,
    ) -> None:
        where = "detector motion"
        if history_frames < 1 or warmup_frames < 0 or max_side < 16 or not (0 <= min_area_frac < 1):
            raise DetectorError(f"{where}: expected history_frames >= 1, warmup_frames >= 0, max_side >= 16 and "
                                f"0 <= min_area_frac < 1; got {history_frames}, {warmup_frames}, {max_side}, "
                                f"{min_area_frac}")
        self.name = "motion"
        self.class_names: tuple[str, ...] = ()
        self.history_frames = int(history_frames)
        self.var_threshold = float(var_threshold)
        self.warmup_frames = int(warmup_frames)
        self.min_area_frac = float(min_area_frac)
        self.max_side = int(max_side)
        self.box_filter = make_box_filter(where, "motion", (), classes=classes, score_threshold=score_threshold,
                                          min_box_size=min_box_size)
        self.reset()

    def reset(self) -> None:
        """Start a new background model (a new video, or a jump in the same one)."""
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=self.history_frames, varThreshold=self.var_threshold, detectShadows=True)
        self._frames_seen = 0
        self._frame_hw: tuple[int, int] | None = None

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Consecutive frames (each (H, W, 3) uint8 RGB, all the same size) -> one :class:`Detections` each."""
        return [self.box_filter(self._detect_one(frame)) for frame in frames]

    def _detect_one(self, frame: Frame) -> Detections:
        h, w = frame.image.shape[:2]
        if self._frame_hw is None:
            self._frame_hw = (h, w)
        elif self._frame_hw != (h, w):
            raise DetectorError(f"detector motion: frame {frame.index} is {w}x{h} but earlier frames were "
                                f"{self._frame_hw[1]}x{self._frame_hw[0]}; call reset() between videos")
        scale = min(1.0, self.max_side / max(h, w))
        small = frame.image if scale == 1.0 else cv2.resize(
            frame.image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        mask = self._subtractor.apply(small)  # (h, w) uint8: 255 foreground, 127 shadow, 0 background
        self._frames_seen += 1
        if self._frames_seen <= self.warmup_frames:
            return Detections.empty()

        fg = np.where(mask == 255, np.uint8(255), np.uint8(0))  # shadows are not objects
        sh, sw = fg.shape
        k_open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        close_px = max(3, round(min(sh, sw) * 0.02) | 1)  # joins the parts of one body (~10 px at 480p)
        k_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_px, close_px))
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k_open)  # salt noise
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k_close)

        count, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        stats = stats[1:]  # (count - 1, 5): x, y, w, h, area; row 0 is the background
        stats = stats[stats[:, 4] >= self.min_area_frac * sh * sw]
        if len(stats) == 0:
            return Detections.empty()
        x, y, bw, bh, area = (stats[:, i].astype(np.float32) for i in range(5))
        xyxy = np.stack([x, y, x + bw, y + bh], axis=1) / np.float32(scale)
        fill = area / (bw * bh)
        order = np.argsort(-fill, kind="stable")
        return Detections(xyxy[order], fill[order], np.full(len(order), -1, np.int64))


# --------------------------------------------------------------------------------------------------- files


def read_mot_detections(path: str | os.PathLike) -> dict[int, Detections]:
    """Read a MOTChallenge ``det.txt``: ``frame,id,x,y,w,h,score[,...]`` per line, 1-based frames, boxes as top-left
    corner and size in pixels. Columns after the seventh (MOT15's world coordinates, or -1) are ignored.

    Returns:
        0-based frame index (``Frame.index``, i.e. the file's frame - 1) -> that frame's detections, class-less
        (class ids -1), in file order. Frames without detections are absent.

    Raises:
        DetectorError: the file is missing, or a line is malformed (the message gives ``file:line``).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DetectorError(f"{path}: cannot read MOTChallenge detections ({exc.strerror or exc})") from None
    lines = text.splitlines()
    numbers = [i for i, line in enumerate(lines, 1) if line.strip()]  # 1-based line numbers of non-empty lines
    try:  # fast path: every line has >= 7 numbers
        rows = np.array([lines[i - 1].split(",")[:7] for i in numbers], dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != 7:
            raise ValueError("not 7 columns")
    except ValueError:
        rows = _parse_mot_lines_slowly(path, lines, numbers)
    bad = ~np.isfinite(rows).all(axis=1)
    bad |= (rows[:, 0] < 1) | (rows[:, 0] != np.round(rows[:, 0]))
    bad |= (rows[:, 4] < 0) | (rows[:, 5] < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DetectorError(f"{path}:{numbers[i]}: expected frame >= 1 (integer), finite numbers and width, height "
                            f">= 0; got {lines[numbers[i] - 1].strip()!r}")

    frames = rows[:, 0].astype(np.int64) - 1
    order = np.argsort(frames, kind="stable")  # some det.txt files are not sorted by frame
    rows, frames = rows[order], frames[order]
    xyxy = np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], axis=1).astype(np.float32)  # (N, 4)
    scores = rows[:, 6].astype(np.float32)
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]]) if len(frames) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(frames)]
    return {
        int(frames[s]): Detections(xyxy[s:e], scores[s:e], np.full(e - s, -1, np.int64))
        for s, e in zip(starts, ends)
    }


def _parse_mot_lines_slowly(path: Path, lines: list[str], numbers: list[int]) -> np.ndarray:
    """Line by line, to say which line is malformed and how."""
    rows = np.empty((len(numbers), 7), np.float64)
    names = ("frame", "id", "x", "y", "w", "h", "score")
    for row, number in enumerate(numbers):
        fields = lines[number - 1].split(",")
        if len(fields) < 7:
            raise DetectorError(f"{path}:{number}: expected at least 7 comma-separated columns "
                                f"(frame,id,x,y,w,h,score,...), got {len(fields)}: {lines[number - 1].strip()!r}")
        for col, (name, field) in enumerate(zip(names, fields)):
            try:
                rows[row, col] = float(field)
            except ValueError:
                raise DetectorError(f"{path}:{number}: column {col + 1} ({name}) is not a number: "
                                    f"{field.strip()!r}") from None
    return rows


def sequence_detections_path(sequence_dir: str | os.PathLike) -> Path:
    """The public detections of a MOTChallenge sequence folder: ``<sequence_dir>/det/det.txt``.

    Raises:
        DetectorError: the file does not exist.
    """
    path = Path(sequence_dir) / "det" / "det.txt"
    if not path.is_file():
        raise DetectorError(f"detector file: {path} does not exist (expected MOTChallenge layout "
                            "<sequence>/det/det.txt); pass the detections as file:PATH")
    return path


class FileDetector:
    """Precomputed detections from a MOTChallenge ``det.txt`` (see :func:`read_mot_detections`), all held in
    memory and looked up by ``Frame.index`` (0-based; the file's frame numbers are 1-based). Class-less.

    For tracking benchmarks without images, :meth:`at` gives a frame's detections by index alone.

    Raises:
        DetectorError: as :func:`read_mot_detections`, or a bad setting.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        score_threshold: float | None = None,
        min_box_size: float = 0.0,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.class_names: tuple[str, ...] = ()
        self.box_filter = make_box_filter(f"detector {self.name}", "file", (), classes=classes,
                                          score_threshold=score_threshold, min_box_size=min_box_size)
        self.detections: dict[int, Detections] = {
            index: self.box_filter(det) for index, det in read_mot_detections(self.path).items()
        }
        self.num_frames = max(self.detections, default=-1) + 1  # frames up to the last one with a detection

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def at(self, frame_index: int) -> Detections:
        """The detections of 0-based frame ``frame_index`` (empty when the file has none for it)."""
        det = self.detections.get(frame_index)
        return Detections.empty() if det is None else det

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Frames -> their detections from the file, by ``Frame.index``; the images are not looked at."""
        return [self.at(frame.index) for frame in frames]


# -------------------------------------------------------------------------------------------------- factory


def create_detector(
    spec: str,
    *,
    classes: Sequence[str] | None = None,
    score_threshold: float | None = None,
    min_box_size: float = 0.0,
    device: str = "auto",
    weights: str | None = None,
    batch_size: int = 8,
) -> Detector:
    """Build a detector from a spec: ``torchvision:<name>``, ``onnx:PATH``, ``motion`` or ``file:PATH``.

    Args:
        spec: see the module docstring; ``file`` alone is resolved by the caller from a sequence folder
            (:func:`sequence_detections_path`) and is an error here.
        classes: keep only these class names (e.g. ``["person"]``); ``None`` keeps all.
        score_threshold: drop boxes scoring below this; ``None`` for the detector's low default
            (:data:`DEFAULT_SCORE_THRESHOLDS`: 0.1 for torchvision and onnx, 0 for motion, none for file).
        min_box_size: drop boxes whose shorter side is below this many pixels.
        device: ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda[:N]``, ``mps``; ignored by ``motion`` and ``file``,
            which run no network.
        weights: torchvision only: a weights id, a state-dict path or ``"none"`` (random); ``None`` for COCO.
        batch_size: frames per forward pass (torchvision, and ONNX models with a dynamic batch dimension).

    Raises:
        DetectorError: unknown spec (the message lists the valid forms), name or class, missing file or runtime.
        WeightsUnavailableError: torchvision weights not on this machine and not downloadable.

    Example:
        >>> det = create_detector("onnx:nanodet-m-416-coco.onnx", classes=["person"])   # doctest: +SKIP
        >>> [len(d) for d in det.detect(frames)]                                          # doctest: +SKIP
    """
    kind, sep, arg = spec.partition(":")
    if weights is not None and kind != "torchvision":
        raise DetectorError(f"detector {spec}: weights apply to torchvision detectors only (an ONNX model is "
                            "given in the spec, onnx:PATH)")
    if kind == "torchvision" and arg:
        return TorchvisionDetector(arg, weights=weights, device=device, batch_size=batch_size, classes=classes,
                                   score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "onnx" and arg:
        return OnnxDetector(arg, device=device, batch_size=batch_size, classes=classes,
                            score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "motion" and not sep:
        return MotionDetector(classes=classes, score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "file" and arg:
        return FileDetector(arg, classes=classes, score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "file":
        raise DetectorError("detector file: needs a path here (file:PATH); a bare 'file' means a sequence's "
                            "det/det.txt and is resolved by the command that knows the sequence")
    if kind == "torchvision":
        raise DetectorError(f"detector {spec!r}: name a model, torchvision:<name> with <name> one of "
                            f"{', '.join(TORCHVISION_DETECTORS)}")
    raise DetectorError(f"detector: unknown spec {spec!r}; use one of {', '.join(SPEC_FORMS)}")
