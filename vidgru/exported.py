"""Models exported by ``vidgru export`` (ONNX files and one JSON file), run by ONNX Runtime without PyTorch.

An exported clip classifier is a folder::

    model.json   format tag and version, class names, the embedder it reads (backbone, sizes, motion
                 descriptors), sampling, preprocessing, and the inputs and outputs of the two files below
    trunk.onnx   x (N, 3, s, s) float32, RGB, (pixel / 255 - mean) / std  ->  fmap (N, C, h, w), pooled (N, D_app)
    head.onnx    x (B, T, D) embeddings, prev (B, D) the frame before x (x[:, 0] at a window's start),
                 h0 (layers * directions, B, H) the GRU's hidden state  ->  logits (B, C), h_n (the state after x)

The motion descriptors between the trunk and the head have no weights: :mod:`vidgru.motion_features` computes
them in numpy from the trunk's feature maps (and the crops), as with the PyTorch model. So classification runs
with onnxruntime, OpenCV and numpy only: importing this module and running a model loads no torch.

An exported state model (the tracker's GRU) is a folder with ``model.json`` and ``state_step.onnx``:
x (N, input_dim), h (N, H) -> residual (N, 8), log_scale (N, 4), h_next (N, H), one step of
:func:`vidgru.track.gru_motion.filter_step`'s network; the Kalman filter around it is numpy
(:mod:`vidgru.track.kalman`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.errors import CheckpointError, ConfigError
from vidgru.types import EmbedderSpec, Sampling

EXPORT_FORMAT = "vidgru.onnx-export"
EXPORT_VERSION = 1
MANIFEST = "model.json"
CLIP_KIND = "clip-classifier"
STATE_KIND = "state-model"


def is_export(path: str | Path | None) -> bool:
    """Whether ``path`` is a folder written by ``vidgru export`` (it holds :data:`MANIFEST`)."""
    return path is not None and Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def read_manifest(folder: str | Path, kind: str) -> dict[str, Any]:
    """The ``model.json`` of an export of ``kind``, checked: format, version, kind, and the files it names.

    Raises:
        CheckpointError: not an export, another kind, a newer version, or a file missing.
    """
    folder = Path(folder)
    where = f"cannot load exported model {folder}"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no {MANIFEST} (write one with `vidgru export`)") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{where}: {MANIFEST} is not readable JSON ({' '.join(str(exc).split())[:120]})"
                              ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{where}: {MANIFEST} is not a vidgru export")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > EXPORT_VERSION:
        raise CheckpointError(f"{where}: export version {manifest.get('version')!r} is newer than this vidgru's "
                              f"({EXPORT_VERSION}); upgrade vidgru")
    if manifest.get("kind") != kind:
        raise CheckpointError(f"{where}: it is a {manifest.get('kind')!r} export, expected a {kind!r} one")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise CheckpointError(f"{where}: {MANIFEST} names no files")
    for name in files.values():
        if not isinstance(name, str) or "/" in name or not (folder / name).is_file():
            raise CheckpointError(f"{where}: {name!r} is missing")
    return manifest


def onnx_session(path: Path, *, threads: int = 0):
    """An ONNX Runtime CPU session for ``path`` (``threads`` 0: its default); idle threads sleep rather than spin,
    so decoding and corner tracking can run beside it."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("exported models need onnxruntime; pip install 'vidgru[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a damaged file
        raise CheckpointError(f"cannot load {path}: {' '.join(str(exc).split())[:200]}") from None


class OnnxEmbedder:
    """The :class:`~vidgru.backbone.Embedder` of an exported clip classifier: the ONNX trunk, its pooling, and the
    numpy motion descriptors. Frames in are (H, W, 3) uint8 RGB, embeddings out (N, embed_dim) float32."""

    runtime = "onnx"

    def __init__(self, folder: Path, manifest: dict[str, Any], *, batch_size: int = 32) -> None:
        from vidgru.backbone.preprocess import Preprocess
        from vidgru.motion_features import MotionSpec

        if batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
        spec = EmbedderSpec.from_dict(manifest["backbone"])
        pre = manifest["preprocess"]
        self.name = spec.name
        self.weights_id = spec.weights
        self.embed_dim = spec.embed_dim
        self.appearance_dim = spec.appearance_dim if spec.appearance_dim is not None else spec.embed_dim
        self.spatial_grid = spec.spatial_grid
        self.motion = MotionSpec.from_dict(spec.motion) if spec.motion else None
        self.batch_size = batch_size
        self.preprocess = Preprocess(resize_size=int(pre["resize_size"]), crop_size=int(pre["crop_size"]),
                                     mean=tuple(pre["mean"]), std=tuple(pre["std"]),
                                     interpolation=str(pre["interpolation"]))
        self._spec = spec
        self._session = onnx_session(folder / manifest["files"]["trunk"])
        self._scale = (1.0 / (255.0 * np.asarray(self.preprocess.std, np.float32))).reshape(1, 3, 1, 1)
        self._shift = (np.asarray(self.preprocess.mean, np.float32) /
                       np.asarray(self.preprocess.std, np.float32)).reshape(1, 3, 1, 1)

    @property
    def identity(self) -> dict:
        return {"name": self.name, "weights": self.weights_id, "embed_dim": self.embed_dim,
                "appearance_dim": self.appearance_dim, "spatial_grid": self.spatial_grid,
                "motion": self.motion.to_dict() if self.motion else None}

    def new_stream(self):
        from vidgru.motion_features import MotionStream

        return MotionStream(self.motion) if self.motion else None

    def _crops(self, images: Sequence[np.ndarray]) -> np.ndarray:
        size = self.preprocess.crop_size
        if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:3] == (size, size):
            return images
        return self.preprocess.batch(images)

    def _run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, s, s, 3) uint8 RGB crops -> feature maps (n, C, h, w) and pooled features (n, appearance_dim)."""
        x = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)  # (n, 3, s, s)
        x *= self._scale
        x -= self._shift  # (pixel / 255 - mean) / std
        fmap, pooled = self._session.run(None, {"x": x})
        return fmap, pooled

    def appearance(self, crops: np.ndarray) -> np.ndarray:
        """The backbone alone (trunk and pooling) on one batch of crops -> (n, appearance_dim) float32."""
        return self._run(self._crops(crops))[1]

    def embed(self, images: Sequence[np.ndarray], stream=None) -> np.ndarray:
        """N frames (or (N, s, s, 3) crops) -> (N, embed_dim) float32; ``stream`` carries motion state across
        calls for consecutive frames of one video (a fresh one per call when None)."""
        if len(images) == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        if self.motion is not None and stream is None:
            stream = self.new_stream()
        return self.embed_mixed([(self._crops(images), stream)])[0]

    def embed_mixed(self, parts: Sequence[tuple]) -> list[np.ndarray]:
        """``(crops, stream[, flow])`` parts of one or several videos, in order -> one (n_i, embed_dim) array each
        (see :meth:`vidgru.backbone.BackboneEmbedder.embed_mixed`)."""
        out = []
        for part in parts:
            crops, stream = part[0], part[1]
            flow = part[2] if len(part) > 2 else None
            if self.motion is not None and stream is None:
                raise ConfigError("embed_mixed: this embedder computes motion descriptors; give each part its stream")
            chunks = []
            for start in range(0, len(crops), self.batch_size):
                batch = np.asarray(crops[start : start + self.batch_size])
                fmap, pooled = self._run(batch)
                if stream is not None:
                    own = None if flow is None else flow[start : start + len(batch)]
                    pooled = np.concatenate([pooled, stream.update(fmap, batch, flow=own)], axis=1)
                chunks.append(pooled.astype(np.float32, copy=False))
            out.append(np.concatenate(chunks) if chunks else np.zeros((0, self.embed_dim), np.float32))
        return out


class OnnxClipHead:
    """The exported GRU head: windows of embeddings -> class probabilities, and the streaming step."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        head = manifest["head"]
        self.num_classes = len(manifest["class_names"])
        self.state_shape = tuple(int(v) for v in head["state_shape"])  # (layers * directions, H)
        self._session = onnx_session(folder / manifest["files"]["head"])
        self._inputs = {i.name for i in self._session.get_inputs()}  # prev is absent when the model ignores it

    def _run(self, x: np.ndarray, prev: np.ndarray, hidden: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if hidden is None:
            hidden = np.zeros((self.state_shape[0], len(x), self.state_shape[1]), np.float32)
        feeds = {"x": x.astype(np.float32, copy=False), "prev": prev.astype(np.float32, copy=False),
                 "h0": hidden.astype(np.float32, copy=False)}
        logits, h_n = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        return logits, h_n

    def probabilities(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """x (B, T, D) zero-padded windows, lengths (B,) -> (B, C) softmax probabilities. Windows of the same
        length run together, each from a zero state (as the PyTorch model's packed sequences)."""
        probs = np.zeros((len(x), self.num_classes), np.float32)
        for n in np.unique(lengths):
            rows = np.nonzero(lengths == n)[0]
            xs = np.ascontiguousarray(x[rows, : max(int(n), 1)])
            logits, _ = self._run(xs, xs[:, 0], None)
            probs[rows] = _softmax(logits)
        return probs

    def stream(self, x: np.ndarray, hidden: np.ndarray | None, prev: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray]:
        """One stride of a live source: x (1, T, D), the state after the previous stride (None at the start) and
        the last embedding before x -> (probabilities (C,), the new state)."""
        logits, h_n = self._run(x, x[:, 0] if prev is None else prev, hidden)
        return _softmax(logits)[0], h_n


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ExportedClipModel:
    """An exported clip classifier, read from its folder: what :class:`vidgru.classify.ClipClassifier` needs in
    place of a :class:`~vidgru.temporal.ClipCheckpoint` (class names, the embedder spec, sampling) plus its
    embedder and head."""

    folder: Path
    manifest: dict[str, Any]
    class_names: list[str]
    backbone: EmbedderSpec
    sampling: Sampling

    @classmethod
    def load(cls, folder: str | Path) -> ExportedClipModel:
        """Read ``folder``'s manifest (checked; see :func:`read_manifest`)."""
        folder = Path(folder)
        manifest = read_manifest(folder, CLIP_KIND)
        try:
            names = [str(n) for n in manifest["class_names"]]
            backbone = EmbedderSpec.from_dict(manifest["backbone"])
            sampling = Sampling.from_dict(manifest["sampling"])
            for key in ("resize_size", "crop_size", "mean", "std", "interpolation"):
                manifest["preprocess"][key]
            manifest["head"]["state_shape"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cannot load exported model {folder}: incomplete {MANIFEST} ({exc})") from None
        if not names or len(set(names)) != len(names):
            raise CheckpointError(f"cannot load exported model {folder}: class_names must be distinct names")
        return cls(folder, manifest, names, backbone, sampling)

    @property
    def embed_dim(self) -> int:
        return self.backbone.embed_dim

    def embedder(self, *, batch_size: int = 32) -> OnnxEmbedder:
        return OnnxEmbedder(self.folder, self.manifest, batch_size=batch_size)

    def head(self) -> OnnxClipHead:
        return OnnxClipHead(self.folder, self.manifest)


class OnnxStateStep:
    """The exported state model's network, called as :func:`vidgru.track.gru_motion.filter_step` calls its net:
    ``(x (N, input_dim), h (N, H)) -> (residual (N, 8), log_scale (N, 4), h')`` (float64 residuals, as the numpy
    net gives)."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.manifest = read_manifest(folder, STATE_KIND)
        self.config = dict(self.manifest["config"])
        self.hidden_size = int(self.config["hidden_size"])
        self._session = onnx_session(folder / self.manifest["files"]["step"], threads=1)

    def __call__(self, x: np.ndarray, h: np.ndarray):
        if len(x) == 0:
            return np.zeros((0, 8)), np.zeros((0, 4)), np.zeros((0, self.hidden_size), np.float32)
        residual, log_scale, h = self._session.run(None, {"x": np.asarray(x, np.float32),
                                                          "h": np.asarray(h, np.float32)})
        return residual.astype(np.float64), log_scale.astype(np.float64), h
