"""Image models that read a still image as a sequence of regions, their baselines, and their checkpoints.

An image is squashed to the backbone's input size (224 x 224 for MobileNetV2, so every cell covers the same
share of the image), and the backbone's last feature map is average-pooled to a ``grid`` x ``grid`` map of
``channels``-d cells: (B, grid*grid, C), cells in row-major order (:func:`cell_maps`).

``RegionGRU`` (head ``gru``): the cells are standardised and projected (Linear + LayerNorm + GELU), then one
bidirectional GRU reads them twice, in row-major and in column-major order; for each order the mean of its
outputs and its final states (both directions) are kept, and the two orders' summaries, concatenated and
normalised, go to a linear classifier. The order of the cells is what the GRU sees and a pooled feature does not:
where things are relative to each other.

The baselines read the same cells but average them first (the backbone's usual global average pooling), so they
see *what* is in the image, not *where*: ``linear`` (a linear probe: standardise, linear layer) and ``mlp``
(standardise, one hidden layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidgru.checkpoint import check_tensors, load_payload, save_payload
from vidgru.choices import IMAGE_HEADS
from vidgru.errors import CheckpointError, ConfigError
from vidgru.settings import TrainSettings
from vidgru.types import EmbedderSpec

CHECKPOINT_FORMAT = "vidgru.image-classifier"
CHECKPOINT_VERSION = 1
FIT = "squash"  # how an image becomes the backbone's square input: resized whole, aspect ratio not kept


@dataclass(frozen=True)
class RegionModelConfig:
    """Hyper-parameters that rebuild an image model exactly."""

    channels: int  # C of each cell
    grid: int  # cells per side: the sequence has grid * grid steps
    num_classes: int
    head: str = "gru"
    proj_dim: int = TrainSettings.proj_dim
    hidden_size: int = TrainSettings.hidden_size
    dropout: float = TrainSettings.dropout

    def __post_init__(self) -> None:
        if self.head not in IMAGE_HEADS:
            raise ConfigError(f"head: {self.head!r} is not an image-model head ({', '.join(IMAGE_HEADS)}); mean "
                              "is for clip models (the image baselines are linear and mlp)")
        for name in ("channels", "grid", "num_classes", "proj_dim", "hidden_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")


def column_major(grid: int) -> torch.Tensor:
    """Indices that reorder row-major cells (cell r*grid + c) into column-major order."""
    return torch.arange(grid * grid).view(grid, grid).t().reshape(-1)


def flip_permutation(grid: int) -> np.ndarray:
    """Indices that mirror row-major cells left-right: ``cells[flip_permutation(g)]`` is the flipped image's map
    (up to the backbone's own asymmetry, which training with it teaches the model to ignore)."""
    return np.arange(grid * grid).reshape(grid, grid)[:, ::-1].reshape(-1)


class _Standardise(nn.Module):
    """Per-channel (x - mean) / std with the training set's statistics (buffers, saved with the model)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class RegionGRU(nn.Module):
    """(B, grid*grid, C) row-major cells -> (B, num_classes) logits, by a bidirectional GRU reading the cells in
    row-major and in column-major order."""

    def __init__(self, cfg: RegionModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.standardise = _Standardise(cfg.channels)
        self.proj = nn.Sequential(nn.Linear(cfg.channels, cfg.proj_dim), nn.LayerNorm(cfg.proj_dim), nn.GELU(),
                                  nn.Dropout(cfg.dropout))
        self.gru = nn.GRU(cfg.proj_dim, cfg.hidden_size, batch_first=True, bidirectional=True)
        self.register_buffer("column_order", column_major(cfg.grid), persistent=False)
        summary = 2 * 4 * cfg.hidden_size  # two orders x (mean output 2H + final states 2H)
        self.norm = nn.LayerNorm(summary)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(summary, cfg.num_classes))

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        b = cells.shape[0]
        z = self.proj(self.standardise(cells))  # (B, N, P)
        orders = torch.cat([z, z[:, self.column_order]], dim=0)  # (2B, N, P): both readings in one GRU call
        out, h_n = self.gru(orders)  # (2B, N, 2H), (2, 2B, H)
        summary = torch.cat([out.mean(dim=1), h_n[0], h_n[1]], dim=1)  # (2B, 4H)
        pooled = torch.cat([summary[:b], summary[b:]], dim=1)  # (B, 8H)
        return self.classifier(self.norm(pooled))


class PooledHead(nn.Module):
    """The order-less baselines: (B, N, C) cells -> mean over cells (global average pooling) -> standardised ->
    ``linear``: one linear layer (a linear probe); ``mlp``: Linear, GELU, Dropout, Linear."""

    def __init__(self, cfg: RegionModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.standardise = _Standardise(cfg.channels)
        if cfg.head == "linear":
            self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.channels, cfg.num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Dropout(cfg.dropout), nn.Linear(cfg.channels, cfg.hidden_size), nn.GELU(),
                nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden_size, cfg.num_classes))

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.standardise(cells.mean(dim=1)))


def build_region_model(cfg: RegionModelConfig) -> nn.Module:
    return RegionGRU(cfg) if cfg.head == "gru" else PooledHead(cfg)


def set_feature_stats(net: nn.Module, cells: np.ndarray) -> None:
    """Standardise with the statistics of training cells (N, grid*grid, C): per channel over cells for the GRU,
    over images of the pooled features for the baselines (each head sees its own inputs standardised)."""
    x = cells.astype(np.float32)
    if isinstance(net, PooledHead):
        x = x.mean(axis=1)
    x = x.reshape(-1, x.shape[-1])
    net.standardise.set_stats(torch.from_numpy(x.mean(0)), torch.from_numpy(x.std(0)))


# ------------------------------------------------------------------------------------------------- cells


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (size, size, 3) uint8: the whole image resized (area averaging when shrinking)."""
    import cv2

    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if h > size or w > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def cell_maps(embedder, images: Sequence[np.ndarray]) -> np.ndarray:
    """Images (H, W, 3) uint8 RGB -> (N, g*g, C) float32 cells in row-major order, with an embedder built with
    ``spatial_grid=g`` and no motion descriptors (its embedding is the (C, g, g) pooled map, flattened)."""
    if embedder.motion is not None:
        raise ConfigError("image models need an embedder without motion descriptors")
    size = embedder.preprocess.crop_size
    g = embedder.spatial_grid
    if len(images) == 0:
        return np.zeros((0, g * g, embedder.appearance_dim // (g * g)), np.float32)
    crops = np.stack([fit_square(img, size) for img in images])  # (N, size, size, 3): taken as already cropped
    flat = embedder.embed(crops)  # (N, C * g * g), channel-major
    return np.ascontiguousarray(flat.reshape(len(images), -1, g * g).transpose(0, 2, 1))


def input_spec(embedder) -> dict[str, Any]:
    """How images became cells (stored in checkpoints and cache keys)."""
    return {"size": int(embedder.preprocess.crop_size), "fit": FIT, "grid": int(embedder.spatial_grid)}


# ------------------------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class ImageCheckpoint:
    """Everything needed to rebuild and use a trained image model: its hyper-parameters, class names, the
    embedder its cells came from (:class:`~vidgru.types.EmbedderSpec`, with ``spatial_grid`` = the grid), how
    images became its input (``inputs``: size, fit, grid), the weights and ``extra`` (training metrics)."""

    model: RegionModelConfig
    class_names: list[str]
    backbone: EmbedderSpec
    inputs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any]
    source: str = ""

    def build(self, device: str = "cpu") -> nn.Module:
        net = build_region_model(self.model)
        check_tensors(self.source or "checkpoint", self.state_dict, _shapes(net), what=f"{self.model.head} image model")
        net.load_state_dict(self.state_dict)
        return net.eval().to(device)


def _shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def save_image_checkpoint(path: str | Path, ckpt: ImageCheckpoint) -> None:
    """Write an image model (:mod:`vidgru.checkpoint`'s convention: format-tagged, atomic), ``kind: image``."""
    save_payload(path, {
        "kind": "image",
        "model": asdict(ckpt.model),
        "class_names": list(ckpt.class_names),
        "backbone": ckpt.backbone.to_dict(),
        "inputs": dict(ckpt.inputs),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "extra": ckpt.extra,
    }, format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION)


def load_image_checkpoint(path: str | Path) -> ImageCheckpoint:
    """Load with ``weights_only=True``. Raises :class:`CheckpointError` for anything that isn't one."""
    payload = load_payload(path, format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION, what="image-classifier")
    where = f"cannot load model {path}"
    for key, kind in (("model", dict), ("class_names", list), ("backbone", dict), ("inputs", dict),
                      ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{where}: incomplete checkpoint ({key!r} missing or not a {kind.__name__})")
    try:
        known = {f.name for f in fields(RegionModelConfig)}
        cfg = RegionModelConfig(**{k: v for k, v in payload["model"].items() if k in known})
        backbone = EmbedderSpec.from_dict(payload["backbone"])
        inputs = {"size": int(payload["inputs"]["size"]), "fit": str(payload["inputs"]["fit"]),
                  "grid": int(payload["inputs"]["grid"])}
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{where}: incomplete checkpoint ({' '.join(str(exc).split())[:200]})") from None
    names = list(payload["class_names"])
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise CheckpointError(f"{where}: class_names must be distinct non-empty names, got {names[:10]!r}")
    if len(names) != cfg.num_classes:
        raise CheckpointError(f"{where}: {len(names)} class names but the model has {cfg.num_classes} outputs")
    if inputs["grid"] != cfg.grid or backbone.spatial_grid != cfg.grid or inputs["fit"] != FIT:
        raise CheckpointError(f"{where}: inconsistent input description {inputs} for a {cfg.grid} x {cfg.grid} "
                              "model")
    if backbone.embed_dim != cfg.channels * cfg.grid * cfg.grid:
        raise CheckpointError(f"{where}: the backbone gives {backbone.embed_dim} features per image but the model "
                              f"reads {cfg.grid} x {cfg.grid} cells of {cfg.channels}")
    with torch.device("meta"):
        shapes = _shapes(build_region_model(cfg))
    check_tensors(path, payload["state_dict"], shapes, what=f"{cfg.head} image model")
    return ImageCheckpoint(cfg, names, backbone, inputs, payload["state_dict"], dict(payload.get("extra") or {}),
                           source=str(path))
