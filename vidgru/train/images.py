"""Training and evaluation of image models (:mod:`vidgru.regions`) on cached cell maps.

Data flow: labelled images (``DATA_DIR/<class>/**/<images>`` or a ``path,label`` list) -> each image read and
checked (:func:`vidgru.stills.read_image`) -> its cell map (grid*grid, C), computed once and kept in the
embedding cache -> mini-batches (optionally mirrored by permuting cells) -> region GRU or a pooled baseline ->
cross-entropy. Validation and evaluation classify every held-out image once, as ``vidgru classify`` does.
Every head trains the same way on the same cells, so their numbers compare like for like.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidgru.errors import DatasetError, VidgruError
from vidgru.fileio import check_outputs, write_text_atomic
from vidgru.settings import TrainSettings
from vidgru.stills import images_under, is_image_file, read_image
from vidgru.train.cache import EmbeddingCache
from vidgru.train.dataset import LabelledSet, Sample, load_labelled_set, stratified_split
from vidgru.train.loop import BestEpoch, EvalResult, TrainResult, _seed_everything

log = logging.getLogger(__name__)


def is_image_data(data: str | Path) -> bool:
    """Whether a data set holds still images as samples: some class folder holds image files directly (for a
    clip data set, a class folder holds videos, or folders of images that are one sequence each), or every
    path of a list file is an image file."""
    root = Path(data).expanduser()
    if root.is_dir():
        for class_dir in (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if any(p.is_file() and is_image_file(p) for p in class_dir.iterdir()):
                return True
        return False
    if root.is_file():
        try:
            samples = load_labelled_set(root).samples
        except VidgruError:
            return False
        return bool(samples) and all(is_image_file(s.path) for s in samples)
    return False


def load_image_set(data: str | Path, class_names: list[str] | None = None) -> LabelledSet:
    """Labelled images: ``data/<class>/**/<image files>`` (every image under a class folder, recursively) or a
    CSV/TXT list of ``path,label``. ``class_names`` fixes the label order (a trained model's).

    Raises:
        DatasetError: missing, empty, or a label unknown to ``class_names``.
    """
    root = Path(data).expanduser()
    if not root.exists():
        raise DatasetError(f"data set {data}: no such file or directory")
    if root.is_file():
        return load_labelled_set(root, class_names)
    samples = [Sample(str(path), class_dir.name)
               for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
               for path in images_under(class_dir)]
    if not samples:
        raise DatasetError(f"data set {data}: no images found; expected {data}/<class_name>/<image files> or a "
                           "'path,label' list")
    names = sorted({s.label for s in samples}) if class_names is None else list(class_names)
    unknown = sorted({s.label for s in samples} - set(names))
    if unknown:
        raise DatasetError(f"data set {data}: labels {unknown} are not classes of the model ({', '.join(names)})")
    return LabelledSet(samples, names)


@dataclass(frozen=True)
class EmbeddedImages:
    """Cell maps of readable images: ``cells`` (N, grid*grid, C) float16, ``labels`` (N,) int64, their paths,
    and ``failed``: (path, reason) of the images that could not be read (skipped, not fatal)."""

    cells: np.ndarray
    labels: np.ndarray
    paths: list[str]
    failed: list[tuple[str, str]]


def embed_images(samples: Sequence[Sample], class_names: Sequence[str], embedder, cache: EmbeddingCache, *,
                 progress: bool = True, desc: str = "embedding images") -> EmbeddedImages:
    """Each image's cell map, from the cache or computed in batches of ``embedder.batch_size`` (and cached)."""
    from tqdm import tqdm

    from vidgru.regions import cell_maps, input_spec

    lookup = {name: i for i, name in enumerate(class_names)}
    inputs = input_spec(embedder)
    found: dict[int, np.ndarray] = {}
    failed: list[tuple[str, str]] = []
    pending: list[tuple[int, str, np.ndarray]] = []  # (index, cache key, image) waiting for a forward pass

    def flush() -> None:
        cells = cell_maps(embedder, [image for _, _, image in pending])
        for (index, key, _), one in zip(pending, cells):
            found[index] = cache.store_cells(key, one)
        pending.clear()

    for index, sample in enumerate(tqdm(samples, desc=desc, unit="image", disable=not progress, leave=False)):
        try:
            key = cache.image_key(sample.path, embedder.identity, inputs)
        except OSError as exc:
            failed.append((sample.path, f"cannot read image {sample.path}: {exc.strerror or exc}"))
            continue
        cached = cache.load_cells(key)
        if cached is not None:
            found[index] = cached
            continue
        try:
            pending.append((index, key, read_image(sample.path)))
        except VidgruError as exc:
            log.warning("skipping %s", exc)
            failed.append((sample.path, str(exc)))
            continue
        if len(pending) >= embedder.batch_size:
            flush()
    if pending:
        flush()
    order = sorted(found)
    if not order:
        return EmbeddedImages(np.zeros((0, 0, 0), np.float16), np.zeros(0, np.int64), [], failed)
    return EmbeddedImages(np.stack([found[i] for i in order]),
                          np.asarray([lookup[samples[i].label] for i in order], np.int64),
                          [samples[i].path for i in order], failed)


def image_probabilities(net, cells: np.ndarray, *, device: str, batch: int = 256) -> np.ndarray:
    """(N, grid*grid, C) cells -> (N, num_classes) probabilities, in eval mode."""
    import torch

    net.eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(cells), batch):
            x = torch.from_numpy(cells[start:start + batch].astype(np.float32)).to(device)
            rows.append(net(x).float().softmax(dim=1).cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def train_image_model(cfg: TrainSettings, *, progress: bool = True) -> TrainResult:
    """Train an image model as ``cfg`` describes (``head`` gru, linear or mlp); writes the checkpoint, a metrics
    JSON, a training-curve PNG and a confusion-matrix PNG next to ``cfg.out``.

    Raises:
        DatasetError: no data, fewer than two classes, or no readable images for training or validation.
        ConfigError: a clip-only head (``mean``), an output that cannot be written, a bad cache folder.
    """
    import torch
    from tqdm import tqdm

    from vidgru.backbone import create_embedder, resolve_device
    from vidgru.metrics import classification_report, plot_confusion, plot_curves
    from vidgru.regions import (
        ImageCheckpoint,
        RegionModelConfig,
        build_region_model,
        flip_permutation,
        input_spec,
        save_image_checkpoint,
        set_feature_stats,
    )

    t0 = time.time()
    if cfg.data is None:
        raise DatasetError("no training data given (DATA_DIR argument or 'data:' in the config)")
    stem = Path(cfg.out).with_suffix("")
    check_outputs([("--out", path, "file") for path in (
        cfg.out, *(stem.with_name(stem.name + ext) for ext in (".metrics.json", ".curves.png", ".confusion.png")))],
        inputs=[p for p in (cfg.data, cfg.val_dir) if Path(p or "").is_file()] + [cfg.weights])
    full = load_image_set(cfg.data)
    names = full.class_names
    if len(names) < 2:
        raise DatasetError(f"data set {cfg.data}: need at least two classes, found {names}")
    # Checked here too (not only when the model is built) so a wrong head fails before any embedding.
    RegionModelConfig(channels=1, grid=cfg.image_grid, num_classes=len(names), head=cfg.head, proj_dim=cfg.proj_dim,
                      hidden_size=cfg.hidden_size, dropout=cfg.dropout)
    if cfg.val_dir:
        train_set, val_set = full, load_image_set(cfg.val_dir, class_names=names)
    else:
        train_set, val_set = stratified_split(full, cfg.val_fraction, cfg.seed)
    _seed_everything(cfg.seed)

    cache = EmbeddingCache(cfg.cache_dir)
    device = resolve_device(cfg.device)
    embedder = create_embedder(cfg.backbone, runtime=cfg.runtime, weights=cfg.weights, device=device,
                               precision=cfg.precision, spatial_grid=cfg.image_grid)
    train_data = embed_images(train_set.samples, names, embedder, cache, progress=progress,
                              desc="embedding train images")
    val_data = embed_images(val_set.samples, names, embedder, cache, progress=progress,
                            desc="embedding val images")
    if not len(train_data.labels) or not len(val_data.labels):
        raise DatasetError("no readable images left for training or validation (see the errors above)")

    grid = cfg.image_grid
    model_cfg = RegionModelConfig(channels=embedder.appearance_dim // (grid * grid), grid=grid,
                                  num_classes=len(names), head=cfg.head, proj_dim=cfg.proj_dim,
                                  hidden_size=cfg.hidden_size, dropout=cfg.dropout)
    net = build_region_model(model_cfg)
    set_feature_stats(net, train_data.cells)
    net = net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    rng = np.random.default_rng(cfg.seed)
    flip = flip_permutation(grid)
    n = len(train_data.labels)
    steps = max(1, math.ceil(n / cfg.batch_size))

    history: list[dict] = []
    best = BestEpoch(cfg.patience)
    bar = tqdm(range(1, cfg.epochs + 1), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        order = rng.permutation(n)
        total, correct, loss_sum = 0, 0, 0.0
        for step in range(steps):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            x = train_data.cells[idx].astype(np.float32)  # (B, grid*grid, C)
            if cfg.flip_augment:
                mirrored = rng.random(len(idx)) < 0.5
                x[mirrored] = x[mirrored][:, flip]
            y = torch.from_numpy(train_data.labels[idx]).to(device)
            logits = net(torch.from_numpy(x).to(device))
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            total += len(idx)
        sched.step()
        probs = image_probabilities(net, val_data.cells, device=device)
        stop = best.update(epoch, net, probs, val_data.labels, history,
                           {"train_loss": loss_sum / total, "train_acc": correct / total, "lr": sched.get_last_lr()[0]})
        bar.set_postfix(loss=f"{loss_sum / total:.3f}", val_acc=f"{history[-1]['val_acc']:.3f}")
        if stop:
            break
    bar.close()

    net.load_state_dict(best.state)
    probs = image_probabilities(net, val_data.cells, device=device)
    report = classification_report(probs, val_data.labels, names)
    out = Path(cfg.out)
    metrics_path = stem.with_name(stem.name + ".metrics.json")
    curves_png = stem.with_name(stem.name + ".curves.png")
    confusion_png = stem.with_name(stem.name + ".confusion.png")
    extra = {"best_epoch": best.epoch, "val_accuracy": report.accuracy, "train_images": n,
             "val_images": len(val_data.labels), "seed": cfg.seed, "data": str(cfg.data),
             "flip_augment": cfg.flip_augment}
    save_image_checkpoint(out, ImageCheckpoint(
        model=model_cfg, class_names=names, backbone=_spec(embedder), inputs=input_spec(embedder),
        state_dict=net.state_dict(), extra=extra))
    seconds = time.time() - t0
    write_text_atomic(metrics_path, json.dumps({
        "config": asdict(cfg), "kind": "image", "best_epoch": best.epoch, "history": history,
        "val": report.to_dict(),
        "skipped_images": [{"path": p, "reason": r} for p, r in train_data.failed + val_data.failed],
        "embedding_cache": {"dir": str(cache.root), "hits": cache.hits, "misses": cache.misses},
        "seconds": round(seconds, 2),
    }, indent=2))
    plot_curves(history, curves_png)
    plot_confusion(report.confusion, names, confusion_png, title=f"validation, best epoch {best.epoch}")
    return TrainResult(out, metrics_path, curves_png, confusion_png, best.epoch, report, history, seconds,
                       skipped=tuple(train_data.failed + val_data.failed))


def _spec(embedder):
    from vidgru.types import EmbedderSpec

    return EmbedderSpec.from_dict(embedder.identity)


def evaluate_image_model(classifier, data: str | Path, *, cache_dir: str | None = None,
                         progress: bool = True) -> EvalResult:
    """Classify every image of a labelled data set with an :class:`~vidgru.image_classify.ImageClassifier`.
    Images that cannot be read are listed in ``failed`` and left out of the report."""
    from vidgru.metrics import classification_report

    labelled = load_image_set(data, class_names=classifier.class_names)
    embedded = embed_images(labelled.samples, labelled.class_names, classifier.embedder, EmbeddingCache(cache_dir),
                            progress=progress)
    if not len(embedded.labels):
        raise DatasetError(f"data set {data}: no readable images")
    probs = image_probabilities(classifier.net, embedded.cells, device=classifier.device)
    report = classification_report(probs, embedded.labels, labelled.class_names)
    names = labelled.class_names
    predictions = [{"path": p, "label": names[int(y)], "predicted": names[int(row.argmax())],
                    "score": float(row.max())} for p, y, row in zip(embedded.paths, embedded.labels, probs)]
    return EvalResult(report, embedded.failed, predictions, unit="images")


def data_kind(cfg: TrainSettings) -> str:
    """``"images"`` or ``"clips"``: ``cfg.data_kind``, or for ``auto`` what the data set holds
    (:func:`is_image_data`)."""
    if cfg.data_kind != "auto":
        return cfg.data_kind
    return "images" if cfg.data is not None and is_image_data(cfg.data) else "clips"


def train_model(cfg: TrainSettings, *, progress: bool = True) -> tuple[str, TrainResult]:
    """``vidgru train``: an image model for a data set of images, a clip model otherwise (:func:`data_kind`).
    Returns the kind and the result.

    Raises:
        ConfigError: a head that does not apply to the data (clips: gru, mean; images: gru, linear, mlp).
    """
    from vidgru.choices import CLIP_HEADS, IMAGE_HEADS
    from vidgru.errors import ConfigError
    from vidgru.train.loop import train_clip_model

    kind = data_kind(cfg)
    heads = IMAGE_HEADS if kind == "images" else CLIP_HEADS
    if cfg.head not in heads:
        raise ConfigError(f"head: {cfg.head!r} does not apply to {kind} (data set {cfg.data}); {kind} take "
                          f"{', '.join(heads)}")
    if kind == "images":
        return kind, train_image_model(cfg, progress=progress)
    return kind, train_clip_model(cfg, progress=progress)


def evaluate_model(model: str | None, data: str | Path, *, device: str = "auto", runtime: str = "auto",
                   weights: str | None = None, cache_dir: str | None = None, progress: bool = True) -> EvalResult:
    """``vidgru eval``: an image model (its checkpoint says so) on labelled images, else a clip model (the
    shipped one when ``model`` is None) on labelled clips."""
    from vidgru.classify import ClipClassifier
    from vidgru.image_classify import ImageClassifier, is_image_model
    from vidgru.train.loop import evaluate_clip_model

    if model is not None and is_image_model(model):
        clf = ImageClassifier.from_path(model, device=device, runtime=runtime, weights=weights)
        return evaluate_image_model(clf, data, cache_dir=cache_dir, progress=progress)
    clf = ClipClassifier.from_path(model, device=device, runtime=runtime, weights=weights)
    return evaluate_clip_model(clf, data, cache_dir=cache_dir, progress=progress)
