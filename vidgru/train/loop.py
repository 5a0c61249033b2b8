"""Training and evaluation of clip classifiers on cached frame embeddings.

Data flow: labelled clips -> (cache) per-frame embeddings (T, D) -> random windows with speed jitter (some
spliced from two clips, with the label split by time covered) -> clip model -> cross-entropy. Validation and
evaluation classify each whole clip the way ``vidgru classify`` does (sliding windows, mean probability), so
the reported accuracy is the one users get.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidgru.errors import ConfigError, DatasetError, VideoOpenError
from vidgru.fileio import check_outputs, write_text_atomic
from vidgru.metrics import ClassificationReport
from vidgru.motion_features import MotionSpec, descriptor_permutation
from vidgru.settings import TrainSettings
from vidgru.train.cache import CachedEmbeddings, EmbeddingCache
from vidgru.train.dataset import LabelledSet, Sample, load_labelled_set, stratified_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedSet:
    """Embedded clips with integer labels; ``failed`` lists (path, reason) of clips that could not be read."""

    items: list[CachedEmbeddings]
    labels: np.ndarray  # (N,) int64
    paths: list[str]
    failed: list[tuple[str, str]]


class BestEpoch:
    """Model selection over epochs: keeps the weights of the epoch with the best validation accuracy (ties: lower
    loss) and says when ``patience`` epochs have passed without one. ``epoch`` and ``state`` are the best's."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.acc, self.loss, self.epoch, self.state = -1.0, math.inf, 0, None

    def update(self, epoch: int, net, probs: np.ndarray, labels: np.ndarray, history: list[dict],
               train: dict) -> bool:
        """Score this epoch's validation probabilities (N, C) against ``labels`` (N,), append the epoch to
        ``history`` (with the ``train`` loss and accuracy), keep the weights if best; True when it is time to stop."""
        val_acc = float((probs.argmax(1) == labels).mean())
        val_loss = float(-np.log(np.maximum(probs[np.arange(len(probs)), labels], 1e-9)).mean())
        history.append({"epoch": epoch, **train, "val_loss": val_loss, "val_acc": val_acc})
        if val_acc > self.acc or (val_acc == self.acc and val_loss < self.loss):
            self.acc, self.loss, self.epoch, self.state = val_acc, val_loss, epoch, copy.deepcopy(net.state_dict())
        elif epoch - self.epoch >= self.patience:
            log.info("early stop at epoch %d (best %d)", epoch, self.epoch)
            return True
        return False


def embed_samples(samples: Sequence[Sample], class_names: Sequence[str], embedder, cache: EmbeddingCache, *,
                  sample_fps: float, max_frames: int, progress: bool = True, desc: str = "embedding") -> EmbeddedSet:
    """Embed every clip once (through the cache). Unreadable clips are skipped and reported, not fatal."""
    from tqdm import tqdm

    lookup = {name: i for i, name in enumerate(class_names)}
    items, labels, paths, failed = [], [], [], []
    for sample in tqdm(samples, desc=desc, unit="clip", disable=not progress, leave=False):
        try:
            emb = cache.get_or_compute(sample.path, embedder, sample_fps=sample_fps, max_frames=max_frames)
        except VideoOpenError as exc:
            log.warning("skipping %s: %s", sample.path, exc)
            failed.append((sample.path, str(exc)))
            continue
        if len(emb.embeddings) == 0:
            failed.append((sample.path, "no frames"))
            continue
        items.append(emb)
        labels.append(lookup[sample.label])
        paths.append(sample.path)
    return EmbeddedSet(items, np.asarray(labels, np.int64), paths, failed)


def sample_window(emb: np.ndarray, length: int, rng: np.random.Generator, speed_jitter: float) -> np.ndarray:
    """A random window of ``length`` steps from (T, D) embeddings, read at a random speed in
    [1 - speed_jitter, 1 + speed_jitter] (nearest-frame resampling). Short clips give all their frames."""
    t = len(emb)
    rate = rng.uniform(1.0 - speed_jitter, 1.0 + speed_jitter) if speed_jitter > 0 else 1.0
    span = (length - 1) * rate + 1
    if span >= t:
        n = min(length, max(1, int((t - 1) / rate) + 1))
        start = 0.0
    else:
        n = length
        start = rng.uniform(0, t - span)
    idx = np.minimum(np.round(start + np.arange(n) * rate).astype(np.int64), t - 1)
    return emb[idx]


def splice_windows(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A window that changes content part-way: the first ``cut`` steps of ``first`` (T1, D), then the steps
    of ``second`` (T2, D) from ``cut`` on, for a random ``cut`` in [1, T) with T = min(T1, T2). Returns the
    window and the share of it taken from ``first`` (the soft-label weight of ``first``'s class). The motion
    descriptors of each part were computed within its own clip, so the splice looks like the motion changing
    in one scene, not like a cut."""
    n = min(len(first), len(second))
    if n < 2:
        return first, 1.0
    cut = int(rng.integers(1, n))
    return np.concatenate([first[:cut], second[cut:n]]), cut / n


# How camera-motion labels change when a clip is mirrored left-right, top-bottom, or played backwards.
_MIRROR_X = {"pan_left": "pan_right", "pan_right": "pan_left"}
_MIRROR_Y = {"tilt_up": "tilt_down", "tilt_down": "tilt_up"}
_REVERSED = {**_MIRROR_X, **_MIRROR_Y, "zoom_in": "zoom_out", "zoom_out": "zoom_in"}


class MotionAugmenter:
    """Mirrors (left-right, top-bottom) and time-reverses embedded camera-motion clips without re-embedding:
    the motion descriptors are permuted (:func:`~vidgru.motion_features.descriptor_permutation`) and the label
    follows (pan_left <-> pan_right, tilt_up <-> tilt_down, zoom_in <-> zoom_out; other classes keep theirs).
    Each of the three happens with probability 1/2. Appearance features are not transformed, so models that
    use them must not be trained with it.

    Args:
        spec: the embedder's motion descriptors; appearance_dim: where they start in an embedding.
        class_names: the data set's classes, in label order.
    """

    def __init__(self, spec: MotionSpec, appearance_dim: int, class_names: Sequence[str]) -> None:
        self.spec = spec
        self.appearance_dim = appearance_dim
        self.per_gap = spec.dim // len(spec.gaps)
        lookup = {name: i for i, name in enumerate(class_names)}
        self.perms: dict[tuple[bool, bool, bool], np.ndarray] = {}
        self.labels: dict[tuple[bool, bool, bool], np.ndarray] = {}
        for key in [(fx, fy, rv) for fx in (False, True) for fy in (False, True) for rv in (False, True)]:
            fx, fy, rv = key
            self.perms[key] = np.asarray(descriptor_permutation(spec, flip_x=fx, flip_y=fy, reverse=rv))
            mapped = []
            for name in class_names:
                for on, table in ((fx, _MIRROR_X), (fy, _MIRROR_Y), (rv, _REVERSED)):
                    name = table.get(name, name) if on else name
                if name not in lookup:
                    raise ConfigError(f"motion_augment: a transformed clip of class {class_names[len(mapped)]!r} "
                                      f"is {name!r}, which is not a class of this data set")
                mapped.append(lookup[name])
            self.labels[key] = np.asarray(mapped, np.int64)

    def __call__(self, emb: np.ndarray, label: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """emb: (T, D) one clip's embeddings -> transformed (T, D) copy and its label."""
        key = tuple(bool(v) for v in rng.random(3) < 0.5)
        if not any(key):
            return emb, label
        a = self.appearance_dim
        out = emb.copy()
        if key[2]:  # played backwards: frame t of the result is frame T-1-t; the pair (t, t-g) of the result
            # is the pair (T-1-t+g, T-1-t) of the clip, read from the descriptors of frame T-1-t+g
            t = len(emb)
            out[:, :a] = emb[::-1, :a]
            for g_idx, gap in enumerate(self.spec.gaps):
                cols = slice(a + g_idx * self.per_gap, a + (g_idx + 1) * self.per_gap)
                out[:, cols] = emb[np.minimum(t - 1 - np.arange(t) + gap, t - 1), cols]
        out[:, a:] = out[:, a:][:, self.perms[key]]
        return out, int(self.labels[key][label])


def _collate(windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t_max = max(len(w) for w in windows)
    x = np.zeros((len(windows), t_max, windows[0].shape[1]), np.float32)  # (B, T, D)
    lengths = np.zeros(len(windows), np.int64)
    for i, w in enumerate(windows):
        x[i, : len(w)] = w
        lengths[i] = len(w)
    return x, lengths


def clip_probabilities(net, data: EmbeddedSet, *, window_s: float, stride_s: float, device: str) -> np.ndarray:
    """(N, C): the mean window probability of each clip, exactly as ``vidgru classify`` computes it."""
    from vidgru.classify import window_probabilities

    net.eval()
    rows = []
    for item in data.items:
        spans = window_probabilities(net, item.timestamps_s, item.embeddings, item.duration_s,
                                     window_s=window_s, stride_s=stride_s, device=device)
        rows.append(np.mean([p for _, _, p in spans], axis=0))
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    metrics_path: Path
    curves_png: Path
    confusion_png: Path
    best_epoch: int
    val_report: ClassificationReport
    history: list[dict]
    seconds: float
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason) of inputs that could not be read


def _seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_clip_model(cfg: TrainSettings, *, progress: bool = True) -> TrainResult:
    """Train a clip classifier as described by ``cfg``; writes the checkpoint, a metrics JSON, a training-curve
    PNG and a confusion-matrix PNG next to ``cfg.out``."""
    import torch
    from tqdm import tqdm

    from vidgru.backbone import create_embedder, resolve_device
    from vidgru.metrics import classification_report, plot_confusion, plot_curves
    from vidgru.temporal import ClipCheckpoint, ClipModelConfig, build_model, save_checkpoint

    t0 = time.time()
    if cfg.data is None:
        raise DatasetError("no training data given (DATA_DIR argument or 'data:' in the config)")
    # --out and the metrics and plots beside it, checked before any work; a data set given as a list file and
    # the backbone weights are inputs it may not overwrite.
    stem = Path(cfg.out).with_suffix("")
    check_outputs([("--out", path, "file") for path in (
        cfg.out, *(stem.with_name(stem.name + ext) for ext in (".metrics.json", ".curves.png", ".confusion.png")))],
        inputs=[p for p in (cfg.data, cfg.val_dir) if Path(p or "").is_file()] + [cfg.weights])
    _seed_everything(cfg.seed)
    full = load_labelled_set(cfg.data)
    if cfg.val_dir:
        train_set = full
        val_set = load_labelled_set(cfg.val_dir, class_names=full.class_names)
    else:
        train_set, val_set = stratified_split(full, cfg.val_fraction, cfg.seed)
    names = full.class_names
    if len(names) < 2:
        raise DatasetError(f"data set {cfg.data}: need at least two classes, found {names}")

    cache = EmbeddingCache(cfg.cache_dir)  # a bad --cache-dir is reported before the backbone loads
    device = resolve_device(cfg.device)
    embedder = create_embedder(cfg.backbone, runtime=cfg.runtime, weights=cfg.weights, device=device,
                               precision=cfg.precision,
                               spatial_grid=cfg.spatial_grid,
                               motion=MotionSpec(gaps=cfg.motion_gap_tuple(), flow=cfg.motion_flow)
                               if cfg.motion else None)
    kw = dict(sample_fps=cfg.sample_fps, max_frames=cfg.max_frames, progress=progress)
    train_data = embed_samples(train_set.samples, names, embedder, cache, desc="embedding train clips", **kw)
    val_data = embed_samples(val_set.samples, names, embedder, cache, desc="embedding val clips", **kw)
    if not train_data.items or not val_data.items:
        raise DatasetError("no readable clips left for training or validation (see the warnings above)")

    model_cfg = ClipModelConfig(
        embed_dim=embedder.embed_dim, num_classes=len(names), head=cfg.head, proj_dim=cfg.proj_dim,
        hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, bidirectional=cfg.bidirectional,
        pooling=cfg.pooling, dropout=cfg.dropout, appearance_dim=embedder.appearance_dim,
        use_appearance=cfg.appearance,
    )
    net = build_model(model_cfg).to(device)
    if model_cfg.motion_dim and hasattr(net, "set_motion_stats"):
        motion = np.concatenate([item.embeddings[:, embedder.appearance_dim :] for item in train_data.items])
        net.set_motion_stats(torch.from_numpy(motion.mean(0)), torch.from_numpy(motion.std(0)))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    rng = np.random.default_rng(cfg.seed)
    window_len = max(1, round(cfg.window_s * cfg.sample_fps))
    counts = np.bincount(train_data.labels, minlength=len(names))
    # Balanced sampling: each epoch draws every class equally often, whatever the class sizes.
    weights = 1.0 / counts[train_data.labels]
    weights /= weights.sum()
    steps = max(1, math.ceil(len(train_data.items) / cfg.batch_size))
    augment = MotionAugmenter(embedder.motion, embedder.appearance_dim, names) if cfg.motion_augment else None

    history: list[dict] = []
    best = BestEpoch(cfg.patience)
    bar = tqdm(range(1, cfg.epochs + 1), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        total, correct, loss_sum = 0, 0, 0.0
        for _ in range(steps):
            pick = rng.choice(len(train_data.items), size=cfg.batch_size, p=weights)
            windows, labels = [], []
            for i in pick:
                clip, label = train_data.items[i].embeddings, int(train_data.labels[i])
                if augment is not None:
                    clip, label = augment(clip, label, rng)
                windows.append(sample_window(clip, window_len, rng, cfg.speed_jitter))
                labels.append(label)
            target = np.eye(len(names), dtype=np.float32)[labels]  # (B, C) soft labels
            if cfg.transition_prob > 0:
                for b in np.nonzero(rng.random(len(pick)) < cfg.transition_prob)[0]:
                    j = int(rng.choice(len(train_data.items), p=weights))
                    clip, label = train_data.items[j].embeddings, int(train_data.labels[j])
                    if augment is not None:
                        clip, label = augment(clip, label, rng)
                    other = sample_window(clip, window_len, rng, cfg.speed_jitter)
                    windows[b], share = splice_windows(windows[b], other, rng)
                    target[b] *= share
                    target[b, label] += 1.0 - share
            x, lengths = _collate(windows)
            y = torch.from_numpy(target).to(device)
            logits = net(torch.from_numpy(x).to(device), torch.from_numpy(lengths).to(device))
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            loss_sum += loss.item() * len(pick)
            correct += int((logits.argmax(1) == y.argmax(1)).sum())
            total += len(pick)
        sched.step()
        probs = clip_probabilities(net, val_data, window_s=cfg.window_s, stride_s=cfg.stride_s, device=device)
        stop = best.update(epoch, net, probs, val_data.labels, history,
                           {"train_loss": loss_sum / total, "train_acc": correct / total, "lr": sched.get_last_lr()[0]})
        bar.set_postfix(loss=f"{loss_sum / total:.3f}", val_acc=f"{history[-1]['val_acc']:.3f}")
        if stop:
            break
    bar.close()

    net.load_state_dict(best.state)
    probs = clip_probabilities(net, val_data, window_s=cfg.window_s, stride_s=cfg.stride_s, device=device)
    report = classification_report(probs, val_data.labels, names)
    out = Path(cfg.out)
    stem = out.with_suffix("")
    metrics_path = stem.with_name(stem.name + ".metrics.json")
    curves_png = stem.with_name(stem.name + ".curves.png")
    confusion_png = stem.with_name(stem.name + ".confusion.png")
    extra = {
        "best_epoch": best.epoch,
        "val_accuracy": report.accuracy,
        "train_clips": len(train_data.items),
        "val_clips": len(val_data.items),
        "seed": cfg.seed,
        "data": str(cfg.data),
    }
    save_checkpoint(out, ClipCheckpoint(
        model=model_cfg, class_names=names, backbone=embedder.identity,
        sampling={"sample_fps": cfg.sample_fps, "window_s": cfg.window_s, "stride_s": cfg.stride_s},
        state_dict=net.state_dict(), extra=extra,
    ))
    seconds = time.time() - t0
    write_text_atomic(metrics_path, json.dumps({
        "config": asdict(cfg), "best_epoch": best.epoch, "history": history, "val": report.to_dict(),
        "skipped_clips": [{"path": p, "reason": r} for p, r in train_data.failed + val_data.failed],
        "embedding_cache": {"dir": str(cache.root), "hits": cache.hits, "misses": cache.misses},
        "seconds": round(seconds, 2),
    }, indent=2))
    plot_curves(history, curves_png)
    plot_confusion(report.confusion, names, confusion_png,
                   title=f"validation, best epoch {best.epoch}")
    return TrainResult(out, metrics_path, curves_png, confusion_png, best.epoch, report, history, seconds,
                       skipped=tuple(train_data.failed + val_data.failed))


@dataclass(frozen=True)
class EvalResult:
    report: ClassificationReport
    failed: list[tuple[str, str]]
    predictions: list[dict]
    unit: str = "clips"  # what was classified: clips or images


def evaluate_clip_model(classifier, data: str | Path, *, cache_dir: str | None = None,
                        progress: bool = True) -> EvalResult:
    """Classify every clip of a labelled data set with a :class:`~vidgru.classify.ClipClassifier`."""
    from vidgru.metrics import classification_report

    labelled: LabelledSet = load_labelled_set(data, class_names=classifier.class_names)
    cache = EmbeddingCache(cache_dir)
    embedded = embed_samples(labelled.samples, labelled.class_names, classifier.embedder, cache,
                             sample_fps=classifier.sample_fps, max_frames=None, progress=progress,
                             desc="embedding clips")
    if not embedded.items:
        raise DatasetError(f"data set {data}: no readable clips")
    probs = clip_probabilities(classifier.net, embedded, window_s=classifier.window_s,
                               stride_s=classifier.stride_s, device=classifier.device)
    report = classification_report(probs, embedded.labels, labelled.class_names)
    names = labelled.class_names
    predictions = [
        {"path": p, "label": names[int(y)], "predicted": names[int(row.argmax())], "score": float(row.max())}
        for p, y, row in zip(embedded.paths, embedded.labels, probs)
    ]
    return EvalResult(report, embedded.failed, predictions)
