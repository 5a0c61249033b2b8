"""NanoDet-style detectors exported to ONNX (e.g. the COCO NanoDet-m, ``nanodet-m-416-coco.onnx``), run by
ONNX Runtime (``pip install 'vidgru[onnx]'``)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidgru.detect.boxes import check_batch_size, classwise_nms, make_box_filter
from vidgru.errors import DetectorError
from vidgru.types import Detections, Frame

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
        classes, score_threshold, min_box_size: see :func:`vidgru.detect.create_detector`.
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
        self.batch_size = check_batch_size(where, batch_size)
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

        keep = classwise_nms(xyxy, conf, cls, iou_threshold=self.nms_iou, max_detections=self.max_detections)

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
