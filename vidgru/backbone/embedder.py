"""Frame embedders: a torchvision backbone's trunk (eager PyTorch or ONNX Runtime), pooled, plus optional motion
descriptors. Frames in are (H, W, 3) uint8 RGB; embeddings out are (N, embed_dim) float32."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vidgru.backbone.device import resolve_device
from vidgru.backbone.preprocess import Preprocess, preprocess_for
from vidgru.backbone.trunk import OnnxTrunk, TorchTrunk, Trunk, onnx_trunk_file, require_onnxruntime
from vidgru.backbone.weights import DEFAULT_BACKBONE, get_spec, load_weights_file, resolve_weights, weights_entry
from vidgru.choices import PRECISIONS, RUNTIMES
from vidgru.errors import ConfigError, DeviceMemoryError
from vidgru.motion_features import MotionSpec, MotionStream

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Anything that turns frames into features: what classification, tracking and batch runs need of a backbone.

    ``preprocess`` may be replaced (e.g. a smaller square crop for object crops); ``batch_size`` is the number
    of frames per forward pass, so callers can buffer that many before calling :meth:`embed_mixed`.
    """

    name: str
    weights_id: str
    runtime: str
    batch_size: int
    embed_dim: int
    appearance_dim: int
    spatial_grid: int
    motion: MotionSpec | None
    preprocess: Preprocess

    @property
    def identity(self) -> dict:
        """What makes two embeddings comparable: stored in checkpoints and cache keys."""
        ...

    def new_stream(self) -> MotionStream | None:
        """A fresh motion state for one video (None when no motion descriptors are computed)."""
        ...

    def embed(self, images: Sequence[np.ndarray], stream: MotionStream | None = None) -> np.ndarray:
        """N frames (H, W, 3) uint8 RGB (or already-cropped (N, crop, crop, 3) uint8) -> (N, embed_dim) float32;
        ``stream`` carries motion state across calls for consecutive frames of one video."""
        ...

    def embed_mixed(self, parts: Sequence[tuple]) -> list[np.ndarray]:
        """Crops of several videos, each with its own motion stream -> one (n_i, embed_dim) array per part."""
        ...


class BackboneEmbedder:
    """A torchvision backbone as a frame embedder: its trunk (run by eager PyTorch, or exported to ONNX and run by
    ONNX Runtime on the CPU), average-pooled, batched, under ``inference_mode``. Both runtimes give the same
    embeddings (to about 1e-4), so caches and checkpoints made with one work with the other.

    Args:
        name: a key of :data:`~vidgru.backbone.BACKBONES`.
        weights: see :func:`~vidgru.backbone.resolve_weights`.
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps`` (the ONNX runtime runs on the CPU only).
        batch_size: frames per forward pass.
        precision: ``auto`` (fp16 autocast on CUDA, fp32 elsewhere), ``fp32``, ``fp16`` or ``bf16``; the ONNX
            runtime always computes in fp32.
        spatial_grid: 1 for global average pooling (D = C); g > 1 average-pools the final feature map to a
            g x g grid and concatenates the cells (D = C * g * g), keeping coarse spatial layout.
        motion: also compute frame-pair motion descriptors (:mod:`vidgru.motion_features`) and append them:
            ``embed_dim = appearance_dim + motion.dim``. Frames passed to :meth:`embed` are then taken as
            consecutive frames of one sequence.
        allow_download: see :func:`~vidgru.backbone.resolve_weights`.
        runtime: ``torch``, ``onnx`` or ``auto`` (see :func:`resolve_runtime`). The ONNX trunk is exported once
            per backbone and weights to ``$XDG_CACHE_HOME/vidgru/onnx`` (``~/.cache/vidgru/onnx``) and needs
            ``pip install 'vidgru[onnx]'``.

    Raises:
        ConfigError: an unknown name, weights id, device, precision, runtime or a bad size; onnxruntime missing.
        WeightsUnavailableError: the weights are neither local nor downloadable.

    Example:
        >>> emb = BackboneEmbedder("mobilenet_v2", device="cpu")   # doctest: +SKIP
        >>> emb.embed(frames).shape                                  # doctest: +SKIP
        (N, 1280)
    """

    def __init__(
        self,
        name: str = DEFAULT_BACKBONE,
        *,
        weights: str | None = None,
        device: str = "auto",
        batch_size: int = 32,
        precision: str = "auto",
        spatial_grid: int = 1,
        motion: MotionSpec | None = None,
        allow_download: bool = True,
        runtime: str = "torch",
    ) -> None:
        runtime = resolve_runtime(runtime, device)
        if runtime == "onnx":
            require_onnxruntime()
            if device not in ("auto", "cpu"):
                raise ConfigError(f"runtime: onnx runs on the CPU here; use --runtime torch for device {device!r}")
            device, precision = "cpu", "fp32"

        import torch
        import torchvision

        self.spec = get_spec(name)
        if spatial_grid < 1:
            raise ConfigError(f"spatial_grid: must be >= 1, got {spatial_grid}")
        if batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise ConfigError(f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
        self.name = name
        self.runtime = runtime
        self.resolved = resolve_weights(name, weights, allow_download=allow_download)
        self.weights_id = self.resolved.weights_id
        self.spatial_grid = spatial_grid
        self.motion = motion
        self.appearance_dim = self.spec.channels * spatial_grid * spatial_grid
        self.embed_dim = self.appearance_dim + (motion.dim if motion else 0)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.preprocess: Preprocess = preprocess_for(name, self.weights_id)
        self.categories: list[str] = list(weights_entry(name, self.spec.default_weights).meta["categories"])

        model = torchvision.models.get_model(name, weights=None)
        if self.resolved.path is not None:
            load_weights_file(model, self.resolved.path, name)
        else:
            log.warning("%s: using RANDOM weights (weights='none'); embeddings carry no ImageNet knowledge", name)
        model.eval().to(self.device)
        on_gpu = self.device.startswith("cuda")
        if on_gpu:
            model = model.to(memory_format=torch.channels_last)
        self.model = model  # the whole classifier: its head serves predict_imagenet, convnext's norm the pooling
        if precision == "auto":
            precision = "fp16" if on_gpu else "fp32"
        self.precision = precision
        self._dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        dev = torch.device(self.device)
        self._mean = torch.tensor(self.preprocess.mean, device=dev).view(1, 3, 1, 1)
        self._std = torch.tensor(self.preprocess.std, device=dev).view(1, 3, 1, 1)

        self.trunk: Trunk = TorchTrunk(model, self.spec.family)
        if runtime == "onnx":
            self.trunk = OnnxTrunk.from_torch(self.trunk, onnx_trunk_file(name, self.weights_id),
                                              input_size=self.preprocess.crop_size)

    @property
    def identity(self) -> dict:
        """What makes two embeddings comparable: stored in checkpoints and cache keys."""
        return {
            "name": self.name,
            "weights": self.weights_id,
            "embed_dim": self.embed_dim,
            "appearance_dim": self.appearance_dim,
            "spatial_grid": self.spatial_grid,
            "motion": self.motion.to_dict() if self.motion else None,
        }

    def new_stream(self) -> MotionStream | None:
        """A fresh motion state for one video (None when this embedder computes no motion descriptors)."""
        return MotionStream(self.motion) if self.motion else None

    def _crops(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Frames, or already-cropped (N, crop, crop, 3) uint8 -> the backbone's input crops (N, crop, crop, 3)."""
        size = self.preprocess.crop_size
        already_cropped = isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:3] == (size, size)
        return images if already_cropped else self.preprocess.batch(images)

    def _to_input(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        import torch

        crops = self._crops(images)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device, non_blocking=True)  # (N, h, w, 3) u8
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean) / self._std  # (N, 3, h, w)
        if self.device.startswith("cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _autocast(self):
        import contextlib

        import torch

        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self._dtype)

    def embed(self, images: Sequence[np.ndarray], stream: MotionStream | None = None) -> np.ndarray:
        """N frames (H, W, 3) uint8 RGB (or already-cropped (N, crop, crop, 3) uint8) -> (N, D) float32.

        With motion descriptors, ``images`` are consecutive frames and ``stream`` carries the previous
        frames across calls (see :meth:`new_stream`); without a stream, the batch is its own sequence."""
        import torch

        if len(images) == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        if self.motion is not None and stream is None:
            stream = self.new_stream()
        out = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(images), self.batch_size):
                crops = self._crops(images[start : start + self.batch_size])
                fmap = self._feature_maps(self._to_input(crops))  # (B, C, h, w)
                features = self._pooled(fmap)
                if stream is not None:
                    features = torch.cat([features, stream.update(fmap, crops)], dim=1)
                out.append(features.cpu().numpy())
        return np.concatenate(out)

    def appearance(self, crops: np.ndarray) -> np.ndarray:
        """The backbone alone -- trunk and pooling, no motion descriptors -- on one batch of crops (n, s, s, 3)
        uint8 RGB -> (n, appearance_dim) float32 (what ``benchmarks/classify_speed.py`` calls backbone-only)."""
        import torch

        with torch.inference_mode(), self._autocast():
            return self._pooled(self._feature_maps(self._to_input(crops))).cpu().numpy()

    def _feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk on a batch (B, 3, H, W) -> (B, C, h, w). When the device runs out of memory, the batch is
        split in halves (and ``batch_size`` lowered for later calls) until it fits; results are the same."""
        import torch

        try:
            return self.trunk(x)
        except (RuntimeError, MemoryError) as exc:
            if not _out_of_memory(exc):
                raise
            if len(x) <= 1:
                raise DeviceMemoryError(
                    f"backbone {self.name}: out of memory on {self.device} even for one frame; try --device cpu, "
                    "--precision fp16 or a smaller backbone") from None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        half = len(x) // 2
        if half < self.batch_size:
            log.warning("backbone %s: out of memory on %s for %d frames at once; going on %d at a time",
                        self.name, self.device, len(x), half)
            self.batch_size = half
        return torch.cat([self._feature_maps(x[:half]), self._feature_maps(x[half:])])

    def _pooled(self, fmap: torch.Tensor) -> torch.Tensor:
        """Feature maps (B, C, h, w) -> appearance features (B, appearance_dim) float32."""
        import torch.nn.functional as F

        pooled = F.adaptive_avg_pool2d(fmap, self.spatial_grid)  # (B, C, g, g)
        if self.spec.family == "convnext":
            pooled = self.model.classifier[0](pooled)  # convnext's LayerNorm2d before its head
        return pooled.flatten(1).float()

    def embed_mixed(self, parts: Sequence[tuple]) -> list[np.ndarray]:
        """Embed frames of several videos in shared forward passes (keeps a GPU busy on short clips).

        Args:
            parts: ``(crops, stream)`` or ``(crops, stream, flow)`` in order; ``crops`` (n_i, crop, crop, 3)
                uint8 RGB, already centre-cropped by :attr:`preprocess`, are the next consecutive frames of one
                video and ``stream`` is that video's motion state (:meth:`new_stream`; None without motion
                descriptors). ``flow``, when given, holds those frames' global-motion rows, computed where
                they were decoded (:class:`~vidgru.motion_features.GlobalMotionStream`). Parts of the same
                video must come in frame order.
        Returns:
            one (n_i, embed_dim) float32 array per part: the same as ``embed(crops_i, stream_i)`` called video
            by video (up to float rounding), because each video's motion descriptors are computed from its own
            rows of the mixed feature maps.
        """
        import torch

        parts = [(part[0], part[1], part[2] if len(part) > 2 else None) for part in parts]
        sizes = [len(crops) for crops, _, _ in parts]
        if self.motion is not None and any(stream is None for _, stream, _ in parts):
            raise ConfigError("embed_mixed: this embedder computes motion descriptors; give each part its stream")
        if sum(sizes) == 0:
            return [np.zeros((0, self.embed_dim), np.float32) for _ in parts]
        images = np.concatenate([np.asarray(crops) for crops, _, _ in parts if len(crops)])  # (N, crop, crop, 3)
        bounds = np.cumsum([0, *sizes])  # part i owns rows bounds[i]:bounds[i + 1] of the mixed batch
        out: list[list[np.ndarray]] = [[] for _ in parts]
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(images), self.batch_size):
                stop = min(start + self.batch_size, len(images))
                fmap = self._feature_maps(self._to_input(images[start:stop]))  # (B, C, h, w)
                features = self._pooled(fmap)  # (B, appearance_dim)
                for i, (_, stream, flow) in enumerate(parts):
                    lo, hi = max(bounds[i], start), min(bounds[i + 1], stop)
                    if lo >= hi:
                        continue
                    rows = features[lo - start : hi - start]
                    if stream is not None:
                        own = None if flow is None else flow[lo - bounds[i] : hi - bounds[i]]
                        update = stream.update(fmap[lo - start : hi - start], images[lo:hi], flow=own)
                        rows = torch.cat([rows, update], dim=1)
                    out[i].append(rows.cpu().numpy())
        return [np.concatenate(chunks) if chunks else np.zeros((0, self.embed_dim), np.float32) for chunks in out]

    def predict_imagenet(self, images: Sequence[np.ndarray], topk: int = 5) -> list[list[tuple[str, float]]]:
        """Run the full ImageNet classifier: for each frame, the ``topk`` (category, probability) pairs."""
        import torch

        with torch.inference_mode(), self._autocast():
            probs = self.model(self._to_input(images)).float().softmax(dim=1).cpu()
        top = probs.topk(topk, dim=1)
        return [
            [(self.categories[int(i)], float(p)) for p, i in zip(row_p, row_i)]
            for row_p, row_i in zip(top.values, top.indices)
        ]


TorchEmbedder = BackboneEmbedder  # the former name; its runtime defaults to torch


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says a device (CUDA, MPS) or the host ran out of memory."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return isinstance(exc, MemoryError) or (oom is not None and isinstance(exc, oom)) or \
        "out of memory" in str(exc).lower()


def resolve_runtime(runtime: str, device: str) -> str:
    """``auto`` -> ``onnx`` on a CPU when onnxruntime is installed, else ``torch``; ``torch`` and ``onnx`` stay.

    Raises:
        ConfigError: ``runtime`` is not one of :data:`vidgru.choices.RUNTIMES`.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime: {runtime!r} is not one of {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    if resolve_device(device) != "cpu" or importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx"


def create_embedder(name: str = DEFAULT_BACKBONE, *, runtime: str = "auto", **kwargs) -> Embedder:
    """Build an embedder: ``runtime`` is ``torch`` (eager PyTorch, any device), ``onnx`` (ONNX Runtime on the
    CPU) or ``auto`` (onnx on a CPU when onnxruntime is installed, else torch). ``kwargs`` are those of
    :class:`BackboneEmbedder`.

    Example:
        >>> emb = create_embedder("mobilenet_v2", device="cpu")   # doctest: +SKIP
        >>> emb.embed(frames).shape                                 # doctest: +SKIP
        (N, 1280)
    """
    return BackboneEmbedder(name, runtime=runtime, **kwargs)
