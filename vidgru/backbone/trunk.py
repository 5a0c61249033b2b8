"""A backbone's convolutional trunk, run by eager PyTorch or by ONNX Runtime: normalised crops in, feature maps out.

Both runtimes compute the same feature maps (to about 1e-5), so pooling and motion descriptors on top of them,
and the embeddings, caches and checkpoints made from them, do not depend on the runtime.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vidgru.errors import ConfigError
from vidgru.fileio import atomic_path
from vidgru.paths import cache_root

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class Trunk(Protocol):
    """``x`` (N, 3, h, w) float32, normalised, on the embedder's device -> feature map (N, C, fh, fw) float."""

    runtime: str  # "torch" or "onnx"

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def feature_map(model: torch.nn.Module, family: str, x: torch.Tensor) -> torch.Tensor:
    """The last feature map of a torchvision classifier of ``family`` (see :class:`~vidgru.backbone.BackboneSpec`),
    before its pooling and head: (N, 3, h, w) -> (N, C, fh, fw)."""
    m = model
    if family in ("features", "convnext"):
        return m.features(x)
    if family == "resnet":
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer4(m.layer3(m.layer2(m.layer1(x))))
    if family == "regnet":
        return m.trunk_output(m.stem(x))
    raise AssertionError(family)


class TorchTrunk:
    """The trunk of a torchvision classifier (``model``, already on its device and in eval mode), run eagerly."""

    runtime = "torch"

    def __init__(self, model: torch.nn.Module, family: str) -> None:
        self.model = model
        self.family = family

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return feature_map(self.model, self.family, x)

    def module(self) -> torch.nn.Module:
        """An ``nn.Module`` whose forward is this trunk, for ``torch.onnx.export``."""
        from torch import nn

        trunk = self

        class _TrunkModule(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = trunk.model

            def forward(self, x):
                return trunk(x)

        return _TrunkModule().eval()


def onnx_trunk_file(name: str, weights_id: str) -> Path:
    """Where the ONNX export of backbone ``name`` with weights ``weights_id`` is kept:
    ``<cache_root>/onnx/<name>-<weights>-torch<version>.onnx``, or a fresh temporary folder for random weights
    (nothing worth keeping)."""
    import torch

    folder = cache_root() / "onnx"
    if weights_id == "none":
        folder = Path(tempfile.mkdtemp(prefix="vidgru-onnx-"))
    return folder / f"{name}-{weights_id}-torch{torch.__version__.split('+')[0]}.onnx"


def require_onnxruntime():
    """The ``onnxruntime`` module, or :class:`ConfigError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("runtime: onnx needs onnxruntime; pip install 'vidgru[onnx]' or use --runtime torch"
                          ) from None
    return onnxruntime


class OnnxTrunk:
    """A trunk exported to ONNX and run by ONNX Runtime on the CPU (several times faster than eager PyTorch there).

    Build it with :meth:`from_torch`, which exports a :class:`TorchTrunk` once per file.
    """

    runtime = "onnx"

    def __init__(self, path: str | Path) -> None:
        onnxruntime = require_onnxruntime()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # Idle intra-op threads sleep instead of spinning: decoding and corner tracking run beside the trunk.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def from_torch(cls, trunk: TorchTrunk, path: Path, *, input_size: int) -> OnnxTrunk:
        """Export ``trunk`` (on the CPU) to ``path`` unless that file exists, then load it. ``input_size`` is the
        side of the example input; batch size and spatial size stay dynamic in the export."""
        import torch

        if not path.is_file():
            log.info("exporting the trunk to %s", path)
            axes = {"x": {0: "n", 2: "h", 3: "w"}, "fmap": {0: "n", 2: "fh", 3: "fw"}}
            with atomic_path(path) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(trunk.module(), (torch.zeros(1, 3, input_size, input_size),), str(tmp),
                                  input_names=["x"], output_names=["fmap"], dynamic_axes=axes, opset_version=17,
                                  dynamo=False)
        return cls(path)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self._session.run(None, {"x": x.numpy()})[0])
