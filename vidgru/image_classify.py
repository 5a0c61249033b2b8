"""Still-image classification with an image model (:mod:`vidgru.regions`): image files -> cells -> labels.

``vidgru classify`` comes here when its ``--model`` is an image model (the checkpoint's ``kind`` says so). Each
input image is one result; a folder means every image under it (:func:`vidgru.stills.expand_image_inputs`).
A bad image (unreadable, corrupt, too small or too large) is reported in one line and skipped; the others go on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidgru.errors import CheckpointError, ConfigError, VidgruError
from vidgru.fileio import check_outputs
from vidgru.settings import ClassifySettings
from vidgru.stills import read_image
from vidgru.types import ImageResult

if TYPE_CHECKING:
    from vidgru.backbone import Embedder
    from vidgru.regions import ImageCheckpoint

IMAGE_CSV_HEADER = ["image", "label", "score"]


class ImageClassifier:
    """A trained image model together with the backbone it was trained on.

    Args:
        checkpoint: a loaded :class:`~vidgru.regions.ImageCheckpoint`.
        weights: backbone weights override (a path), e.g. when the model used custom weights.
        device, precision, runtime, batch_size: passed to the embedder (:func:`~vidgru.backbone.create_embedder`).
    """

    def __init__(self, checkpoint: ImageCheckpoint, *, weights: str | None = None, device: str = "auto",
                 precision: str = "auto", runtime: str = "auto", batch_size: int = 32,
                 embedder: Embedder | None = None) -> None:
        from vidgru.backbone import create_embedder, resolve_device

        self.checkpoint = checkpoint
        self.class_names = list(checkpoint.class_names)
        bb = checkpoint.backbone
        if embedder is None:
            custom = bb.weights.startswith("custom-")
            if custom and weights is None:
                raise ConfigError(f"the model was trained on custom backbone weights ({bb.weights}); pass them "
                                  "with --weights")
            embedder = create_embedder(bb.name, runtime=runtime, weights=weights or (None if custom else bb.weights),
                                       device=device, precision=precision, batch_size=batch_size,
                                       spatial_grid=checkpoint.model.grid)
        if embedder.embed_dim != bb.embed_dim or embedder.preprocess.crop_size != checkpoint.inputs["size"]:
            raise CheckpointError(f"model {checkpoint.source or ''} expects {bb.embed_dim} features of "
                                  f"{checkpoint.inputs['size']}-pixel inputs but backbone {embedder.name} gives "
                                  f"{embedder.embed_dim} of {embedder.preprocess.crop_size}")
        self.embedder = embedder
        self.device = resolve_device(device)
        self.net = checkpoint.build(self.device)

    @classmethod
    def from_path(cls, path: str | Path, **kwargs) -> ImageClassifier:
        from vidgru.regions import load_image_checkpoint

        return cls(load_image_checkpoint(path), **kwargs)

    def probabilities(self, cells: np.ndarray) -> np.ndarray:
        """(N, grid*grid, C) cells -> (N, num_classes) class probabilities."""
        import torch

        if len(cells) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(np.ascontiguousarray(cells, np.float32)).to(self.device))
        return logits.float().softmax(dim=1).cpu().numpy()

    def classify_images(self, images: Sequence[np.ndarray], names: Sequence[str]) -> list[ImageResult]:
        """Images (H, W, 3) uint8 RGB with their names -> one :class:`ImageResult` each."""
        from vidgru.regions import cell_maps

        probs = self.probabilities(cell_maps(self.embedder, images))
        return [self._result(name, row) for name, row in zip(names, probs)]

    def _result(self, name: str, row: np.ndarray) -> ImageResult:
        best = int(row.argmax())
        return ImageResult(image=name, label=self.class_names[best], score=float(row[best]),
                           scores={c: float(p) for c, p in zip(self.class_names, row)})


def image_classifier_for(cfg: ClassifySettings) -> ImageClassifier:
    """The image classifier ``cfg.model`` names, with ``cfg``'s weights, device, precision, runtime and batch."""
    return ImageClassifier.from_path(cfg.model, weights=cfg.weights, device=cfg.device, precision=cfg.precision,
                                     runtime=cfg.runtime, batch_size=cfg.batch_size)


def check_image_outputs(paths: Sequence[str], cfg: ClassifySettings) -> None:
    """Refuse, before any work, outputs an image run cannot write: ``--out-video`` (no video to draw on), and
    ``--json``/``--csv`` paths that :func:`vidgru.fileio.check_outputs` refuses (e.g. one of the images).

    Raises:
        ConfigError: naming the flag.
    """
    if cfg.out_video:
        raise ConfigError("--out-video: an image model labels still images; there is no video to write "
                          "(use --json or --csv)")
    check_outputs([("--json", cfg.json, "file"), ("--csv", cfg.csv, "file")],
                  inputs=[*paths, cfg.model, cfg.weights])


def classify_image_files(paths: Sequence[str], clf: ImageClassifier, cfg: ClassifySettings, *,
                         on_result: Callable[[ImageResult], None] | None = None,
                         on_error: Callable[[str, VidgruError], None] | None = None,
                         progress=None) -> list[str]:
    """Classify image files in batches and write what ``cfg`` asks for: JSON Lines (``cfg.json``: ``image``,
    ``label``, ``score``, ``scores``) and CSV (``cfg.csv``: image, label, score). Outputs are checked before any
    work; they are created with the first result (none when every image fails). An image that cannot be read
    is reported through ``on_error`` and skipped. Returns the paths that failed.

    Raises:
        ConfigError: ``--out-video`` (images have no video to draw on) or an output that cannot be written.
    """
    from vidgru.sinks import CsvSink, JsonlSink

    check_image_outputs(paths, cfg)
    failures: list[str] = []
    batch = max(1, clf.embedder.batch_size)
    with contextlib.ExitStack() as stack:
        jsonl = table = None
        for start in range(0, len(paths), batch):
            chunk, images = [], []
            for path in paths[start:start + batch]:
                try:
                    images.append(read_image(path))
                    chunk.append(path)
                except VidgruError as exc:
                    failures.append(path)
                    if on_error is not None:
                        on_error(path, exc)
            results = clf.classify_images(images, chunk) if images else []
            if results and cfg.json and jsonl is None:
                jsonl = stack.enter_context(JsonlSink(cfg.json))
            if results and cfg.csv and table is None:
                table = stack.enter_context(CsvSink(cfg.csv, IMAGE_CSV_HEADER))
            for result in results:
                if jsonl:
                    jsonl.write_record(result.to_dict())
                if table:
                    table.write_row([result.image, result.label, round(result.score, 6)])
                if on_result is not None:
                    on_result(result)
            if progress is not None:
                progress.update(len(paths[start:start + batch]))
    return failures


def is_image_model(path: str | Path | None) -> bool:
    """Whether ``path`` is an image model's checkpoint (its ``kind`` field). Anything else, including files
    that are no checkpoint at all, is False: the clip-model loader then reports what is wrong with it."""
    from vidgru.checkpoint import model_kind

    if path is None or Path(path).is_dir():  # the default model, or a folder written by `vidgru export`
        return False
    try:
        return model_kind(path) == "image"
    except VidgruError:
        return False
