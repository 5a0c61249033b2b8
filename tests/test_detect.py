"""Detectors: the shared box filter and NMS, MOTChallenge det files, background subtraction, torchvision plumbing
and weights, and the NanoDet ONNX model against MOT17 ground truth and real footage."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidgru.detect import (
    COCO80_CLASSES,
    TORCHVISION_DETECTORS,
    BackgroundSubtractionDetector,
    FileDetector,
    MotionDetector,
    OnnxDetector,
    TorchvisionDetector,
    classwise_nms,
    create_detector,
    detector_kind,
    filter_detections,
    read_mot_detections,
    sequence_detections_path,
)
from vidgru.errors import DetectorError, WeightsUnavailableError
from vidgru.types import Detections, Frame

NANODET = "nanodet-m-416-coco.onnx"
VTEST = "opencv_samples/samples/data/vtest.avi"
TREE = "opencv_samples/samples/data/tree.avi"
MOT17 = "mot17_mini/train"


# ----------------------------------------------------------------------------------------------- helpers


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def greedy_match(iou: np.ndarray, min_iou: float = 0.5) -> list[float]:
    """One-to-one matches by decreasing IoU: the IoU of every matched pair."""
    iou = iou.copy()
    matched = []
    while iou.size and iou.max() >= min_iou:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        matched.append(float(iou[i, j]))
        iou[i, :] = -1
        iou[:, j] = -1
    return matched


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def frames_of(images: list[np.ndarray], start: int = 0) -> list[Frame]:
    return [Frame(start + i, (start + i) / 10.0, im) for i, im in enumerate(images)]


@pytest.fixture(scope="module")
def vtest_frames(shared_data) -> list[Frame]:
    """The first 60 frames (6 s) of OpenCV's pedestrian plaza clip, static camera, 768x576."""
    from vidgru.video import read_frames

    return read_frames(shared_data / VTEST, max_frames=60)


@pytest.fixture(scope="module")
def nanodet_path(shared_data) -> Path:
    pytest.importorskip("onnxruntime")
    return shared_data.parent / "models" / NANODET


@pytest.fixture(scope="module")
def nanodet(nanodet_path) -> OnnxDetector:
    return OnnxDetector(nanodet_path)


def dets(rows: list[tuple], class_names: tuple[str, ...] = ("person", "car")) -> Detections:
    """Rows of (x1, y1, x2, y2, score, class_id)."""
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64), class_names)


# ----------------------------------------------------------------------------------------- shared filter

SAMPLE = [
    (0, 0, 10, 40, 0.9, 0),  # tall thin person
    (0, 0, 50, 50, 0.3, 1),  # big car
    (5, 5, 8, 8, 0.05, 0),  # tiny, faint person
]


@pytest.mark.parametrize(
    ("kwargs", "kept"),
    [
        ({}, [0, 1, 2]),
        ({"score_threshold": 0.3}, [0, 1]),
        ({"class_ids": [0]}, [0, 2]),
        ({"class_ids": np.array([1])}, [1]),
        ({"min_box_size": 10}, [0, 1]),  # min(w, h): 10 for the thin box, 3 for the tiny one
        ({"min_box_size": 11}, [1]),
        ({"score_threshold": 0.1, "class_ids": [0], "min_box_size": 5}, [0]),
    ],
    ids=["nothing", "score", "class", "class-array", "size-edge", "size", "all"],
)
def test_filter_detections(kwargs, kept):
    original = dets(SAMPLE)
    out = filter_detections(original, **kwargs)
    np.testing.assert_array_equal(out.scores, np.array(SAMPLE, np.float32)[kept, 4])
    assert out.class_names == ("person", "car")
    assert len(original) == 3  # not changed


def test_classwise_nms_suppresses_overlaps_within_a_class_only():
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.7], np.float32)
    classes = np.array([0, 0, 1, 0])
    keep = classwise_nms(xyxy, scores, classes, iou_threshold=0.5, max_detections=10)
    assert keep.tolist() == [1, 3, 2]  # box 0 loses to box 1 (same class, IoU 0.82); box 2 is another class
    assert classwise_nms(xyxy, scores, classes, iou_threshold=0.9, max_detections=10).tolist() == [1, 3, 0, 2]
    assert classwise_nms(xyxy, scores, classes, iou_threshold=0.5, max_detections=2).tolist() == [1, 3]
    assert xyxy[0].tolist() == [0, 0, 10, 10] and scores[0] == np.float32(0.6)  # inputs not changed


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: BackgroundSubtractionDetector(classes=["person"]), r"detector bgsub: this detector has no classes"),
        (lambda: BackgroundSubtractionDetector(min_box_size=-1), r"min_box_size must be >= 0"),
        (lambda: BackgroundSubtractionDetector(score_threshold=float("nan")), r"score_threshold must be a finite"),
        (lambda: BackgroundSubtractionDetector(warmup_frames=-1), r"warmup_frames >= 0"),
        (lambda: TorchvisionDetector("ssdlite320_mobilenet_v3_large", weights="none", device="cpu",
                                     classes=["persn"]), r"unknown class 'persn'; valid classes: person, bicycle"),
        (lambda: TorchvisionDetector("ssdlite320_mobilenet_v3_large", weights="none", device="cpu",
                                     classes=["N/A"]), r"unknown class 'N/A'"),
        (lambda: TorchvisionDetector("ssdlite320_mobilenet_v3_large", weights="none", device="cpu",
                                     classes=[]), r"empty list"),
        (lambda: TorchvisionDetector("ssdlite320_mobilenet_v3_large", weights="none", device="tpu"),
         r"torchvision:ssdlite320_mobilenet_v3_large: device: unknown device 'tpu'"),
        (lambda: TorchvisionDetector("ssdlite320_mobilenet_v3_large", weights="none", batch_size=0),
         r"batch_size must be >= 1"),
    ],
    ids=["classless", "min-size", "nan-score", "warmup", "unknown-class", "placeholder-class", "empty-classes",
         "device", "batch-size"],
)
def test_bad_detector_settings(factory, message):
    with pytest.raises(DetectorError, match=message):
        factory()


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("yolo:x.pt", {}, r"unknown spec 'yolo:x.pt'; use one of torchvision:<name>, onnx:PATH, bgsub, file:PATH "
                          r"\(motion is an alias of bgsub\)"),
        ("torchvision", {}, r"torchvision:<name> with <name> one of fasterrcnn_mobilenet_v3_large_320_fpn"),
        ("torchvision:yolov8", {}, r"unknown torchvision detector 'yolov8'; choose one of fasterrcnn_mobilenet"),
        ("motion:mog2", {}, r"unknown spec"),
        ("bgsub:mog2", {}, r"unknown spec"),
        ("file", {}, r"needs a path here \(file:PATH\)"),
        ("file:no/such/det.txt", {}, r"no/such/det.txt: cannot read MOTChallenge rows"),
        ("onnx:no/such/model.onnx", {}, r"no such file"),
        ("bgsub", {"weights": "x.pth"}, r"weights apply to torchvision detectors only"),
        ("torchvision:ssdlite320_mobilenet_v3_large", {"weights": "COCO_V9"}, r"not a weights id"),
        ("torchvision:ssdlite320_mobilenet_v3_large", {"weights": "no/such.pth"}, r"does not exist"),
    ],
    ids=["kind", "no-name", "tv-name", "motion-arg", "bgsub-arg", "file-bare", "file-missing", "onnx-missing",
         "weights", "weights-id", "weights-file"],
)
def test_bad_specs_raise_detector_error(spec, kwargs, message):
    if spec.startswith("onnx"):
        pytest.importorskip("onnxruntime")
    with pytest.raises(DetectorError, match=message):
        create_detector(spec, **kwargs)


# --------------------------------------------------------------------------------------- det.txt files


def test_read_mot_detections_converts_frames_and_boxes(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text(
        "3,-1,10,20,30,40,0.9\n"
        "\n"
        "1,-1,1.5,2.5,10,20,0.5,-1,-1,-1\n"  # MOT15 style: 10 columns
        "3, -1, 0, 0, 5, 5, 0.25\n"  # spaces after commas
    )
    out = read_mot_detections(path)
    assert sorted(out) == [0, 2]  # 0-based frame indices; frame 2 of the file has no detections
    np.testing.assert_allclose(out[0].xyxy, [[1.5, 2.5, 11.5, 22.5]])
    np.testing.assert_allclose(out[2].xyxy, [[10, 20, 40, 60], [0, 0, 5, 5]])  # file order within a frame
    np.testing.assert_allclose(out[2].scores, [0.9, 0.25])
    assert out[2].class_ids.tolist() == [-1, -1] and out[2].class_names == ()
    assert read_mot_detections(str(path)).keys() == out.keys()
    (tmp_path / "empty.txt").write_text("")
    assert read_mot_detections(tmp_path / "empty.txt") == {}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,-1,10,20,30", r"det.txt:2: 5 columns, expected at least 7 \(frame,id,x,y,w,h,score"),
        ("1,-1,10,abc,30,40,0.9", r"det.txt:2: not a MOTChallenge row: column 4 \(y\) is not a number: 'abc'"),
        ("0,-1,10,20,30,40,0.9", r"det.txt:2: expected frame >= 1"),
        ("1.5,-1,10,20,30,40,0.9", r"det.txt:2: expected frame >= 1 \(integer\)"),
        ("1,-1,10,20,-30,40,0.9", r"det.txt:2: .*width, height >= 0"),
        ("1,-1,10,20,30,nan,0.9", r"det.txt:2: .*finite"),
    ],
    ids=["columns", "not-a-number", "frame-zero", "fractional-frame", "negative-width", "nan"],
)
def test_malformed_det_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "det.txt"
    path.write_text(f"1,-1,0,0,10,10,1\n{line}\n2,-1,0,0,10,10,1\n")
    with pytest.raises(DetectorError, match=message):
        read_mot_detections(path)


def test_det_file_with_too_few_columns_everywhere(tmp_path):
    path = tmp_path / "gt-like.txt"
    path.write_text("1,1,10,20,30\n" * 7)  # 35 numbers: must not be read as 5 rows of 7
    with pytest.raises(DetectorError, match=r"gt-like.txt:1: 5 columns, expected at least 7"):
        read_mot_detections(path)


@pytest.mark.parametrize(
    ("sequence", "rows", "frame_count"),
    [
        ("mot17_mini/train/MOT17-05-FRCNN", 3848, 837),  # 7 columns, not sorted by frame
        ("mot15/train/TUD-Campus", None, 71),  # 10 columns
    ],
    ids=["mot17", "mot15"],
)
def test_file_detector_on_real_det_files(shared_data, sequence, rows, frame_count):
    path = sequence_detections_path(shared_data / sequence)
    lines = [line.split(",") for line in path.read_text().splitlines() if line.strip()]
    detector = create_detector(f"file:{path}")
    assert isinstance(detector, FileDetector) and detector.class_names == ()
    assert sum(len(d) for d in detector.detections.values()) == (rows or len(lines))
    assert detector.num_frames == frame_count

    # Frame.index is 0-based; the file's frames are 1-based. Check one line of the file end to end.
    first = [float(v) for v in lines[0][:7]]
    frame = Frame(int(first[0]) - 1, 0.0, np.zeros((4, 4, 3), np.uint8))
    (found,) = detector.detect([frame])
    x, y, w, h = first[2:6]
    assert np.isclose(box_iou(found.xyxy, np.array([[x, y, x + w, y + h]], np.float32)), 1).any()
    assert len(detector.at(10**6)) == 0

    strict = create_detector(f"file:{path}", score_threshold=0.99, min_box_size=50)
    kept = [d for d in strict.detections.values() if len(d)]
    assert kept and all((d.scores >= 0.99).all() and (np.diff(d.xyxy.reshape(-1, 2, 2), axis=1) >= 50).all()
                        for d in kept)
    assert sum(map(len, kept)) < sum(len(d) for d in detector.detections.values())


def test_sequence_without_detections_is_an_error(tmp_path):
    with pytest.raises(DetectorError, match=r"det/det.txt does not exist"):
        sequence_detections_path(tmp_path)


# -------------------------------------------------------------------------------- background subtraction


@pytest.mark.parametrize(
    ("spec", "kind"),
    [("bgsub", "bgsub"), ("motion", "bgsub"), ("file:det.txt", "file"), ("onnx:m.onnx", "onnx"),
     ("torchvision:fcos_resnet50_fpn", "torchvision")],
    ids=["bgsub", "motion-alias", "file", "onnx", "torchvision"],
)
def test_detector_kind_resolves_aliases(spec, kind):
    assert detector_kind(spec) == kind


def test_motion_is_an_alias_of_bgsub():
    alias, canonical = create_detector("motion"), create_detector("bgsub")
    assert type(alias) is type(canonical) is BackgroundSubtractionDetector and MotionDetector is type(alias)
    assert (alias.name, canonical.name) == ("motion", "bgsub")  # named as asked for, in messages
    assert alias.box_filter == canonical.box_filter and alias.warmup_frames == canonical.warmup_frames


def test_bgsub_finds_walking_people_after_warmup(vtest_frames):
    detector = create_detector("bgsub")
    assert isinstance(detector, BackgroundSubtractionDetector) and detector.class_names == ()
    out = detector.detect(vtest_frames[:30]) + detector.detect(vtest_frames[30:])  # state carries across calls
    warmup = detector.warmup_frames
    assert all(len(d) == 0 for d in out[:warmup])
    after = out[warmup:]
    assert sum(len(d) > 0 for d in after) >= 0.95 * len(after)  # people walk through the plaza all the time
    boxes = np.concatenate([d.xyxy for d in after])
    heights = boxes[:, 3] - boxes[:, 1]
    assert 40 < np.median(heights) < 200, np.median(heights)  # pedestrians, not single pixels nor the frame
    assert (boxes >= 0).all() and (boxes[:, 2] <= 768).all() and (boxes[:, 3] <= 576).all()
    scores = np.concatenate([d.scores for d in after])
    assert ((scores > 0) & (scores <= 1)).all()
    assert all((d.class_ids == -1).all() for d in after)

    detector.reset()  # a new video: warm-up again, and any frame size
    assert len(detector.detect([vtest_frames[40]])[0]) == 0
    detector.reset()
    detector.detect([Frame(0, 0.0, np.zeros((100, 100, 3), np.uint8))])
    with pytest.raises(DetectorError, match=r"bgsub: frame 1 is 768x576 but earlier frames were 100x100; call reset"):
        detector.detect([vtest_frames[1]])


def test_bgsub_sees_nothing_in_a_static_scene():
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)  # textured but still
    images = [np.clip(scene.astype(np.int16) + rng.integers(-2, 3, scene.shape), 0, 255).astype(np.uint8)
              for _ in range(40)]  # sensor noise of +-2 levels
    detector = BackgroundSubtractionDetector(warmup_frames=5)
    assert all(len(d) == 0 for d in detector.detect(frames_of(images)))

    moved = images[-1].copy()
    moved[100:180, 150:190] = 255 - moved[100:180, 150:190]  # an object appears: 40x80 px
    (found,) = detector.detect(frames_of([moved], start=40))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [150, 100, 190, 180], atol=3)


# ------------------------------------------------------------------------------------------- torchvision


@pytest.mark.parametrize("name", sorted(TORCHVISION_DETECTORS))
def test_every_torchvision_detector_builds_with_coco_names(name):
    detector = create_detector(f"torchvision:{name}", weights="none", device="cpu")
    assert detector.name == f"torchvision:{name}"
    assert len(detector.class_names) == 91 and detector.class_names[1] == "person"
    assert detector.class_names[3] == "car"


@pytest.fixture(scope="module")
def always_person_weights(tmp_path_factory) -> Path:
    """A random fasterrcnn_mobilenet_v3_large_320_fpn state dict whose classifier says "person" for every
    region: makes the output plumbing (labels, names, filters) checkable without COCO weights."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None,
                                         weights_backbone=None, num_classes=91)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1] = 20.0  # class 1 = person
    path = tmp_path_factory.mktemp("weights") / "always_person.pth"
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)  # like torchvision's COCO files: FrozenBatchNorm2d keeps no num_batches_tracked
    return path


@pytest.mark.slow
def test_torchvision_detector_with_explicit_weights(always_person_weights, vtest_frames):
    spec = "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"
    detector = create_detector(spec, weights=str(always_person_weights), device="cpu", batch_size=2)
    assert detector.resolved.source == "explicit" and detector.weights_id.startswith("custom-")
    frames = [vtest_frames[0], vtest_frames[1], Frame(7, 0.7, np.full((200, 300, 3), 128, np.uint8))]
    out = detector.detect(frames)
    assert len(out) == 3
    for det, frame in zip(out, frames):
        h, w = frame.image.shape[:2]
        assert len(det) > 0 and det.xyxy.dtype == np.float32
        assert {det.class_name(int(c)) for c in det.class_ids} == {"person"}
        assert (det.scores >= 0.1).all()  # the default threshold
        assert (det.xyxy >= 0).all() and (det.xyxy[:, [0, 2]] <= w).all() and (det.xyxy[:, [1, 3]] <= h).all()
    (alone,) = detector.detect(frames[1:2])  # batching pads frames to one size: the boxes must not move
    np.testing.assert_allclose(out[1].xyxy, alone.xyxy, atol=1e-2)

    cars = create_detector(spec, weights=str(always_person_weights), device="cpu", classes=["car"])
    assert len(cars.detect(frames[:1])[0]) == 0
    big = create_detector(spec, weights=str(always_person_weights), device="cpu", min_box_size=100)
    (det,) = big.detect(frames[:1])
    assert len(det) < len(out[0]) and (np.diff(det.xyxy.reshape(-1, 2, 2), axis=1) >= 100).all()


def test_torchvision_weights_of_another_model_are_rejected(always_person_weights):
    with pytest.raises(WeightsUnavailableError, match=r"always_person.pth is not a ssdlite320_mobilenet_v3_large"):
        TorchvisionDetector("ssdlite320_mobilenet_v3_large", weights=str(always_person_weights), device="cpu")


def test_missing_coco_weights_name_the_file_and_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDGRU_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"ssdlite320_mobilenet_v3_large_coco-a79551df\.pth in "
                                                      rf"{tmp_path}/hub/checkpoints/"):
        create_detector("torchvision:ssdlite320_mobilenet_v3_large", device="cpu")


def test_failed_download_of_coco_weights_is_a_clear_error(monkeypatch, tmp_path):
    from vidgru.backbone import weights

    def offline(url, dst):
        raise OSError("Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("VIDGRU_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_download", offline)
    with pytest.raises(WeightsUnavailableError, match=r"download from https://.*fcos_resnet50_fpn_coco.*failed"):
        create_detector("torchvision:fcos_resnet50_fpn", device="cpu")


def test_coco_weights_in_the_hub_cache_are_used(monkeypatch, tmp_path, always_person_weights):
    import shutil

    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    shutil.copy(always_person_weights, folder / "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDGRU_OFFLINE", "1")
    detector = create_detector("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", device="cpu")
    assert (detector.resolved.source, detector.weights_id) == ("hub-cache", "COCO_V1")
    (det,) = detector.detect([Frame(0, 0.0, np.full((120, 160, 3), 90, np.uint8))])
    assert set(det.class_ids.tolist()) == {1}


# -------------------------------------------------------------------------------------------------- ONNX


def test_nanodet_model_layout(nanodet):
    assert nanodet.name == f"onnx:{NANODET}"
    assert nanodet.input_size == (416, 416) and nanodet.strides == (8, 16, 32)
    assert [lv.cells for lv in nanodet.levels] == [52 * 52, 26 * 26, 13 * 13]
    assert nanodet.class_names == COCO80_CLASSES and len(COCO80_CLASSES) == 80
    assert not nanodet.dynamic_batch  # the file's batch dimension is fixed at 1: frames run one by one


@pytest.mark.slow
def test_nanodet_finds_mot17_pedestrians(nanodet_path, shared_data):
    """Recall and box accuracy on the MOT17-mini frames with ground truth (all six sequences, 34 frames):
    pedestrians at least 20% of the frame height and 80% visible (at 416x416 a 1080p frame's smaller people are
    only a few pixels wide)."""
    detector = create_detector(f"onnx:{nanodet_path}", classes=["person"])
    n_gt, ious, n_small_gt, n_small_hit = 0, [], 0, 0
    for seq in sorted((shared_data / MOT17).iterdir()):
        gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")  # frame,id,x,y,w,h,consider,class,visibility
        images = [read_rgb(p) for p in sorted((seq / seq.name).glob("*.jpg"))]
        for frame, det in zip(frames_of(images), detector.detect(frames_of(images))):
            assert set(det.class_ids.tolist()) <= {0}
            rows = gt[(gt[:, 0] == frame.index + 1) & (gt[:, 6] == 1) & (gt[:, 7] == 1) & (gt[:, 8] >= 0.8)]
            boxes = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]
            large = rows[:, 5] >= 0.2 * frame.image.shape[0]
            iou = box_iou(boxes, det.xyxy) if len(det) else np.zeros((len(boxes), 0))
            n_gt += int(large.sum())
            ious += greedy_match(iou[large])
            n_small_gt += int((~large).sum())
            n_small_hit += len(greedy_match(iou[~large]))
    recall = len(ious) / n_gt
    assert n_gt >= 60, n_gt
    assert recall >= 0.75, f"recall {recall:.3f} of {n_gt} large visible pedestrians"  # measured 0.89
    assert np.mean(ious) >= 0.70, np.mean(ious)  # measured 0.78
    assert 0.1 < n_small_hit / n_small_gt < recall  # smaller people: found less often, but found


def test_nanodet_classes_and_threshold_filter(nanodet_path, shared_data):
    frame = frames_of([read_rgb(shared_data / MOT17 / "MOT17-05-FRCNN/MOT17-05-FRCNN/000001.jpg")])
    everything = create_detector(f"onnx:{nanodet_path}", score_threshold=0.05).detect(frame)[0]
    people = create_detector(f"onnx:{nanodet_path}", score_threshold=0.05, classes=["person"]).detect(frame)[0]
    assert set(everything.class_ids.tolist()) > {0}  # a street: other classes turn up at low scores
    # Class-wise NMS: filtering by class before or after gives the same boxes.
    np.testing.assert_allclose(people.xyxy, everything[everything.class_ids == 0].xyxy, atol=1e-4)
    confident = create_detector(f"onnx:{nanodet_path}", score_threshold=0.3).detect(frame)[0]
    assert 0 < len(confident) < len(everything) and (confident.scores >= 0.3).all()
    assert (np.diff(everything.scores) <= 0).all()  # best first
    assert (everything.xyxy >= 0).all() and (everything.xyxy[:, [0, 2]] <= 640).all()


# Frame 50 of vtest.avi, labelled by hand: the four pedestrians in full view on the walkway (three more stand
# half hidden behind the sign post) and the white van parked top right.
VTEST_50_PEOPLE = np.array([[502, 216, 541, 307], [666, 257, 712, 369], [551, 216, 589, 304], [371, 178, 403, 259]],
                           np.float32)
VTEST_50_VAN = np.array([[652, 43, 723, 97]], np.float32)


def test_nanodet_finds_the_people_in_real_footage(nanodet, vtest_frames, shared_data):
    from vidgru.video import read_frames

    (det,) = nanodet.detect([vtest_frames[50]])
    people = det[(det.class_ids == COCO80_CLASSES.index("person")) & (det.scores >= 0.5)]
    ious = greedy_match(box_iou(VTEST_50_PEOPLE, people.xyxy), min_iou=0.6)
    assert len(ious) == len(VTEST_50_PEOPLE), (people.xyxy, people.scores)  # measured IoU >= 0.94, scores 0.67-0.84
    assert len(people) <= len(VTEST_50_PEOPLE) + 1  # nothing much else taken for a person
    heights, widths = people.xyxy[:, 3] - people.xyxy[:, 1], people.xyxy[:, 2] - people.xyxy[:, 0]
    assert (heights > 1.8 * widths).all()  # standing people: tall boxes
    vehicles = det[np.isin(det.class_ids, [COCO80_CLASSES.index(c) for c in ("car", "truck", "bus")])
                   & (det.scores >= 0.35)]
    assert box_iou(VTEST_50_VAN, vehicles.xyxy).max(initial=0) >= 0.8  # class ids map to the right COCO names

    # A tree and no one: no confident person in OpenCV's other sample clip.
    tree = read_frames(shared_data / TREE, max_frames=68)[::10]
    best = [float(d.scores[d.class_ids == 0].max(initial=0)) for d in nanodet.detect(tree)]
    assert max(best) < 0.3, best  # measured 0.17


def test_nanodet_batch_equals_one_by_one(nanodet, vtest_frames):
    frames = vtest_frames[::20]
    together = nanodet.detect(frames)
    for frame, det in zip(frames, together):
        (alone,) = nanodet.detect([frame])
        np.testing.assert_array_equal(det.xyxy, alone.xyxy)
        assert len(det) > 5  # a plaza full of people (and their bags)


@pytest.mark.slow
def test_bgsub_blobs_are_where_nanodet_sees_people(nanodet, vtest_frames):
    bgsub = BackgroundSubtractionDetector()
    found = bgsub.detect(vtest_frames[:40])[bgsub.warmup_frames :]
    people = [d[(d.class_ids == 0) & (d.scores >= 0.35)]
              for d in nanodet.detect(vtest_frames[bgsub.warmup_frames : 40])]
    on_person = [box_iou(m.xyxy, p.xyxy).max(axis=1) > 0.2 for m, p in zip(found, people) if len(m) and len(p)]
    assert np.concatenate(on_person).mean() >= 0.8


def test_bad_onnx_settings(nanodet_path, tmp_path):
    import onnxruntime

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(DetectorError, match=r"broken.onnx: cannot load the model"):
        create_detector(f"onnx:{bad}")
    with pytest.raises(DetectorError, match=r"unknown class 'pedestrian'; valid classes: person, bicycle, car"):
        create_detector(f"onnx:{nanodet_path}", classes=["pedestrian"])
    with pytest.raises(DetectorError, match=r"unknown device 'tpu'"):
        create_detector(f"onnx:{nanodet_path}", device="tpu")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(DetectorError, match=r"device 'cuda' needs onnxruntime-gpu"):
            create_detector(f"onnx:{nanodet_path}", device="cuda")


def test_missing_onnxruntime_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(DetectorError, match=r"needs onnxruntime; pip install 'vidgru\[onnx\]'"):
        create_detector(f"onnx:{NANODET}")
