"""Pretrained torchvision classification networks used as frame embedders.

An embedder turns a batch of frames, each (H, W, 3) uint8 RGB, into pooled features (N, D) float32:

- :mod:`~vidgru.backbone.weights`: the backbones (:data:`BACKBONES`) and where their weights come from, offline
  first (also used for the COCO weights of :mod:`vidgru.detect`'s torchvision detectors);
- :mod:`~vidgru.backbone.preprocess`: the weights' own resize, centre-crop and normalisation;
- :mod:`~vidgru.backbone.trunk`: the convolutional trunk, run by eager PyTorch or ONNX Runtime;
- :mod:`~vidgru.backbone.embedder`: the :class:`Embedder` protocol, :class:`BackboneEmbedder` and
  :func:`create_embedder`.

Example::

    emb = create_embedder("mobilenet_v2", device="cpu")
    features = emb.embed(frames)  # (N, 1280) float32
"""

from __future__ import annotations

from vidgru.backbone.device import resolve_device
from vidgru.backbone.embedder import BackboneEmbedder, Embedder, TorchEmbedder, create_embedder, resolve_runtime
from vidgru.backbone.preprocess import Preprocess, preprocess_for
from vidgru.backbone.trunk import OnnxTrunk, TorchTrunk, Trunk
from vidgru.backbone.weights import (
    BACKBONES,
    DEFAULT_BACKBONE,
    OFFLINE_PACKAGE,
    OFFLINE_PACKAGE_PIP,
    BackboneSpec,
    ResolvedWeights,
    find_local_weights,
    find_model_weights,
    get_spec,
    load_weights_file,
    resolve_model_weights,
    resolve_weights,
    weights_categories,
    weights_status,
)

__all__ = [
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "OFFLINE_PACKAGE",
    "OFFLINE_PACKAGE_PIP",
    "BackboneEmbedder",
    "BackboneSpec",
    "Embedder",
    "OnnxTrunk",
    "Preprocess",
    "ResolvedWeights",
    "TorchEmbedder",
    "TorchTrunk",
    "Trunk",
    "create_embedder",
    "find_local_weights",
    "find_model_weights",
    "get_spec",
    "load_weights_file",
    "preprocess_for",
    "resolve_device",
    "resolve_model_weights",
    "resolve_runtime",
    "resolve_weights",
    "weights_categories",
    "weights_status",
]
