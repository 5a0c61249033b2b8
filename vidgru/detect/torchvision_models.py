"""COCO detectors from torchvision (Faster R-CNN, RetinaNet, FCOS, SSDlite), batched under ``inference_mode``.

Named ``torchvision_models`` rather than ``torchvision`` so that it never stands in for the package itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidgru.detect.boxes import check_batch_size, make_box_filter
from vidgru.errors import ConfigError, DetectorError
from vidgru.types import Detections, Frame

log = logging.getLogger(__name__)


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
    frame's own pixels; torchvision's own post-processing does the NMS.

    Args:
        name: a key of :data:`TORCHVISION_DETECTORS`.
        weights: ``None`` for the COCO weights (found offline as in :func:`vidgru.backbone.resolve_weights`),
            a torchvision weights id, a path to a state dict, or ``"none"`` for random weights.
        device: ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda[:N]`` or ``mps``.
        batch_size: frames per forward pass.
        classes, score_threshold, min_box_size: see :func:`vidgru.detect.create_detector`.
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
        self.batch_size = check_batch_size(where, batch_size)
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
