"""Object detectors: one protocol, batched over frames, returning one :class:`~vidgru.types.Detections` per frame.

Frames in are :class:`~vidgru.types.Frame` (``image`` (H, W, 3) uint8 RGB); boxes out are (N, 4) float32 pixel
corners (x1, y1, x2, y2) in each frame's own resolution. :func:`create_detector` builds one from a spec:

==========================  ==========================================================================================
``torchvision:<name>``      a COCO detector from torchvision (see :data:`TORCHVISION_DETECTORS`); weights are found
                            like the backbone's (explicit file, torch hub cache, download when online, else
                            :class:`~vidgru.errors.WeightsUnavailableError`); ``weights="none"`` for random weights
``onnx:PATH``               a NanoDet-style ONNX model (e.g. the COCO NanoDet-m, ``nanodet-m-416-coco.onnx``), run
                            by ONNX Runtime (``pip install 'vidgru[onnx]'``)
``bgsub``                   background subtraction for static cameras: moving blobs, no weights, no classes
                            (``motion`` is an older alias of the same detector)
``file:PATH``               a MOTChallenge ``det.txt`` (precomputed detections, matched by frame index)
==========================  ==========================================================================================

One module per family: :mod:`~vidgru.detect.torchvision_models`, :mod:`~vidgru.detect.nanodet` (ONNX),
:mod:`~vidgru.detect.background` (background subtraction), :mod:`~vidgru.detect.detfile` (det.txt). All of them
filter boxes (score threshold, classes, minimum size) and suppress overlaps through :mod:`~vidgru.detect.boxes`.

Default score thresholds are deliberately low (:data:`DEFAULT_SCORE_THRESHOLDS`): the tracker associates in two
stages, ByteTrack-style, and recovers occluded objects from low-score boxes, so dropping them here would lose
information it needs. Raise ``score_threshold`` (e.g. to 0.35-0.5) when you draw or count the detections
themselves.

Detecting only every Nth frame is the caller's business (the tracker predicts the frames in between).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vidgru.detect.background import BackgroundSubtractionDetector, MotionDetector
from vidgru.detect.boxes import (
    DEFAULT_SCORE_THRESHOLDS,
    BoxFilter,
    classwise_nms,
    filter_detections,
    make_box_filter,
)
from vidgru.detect.detfile import FileDetector, read_mot_detections, sequence_detections_path
from vidgru.detect.nanodet import COCO80_CLASSES, OnnxDetector
from vidgru.detect.torchvision_models import TORCHVISION_DETECTORS, TorchvisionDetector, TorchvisionDetectorSpec
from vidgru.errors import DetectorError
from vidgru.types import Detections, Frame

__all__ = [
    "COCO80_CLASSES",
    "DEFAULT_SCORE_THRESHOLDS",
    "SPEC_FORMS",
    "TORCHVISION_DETECTORS",
    "BackgroundSubtractionDetector",
    "BoxFilter",
    "Detector",
    "FileDetector",
    "MotionDetector",
    "OnnxDetector",
    "TorchvisionDetector",
    "TorchvisionDetectorSpec",
    "classwise_nms",
    "check_spec",
    "create_detector",
    "detector_kind",
    "filter_detections",
    "make_box_filter",
    "read_mot_detections",
    "sequence_detections_path",
]

SPEC_FORMS = ("torchvision:<name>", "onnx:PATH", "bgsub", "file:PATH")
SPEC_ALIASES = {"motion": "bgsub"}  # older spellings -> the kind they mean


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


def detector_kind(spec: str) -> str:
    """The family of a detector spec, aliases resolved: ``torchvision``, ``onnx``, ``bgsub`` or ``file``
    (``"motion"`` -> ``"bgsub"``). Unknown kinds are returned as they are; :func:`create_detector` rejects them."""
    kind = spec.partition(":")[0]
    return SPEC_ALIASES.get(kind, kind)


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
    """Build a detector from a spec: ``torchvision:<name>``, ``onnx:PATH``, ``bgsub`` (background subtraction;
    ``motion`` is an alias) or ``file:PATH``.

    Args:
        spec: see the module docstring; ``file`` alone is resolved by the caller from a sequence folder
            (:func:`sequence_detections_path`) and is an error here.
        classes: keep only these class names (e.g. ``["person"]``); ``None`` keeps all.
        score_threshold: drop boxes scoring below this; ``None`` for the detector's low default
            (:data:`DEFAULT_SCORE_THRESHOLDS`: 0.1 for torchvision and onnx, 0 for bgsub, none for file).
        min_box_size: drop boxes whose shorter side is below this many pixels.
        device: ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda[:N]``, ``mps``; ignored by ``bgsub`` and ``file``,
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
    given, sep, arg = spec.partition(":")
    kind = detector_kind(spec)
    if weights is not None and kind != "torchvision":
        raise DetectorError(f"detector {spec}: weights apply to torchvision detectors only (an ONNX model is "
                            "given in the spec, onnx:PATH)")
    if kind == "torchvision" and arg:
        return TorchvisionDetector(arg, weights=weights, device=device, batch_size=batch_size, classes=classes,
                                   score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "onnx" and arg:
        return OnnxDetector(arg, device=device, batch_size=batch_size, classes=classes,
                            score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "bgsub" and not sep:
        return BackgroundSubtractionDetector(classes=classes, score_threshold=score_threshold,
                                             min_box_size=min_box_size, name=given)
    if kind == "file" and arg:
        return FileDetector(arg, classes=classes, score_threshold=score_threshold, min_box_size=min_box_size)
    if kind == "file":
        raise DetectorError("detector file: needs a path here (file:PATH); a bare 'file' means a sequence's "
                            "det/det.txt and is resolved by the command that knows the sequence")
    check_spec(spec)
    raise DetectorError(f"detector: unknown spec {spec!r}; use one of {', '.join(SPEC_FORMS)} "
                        "(motion is an alias of bgsub)")


def check_spec(spec: str) -> None:
    """Refuse a spec whose kind, or torchvision model name, is unknown — without building anything, so a wrong
    flag is reported before any input is opened or model loaded.

    Raises:
        DetectorError: as :func:`create_detector` would for the same spec.
    """
    kind, arg = detector_kind(spec), spec.partition(":")[2]
    if kind not in ("torchvision", "onnx", "bgsub", "file"):
        raise DetectorError(f"detector: unknown spec {spec!r}; use one of {', '.join(SPEC_FORMS)} "
                            "(motion is an alias of bgsub)")
    if kind == "torchvision" and arg not in TORCHVISION_DETECTORS:
        raise DetectorError(f"detector {spec!r}: name a model, torchvision:<name> with <name> one of "
                            f"{', '.join(TORCHVISION_DETECTORS)}")
