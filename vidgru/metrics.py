"""Classification metrics and the plots that go with them; multi-object tracking evaluation.

Plotting imports matplotlib lazily (Agg backend) and tracking evaluation imports ``trackers`` lazily, so
importing this module stays cheap.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from vidgru.errors import ConfigError, DatasetError, VidgruError
from vidgru.mot import MotSequence, find_mot_sequences, gt_format, read_mot_txt


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; rows are true classes, columns predicted classes."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def topk_accuracy(probs: np.ndarray, y_true: Sequence[int], k: int) -> float:
    """probs (N, C); fraction of rows whose true class is among the k highest."""
    if len(probs) == 0:
        return 0.0
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1)[:, :k]
    return float(np.mean([t in row for t, row in zip(y_true, top)]))


@dataclass(frozen=True)
class ClassMetrics:
    """One class of a :class:`ClassificationReport`: precision, recall, F1 and how many clips truly are it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    """How a classifier did on labelled clips: top-1 accuracy (top-5 with more than 5 classes), per-class
    metrics, macro F1 and the confusion matrix (rows: true class, columns: predicted; ``class_names`` order)."""

    n: int
    accuracy: float
    per_class: dict[str, ClassMetrics]
    macro_f1: float
    class_names: list[str]
    confusion: np.ndarray  # (C, C) int64
    top5_accuracy: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready: the layout of ``vidgru eval --report`` and of the ``val`` entry of training metrics."""
        out = {"n": self.n, "accuracy": self.accuracy,
               "per_class": {k: {f.name: getattr(v, f.name) for f in fields(v)} for k, v in self.per_class.items()},
               "macro_f1": self.macro_f1, "class_names": list(self.class_names),
               "confusion": np.asarray(self.confusion).tolist()}
        if self.top5_accuracy is not None:
            out["top5_accuracy"] = self.top5_accuracy
        return out


def classification_report(probs: np.ndarray, y_true: Sequence[int], class_names: Sequence[str]
                          ) -> ClassificationReport:
    """Accuracy, top-5 (when there are more than 5 classes), per-class precision/recall/F1/support and the
    confusion matrix of class probabilities ``probs`` (N, C) against true class indices ``y_true`` (N,)."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    per_class = {}
    for c, name in enumerate(class_names):
        tp = cm[c, c]
        predicted, actual = cm[:, c].sum(), cm[c, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = ClassMetrics(float(precision), float(recall), float(f1), int(actual))
    return ClassificationReport(
        n=int(len(y_true)),
        accuracy=float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        per_class=per_class,
        macro_f1=float(np.mean([v.f1 for v in per_class.values()])) if per_class else 0.0,
        class_names=list(class_names),
        confusion=cm,
        top5_accuracy=topk_accuracy(probs, y_true, 5) if len(class_names) > 5 else None,
    )


def format_report(report: ClassificationReport, unit: str = "clips") -> str:
    """A plain-text table of a :class:`ClassificationReport` (``unit``: what was classified, clips or images)."""
    names = report.class_names
    width = max(12, *(len(n) for n in names))
    lines = [f"{unit}: {report.n}   top-1 accuracy: {100 * report.accuracy:.1f}%"]
    if report.top5_accuracy is not None:
        lines[0] += f"   top-5: {100 * report.top5_accuracy:.1f}%"
    lines.append(f"{'class':<{width}}  precision  recall     f1  support")
    for name in names:
        m = report.per_class[name]
        lines.append(
            f"{name:<{width}}  {m.precision:9.3f}  {m.recall:6.3f}  {m.f1:5.3f}  {m.support:7d}"
        )
    cm = np.asarray(report.confusion)
    lines.append("confusion matrix (rows: true, columns: predicted, in the order above):")
    cell = max(3, len(str(cm.max() if cm.size else 0)))
    for name, row in zip(names, cm):
        lines.append(f"  {name:<{width}} " + " ".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts in the cells, saved as PNG."""
    plt = _pyplot()
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title or "confusion matrix (row-normalised colour)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_curves(history: list[dict], path: str | Path) -> Path:
    """Training loss and validation accuracy per epoch, saved as PNG."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=110)
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    if all("val_loss" in h for h in history):
        ax1.plot(epochs, [h["val_loss"] for h in history], label="val")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax2.plot(epochs, [h["train_acc"] for h in history], label="train (windows)")
    ax2.plot(epochs, [h["val_acc"] for h in history], label="val (clips)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.02)
    ax2.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- Multi-object tracking -------------------------------------------------------------------------------------
# Metrics come from the ``trackers`` package's ``trackers.eval`` (TrackEval-parity CLEAR, HOTA and Identity),
# imported lazily because it is an optional extra: ``pip install 'vidgru[eval]'``.

TRACKING_BENCHMARKS = ("auto", "MOT15", "MOT17")
_MOT17_CLASSES = range(1, 14)  # pedestrian .. crowd; TrackEval refuses other gt classes for MOT16/17/20
_METRIC_FAMILIES = ["CLEAR", "HOTA", "Identity"]


@dataclass(frozen=True)
class SequenceMetrics:
    """TrackEval metrics of one sequence, or of several combined (``name == "COMBINED"``).

    Ratios are percentages (0-100; MOTA can be negative): ``hota``, ``deta``, ``assa``, ``loca`` (HOTA family,
    averaged over IoU thresholds 0.05-0.95), ``mota``, ``motp`` (CLEAR) and ``idf1``, ``idp``, ``idr``
    (Identity), the last two families at one IoU threshold (0.5 by default). ``tp``, ``fp``, ``fn``, ``idsw``
    and ``frag`` count boxes (CLEAR); ``mt``, ``pt``, ``ml`` count ground-truth tracks mostly tracked (> 80 %
    of their frames), partly tracked and mostly lost (< 20 %). ``benchmark`` is how the ground truth was read:
    ``"MOT15"`` or ``"MOT17"`` (``"MOT15+MOT17"`` for a mixed combination).
    """

    name: str
    benchmark: str
    hota: float
    deta: float
    assa: float
    loca: float
    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    idsw: int
    tp: int
    fp: int
    fn: int
    frag: int
    mt: int
    pt: int
    ml: int

    @property
    def gt_boxes(self) -> int:
        return self.tp + self.fn

    @property
    def gt_tracks(self) -> int:
        return self.mt + self.pt + self.ml

    def to_dict(self) -> dict:
        """A JSON-ready dict with the field names above; percentages rounded to 0.001."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = round(value, 3) if isinstance(value, float) else value
        out["gt_boxes"] = self.gt_boxes
        out["gt_tracks"] = self.gt_tracks
        return out


@dataclass(frozen=True)
class TrackingReport:
    """The result of :func:`evaluate_tracking`: ``sequences`` in input order, ``combined`` over all of them
    (TrackEval's COMBINED: counts summed, ratios recomputed; ``None`` when nothing could be evaluated) and
    ``errors``, sequence name -> why it was not evaluated (no results file, malformed file, no ground truth)."""

    sequences: list[SequenceMetrics]
    combined: SequenceMetrics | None
    errors: dict[str, str]
    iou_threshold: float = 0.5

    def to_dict(self) -> dict:
        return {
            "sequences": [s.to_dict() for s in self.sequences],
            "combined": self.combined.to_dict() if self.combined is not None else None,
            "errors": dict(self.errors),
            "iou_threshold": self.iou_threshold,
        }


def evaluate_tracking(
    ground_truth: str | Path | MotSequence | Iterable[MotSequence | tuple[str, str | Path]],
    results_dir: str | Path,
    *,
    benchmark: str = "auto",
    iou_threshold: float = 0.5,
) -> TrackingReport:
    """Evaluate MOTChallenge tracker output against ground truth, the way TrackEval does.

    Args:
        ground_truth: a split folder (every sequence in it, see :func:`vidgru.mot.find_mot_sequences`) or one
            sequence folder; or :class:`~vidgru.mot.MotSequence` objects; or ``(name, gt_path)`` pairs.
        results_dir: folder holding ``<name>.txt`` per sequence in MOTChallenge format
            (``frame,id,x,y,w,h,score,...``, 1-based frames), e.g. written by :class:`vidgru.sinks.MotSink`.
        benchmark: how to read gt.txt. ``"MOT17"`` (also right for MOT16): column 8 is the class; only
            pedestrians (1) are scored, tracker boxes matched (IoU >= 0.5) to a distractor (classes 2, 7, 8, 12)
            are removed, rows with flag (column 7) 0 are ignored. ``"MOT15"``: columns 8-10 are world
            coordinates; no class filtering, no distractors, rows with flag 0 are ignored. As in TrackEval,
            ignoring a gt row means it is never a miss, but a tracker box on it still counts as a false positive.
            ``"auto"`` (default) picks per sequence: MOT17 when columns 8 and 9 look like class (1-13) and
            visibility (0-1), else MOT15.
        iou_threshold: the IoU a match needs for CLEAR (MOTA) and Identity (IDF1); HOTA uses 0.05-0.95.

    Returns:
        A :class:`TrackingReport`. A sequence without a results file (or with a malformed one) is listed in
        ``report.errors`` instead of failing the whole evaluation.

    Raises:
        VidgruError: the ``trackers`` package is not installed.
        ConfigError: unknown ``benchmark``.
        DatasetError: ``results_dir`` is not a folder, or there are no sequences to evaluate.

    Example::

        report = evaluate_tracking("MOT17/train", "results/")
        print(format_tracking_report(report))
    """
    if benchmark not in TRACKING_BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r}; valid: {', '.join(TRACKING_BENCHMARKS)}")
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise DatasetError(f"tracking results folder {results_dir} does not exist")
    entries = _ground_truth_entries(ground_truth)
    trackers_eval = _import_trackers_eval()

    evaluated: list[tuple[SequenceMetrics, object]] = []
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vidgru-eval-") as tmp:
        for index, (name, gt_path) in enumerate(entries):
            result_path = results_dir / f"{name}.txt"
            if gt_path is None or not gt_path.is_file():
                errors[name] = "no ground truth (gt/gt.txt)" if gt_path is None else f"{gt_path} does not exist"
                continue
            if not result_path.is_file():
                errors[name] = f"no results file {result_path}"
                continue
            try:
                gt_rows, bench = _prepare_ground_truth(read_mot_txt(gt_path, min_columns=7), benchmark, gt_path)
                tracker_rows = _prepare_tracker_rows(read_mot_txt(result_path), result_path)
            except DatasetError as e:
                errors[name] = str(e)
                continue
            # trackers.eval reads files; the normalised copies carry exactly what TrackEval would use.
            gt_file, tracker_file = Path(tmp) / f"{index}-gt.txt", Path(tmp) / f"{index}-tracker.txt"
            np.savetxt(gt_file, gt_rows, fmt="%.10g", delimiter=",")
            np.savetxt(tracker_file, tracker_rows, fmt="%.10g", delimiter=",")
            result = trackers_eval.evaluate_mot_sequence(
                gt_file, tracker_file, metrics=_METRIC_FAMILIES, threshold=iou_threshold)
            evaluated.append((_sequence_metrics(name, bench, result.CLEAR, result.HOTA, result.Identity), result))

    combined = None
    if evaluated:
        results = [r for _, r in evaluated]
        combined = _sequence_metrics(
            "COMBINED",
            "+".join(sorted({m.benchmark for m, _ in evaluated})),
            trackers_eval.CLEARMetrics.from_dict(
                trackers_eval.aggregate_clear_metrics([r.CLEAR.to_dict() for r in results])),
            trackers_eval.HOTAMetrics.from_dict(trackers_eval.aggregate_hota_metrics(
                [r.HOTA.to_dict(include_arrays=True, arrays_as_list=False) for r in results])),
            trackers_eval.IdentityMetrics.from_dict(
                trackers_eval.aggregate_identity_metrics([r.Identity.to_dict() for r in results])),
        )
    return TrackingReport([m for m, _ in evaluated], combined, errors, float(iou_threshold))


def format_tracking_report(report: TrackingReport, *, include_errors: bool = True) -> str:
    """A plain-text table of a :class:`TrackingReport`: one row per sequence, then COMBINED, then (unless
    ``include_errors`` is False: the caller reports them itself) the sequences that could not be evaluated and
    why."""
    rows = list(report.sequences) + ([report.combined] if report.combined is not None else [])
    width = max([10] + [len(m.name) for m in rows])
    header = (f"{'sequence':<{width}}  {'bench':<5}  {'HOTA':>5}  {'DetA':>5}  {'AssA':>5}  {'MOTA':>6}  {'IDF1':>5}"
              f"  {'IDSW':>5}  {'MT':>4}  {'ML':>4}  {'FP':>6}  {'FN':>6}  {'GT':>6}")
    lines = [header]
    for m in rows:
        if m is report.combined:
            lines.append("-" * len(header))
        lines.append(
            f"{m.name:<{width}}  {m.benchmark:<5}  {m.hota:5.1f}  {m.deta:5.1f}  {m.assa:5.1f}  {m.mota:6.1f}"
            f"  {m.idf1:5.1f}  {m.idsw:5d}  {m.mt:4d}  {m.ml:4d}  {m.fp:6d}  {m.fn:6d}  {m.gt_boxes:6d}")
    if not rows:
        lines.append("(no sequence evaluated)")
    if report.errors and include_errors:
        lines.append("not evaluated:")
        lines += [f"  {name}: {why}" for name, why in report.errors.items()]
    return "\n".join(lines)


def _import_trackers_eval():
    try:
        import trackers.eval as trackers_eval
        from trackers.eval import evaluate_mot_sequence  # noqa: F401 - resolves the lazy attribute now
    except ImportError as e:
        raise VidgruError(
            f"tracking evaluation needs the 'trackers' package (>= 2.6), which is not installed ({e}): "
            "pip install 'vidgru[eval]'") from e
    return trackers_eval


def _ground_truth_entries(
    ground_truth: str | Path | MotSequence | Iterable[MotSequence | tuple[str, str | Path]],
) -> list[tuple[str, Path | None]]:
    if isinstance(ground_truth, (str, Path)):
        sequences = find_mot_sequences(ground_truth)
        if not sequences:
            raise DatasetError(f"no MOTChallenge sequences in {ground_truth}")
        ground_truth = sequences
    elif isinstance(ground_truth, MotSequence):
        ground_truth = [ground_truth]
    entries: list[tuple[str, Path | None]] = []
    for item in ground_truth:
        if isinstance(item, MotSequence):
            entries.append((item.name, item.gt_path))
        else:
            name, gt_path = item
            entries.append((str(name), Path(gt_path)))
    if not entries:
        raise DatasetError("no sequences to evaluate")
    names = [name for name, _ in entries]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DatasetError(f"sequence names must be unique (results are <name>.txt): {', '.join(duplicated)}")
    return entries


def _check_frames_and_ids(rows: np.ndarray, path: Path) -> None:
    """Whole-number IDs, each at most once per frame (frames themselves are checked by ``read_mot_txt``)."""
    ids = rows[:, 1]
    if np.any(ids != np.round(ids)):
        raise DatasetError(f"{path}: track ids must be whole numbers")
    keyed = rows[ids >= 0][:, :2]
    unique, counts = np.unique(keyed, axis=0, return_counts=True)
    if np.any(counts > 1):
        frame, track_id = unique[np.argmax(counts > 1)]
        raise DatasetError(f"{path}: id {track_id:g} appears more than once in frame {frame:g}")


def _prepare_ground_truth(rows: np.ndarray, benchmark: str, path: Path) -> tuple[np.ndarray, str]:
    """(N, 8) rows ``frame,id,x,y,w,h,flag,class`` as trackers.eval reads them, and the benchmark used.

    trackers.eval applies MOT17 rules to every file (class from column 8, pedestrians only, distractors).
    MOT15 has world coordinates there, so every MOT15 row would be dropped (x = -1 is not a pedestrian) and
    some treated as distractors (x = 2, 7, 8, 12); writing class 1 for every row gives TrackEval's MOT15:
    only the flag counts. Flags are truncated to integers as TrackEval does.
    """
    _check_frames_and_ids(rows, path)
    bench = gt_format(rows) if benchmark == "auto" else benchmark
    if bench == "MOT17":
        if rows.shape[1] < 8:
            raise DatasetError(f"{path}: MOT17 ground truth needs a class column (8), found {rows.shape[1]} columns")
        classes = rows[:, 7]
        bad = np.setdiff1d(np.unique(classes), np.asarray(_MOT17_CLASSES))
        if len(bad):
            raise DatasetError(f"{path}: class {bad[0]:g} is not a MOT17 class (1-13); MOT15 ground truth? "
                               "use benchmark 'MOT15'")
    else:
        classes = np.ones(len(rows))
    out = np.column_stack([rows[:, :6], np.trunc(rows[:, 6]), classes]) if len(rows) else np.zeros((0, 8))
    if not len(out):
        # trackers.eval refuses an empty file; an ignored row (flag 0) with no id changes nothing.
        out = np.array([[1, -1, 0, 0, 1, 1, 0, 1]], np.float64)
    return out, bench


def _prepare_tracker_rows(rows: np.ndarray, path: Path) -> np.ndarray:
    """(N, 6) rows ``frame,id,x,y,w,h``; a tracker that found nothing gets one id -1 row, which trackers.eval
    drops (it refuses empty files)."""
    _check_frames_and_ids(rows, path)
    if not len(rows):
        return np.array([[1, -1, 0, 0, 1, 1]], np.float64)
    return rows[:, :6]


def _sequence_metrics(name: str, benchmark: str, clear, hota, identity) -> SequenceMetrics:
    return SequenceMetrics(
        name=name, benchmark=benchmark,
        hota=100 * hota.HOTA, deta=100 * hota.DetA, assa=100 * hota.AssA, loca=100 * hota.LocA,
        mota=100 * clear.MOTA, motp=100 * clear.MOTP,
        idf1=100 * identity.IDF1, idp=100 * identity.IDP, idr=100 * identity.IDR,
        idsw=clear.IDSW, tp=clear.CLR_TP, fp=clear.CLR_FP, fn=clear.CLR_FN, frag=clear.Frag,
        mt=clear.MT, pt=clear.PT, ml=clear.ML,
    )
