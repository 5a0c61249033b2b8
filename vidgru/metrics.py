"""Classification metrics and the plots that go with them.

Plotting imports matplotlib lazily (Agg backend), so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


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


def classification_report(probs: np.ndarray, y_true: Sequence[int], class_names: Sequence[str]) -> dict:
    """Accuracy, top-5 (when there are more than 5 classes), per-class precision/recall/F1/support and the
    confusion matrix, as a JSON-ready dict."""
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
        per_class[name] = {
            "precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(actual)
        }
    report = {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "per_class": per_class,
        "macro_f1": float(np.mean([v["f1"] for v in per_class.values()])) if per_class else 0.0,
        "class_names": list(class_names),
        "confusion": cm.tolist(),
    }
    if len(class_names) > 5:
        report["top5_accuracy"] = topk_accuracy(probs, y_true, 5)
    return report


def format_report(report: dict) -> str:
    """A plain-text table of a :func:`classification_report`."""
    names = report["class_names"]
    width = max(12, *(len(n) for n in names))
    lines = [f"clips: {report['n']}   top-1 accuracy: {100 * report['accuracy']:.1f}%"]
    if "top5_accuracy" in report:
        lines[0] += f"   top-5: {100 * report['top5_accuracy']:.1f}%"
    lines.append(f"{'class':<{width}}  precision  recall     f1  support")
    for name in names:
        m = report["per_class"][name]
        lines.append(
            f"{name:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}"
        )
    cm = np.asarray(report["confusion"])
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
