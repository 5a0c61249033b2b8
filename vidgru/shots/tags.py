"""Content tags: the backbone's own ImageNet head applied to the pooled embeddings classification already has.

A torchvision classifier ends in global average pooling and one linear layer (MobileNetV2: dropout, then
Linear 1280 -> 1000). The pooled embedding vidgru keeps for every sampled frame is exactly that layer's input,
so ``softmax(W @ e + b)`` is the network's own ImageNet prediction for the frame, at the cost of a
(N, 1280) x (1280, 1000) product and no extra forward pass. A shot's tags are its frames' probabilities
averaged, the best few above a score threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vidgru.errors import ConfigError
from vidgru.types import Shot, Tag

if TYPE_CHECKING:
    from vidgru.backbone import Embedder

DEFAULT_TAG_THRESHOLD = 0.1
DEFAULT_TOP_TAGS = 3


@dataclass(frozen=True)
class ImagenetHead:
    """The final linear layer of a backbone: ``weight`` (K, C) and ``bias`` (K,) float32, ``categories`` (K,)."""

    weight: np.ndarray
    bias: np.ndarray
    categories: tuple[str, ...]

    def probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """Pooled embeddings (N, C) float32 -> class probabilities (N, K) float32 (softmax of the logits)."""
        logits = pooled.astype(np.float32) @ self.weight.T + self.bias  # (N, K)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


def _last_linear(model):
    """The final ``nn.Linear`` of a torchvision classifier (``classifier[-1]`` or ``fc``)."""
    from torch import nn

    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Sequential):
        head = head[-1]
    if not isinstance(head, nn.Linear):
        head = getattr(model, "fc", None)
    return head if isinstance(head, nn.Linear) else None


def imagenet_head(embedder: Embedder) -> ImagenetHead:
    """The ImageNet head of ``embedder``'s backbone, read from the classifier it already holds (or, for an
    embedder without one, from the same weights file).

    Raises:
        ConfigError: the embedder's pooled features are not the head's input (``spatial_grid`` > 1), the
            weights are random or custom with another number of classes, or the head cannot be found.
    """
    if getattr(embedder, "spatial_grid", 1) != 1:
        raise ConfigError("content tags need globally pooled embeddings (spatial_grid 1); use --no-tags")
    if getattr(embedder, "weights_id", "") == "none":
        raise ConfigError("content tags need pretrained backbone weights, not random ones; use --no-tags")
    model = getattr(embedder, "model", None)
    if model is None:
        import torchvision

        from vidgru.backbone import load_weights_file, resolve_weights

        resolved = resolve_weights(embedder.name, embedder.weights_id)
        model = torchvision.models.get_model(embedder.name, weights=None)
        load_weights_file(model, resolved.path, embedder.name)
    linear = _last_linear(model)
    categories = tuple(getattr(embedder, "categories", ()) or ())
    if linear is None or linear.in_features != embedder.appearance_dim or linear.out_features != len(categories):
        raise ConfigError(f"backbone {embedder.name}: no ImageNet head matching its embeddings; use --no-tags")
    weight = linear.weight.detach().float().cpu().numpy()
    bias = linear.bias.detach().float().cpu().numpy()
    return ImagenetHead(weight, bias, categories)


def tag_video(shots: Sequence[Shot], timestamps_s: np.ndarray, pooled: np.ndarray, head: ImagenetHead, *,
              threshold: float = DEFAULT_TAG_THRESHOLD, top: int = DEFAULT_TOP_TAGS) -> list[Shot]:
    """Shots with their content tags: each shot's frames' ImageNet probabilities averaged, the ``top`` best kept
    when their mean probability reaches ``threshold`` (a shot whose frames agree on nothing gets no tag).

    Args:
        shots: consecutive shots covering the video (their tags are replaced).
        timestamps_s: (N,) seconds of the sampled frames.
        pooled: (N, C) float32 pooled appearance embeddings of those frames.
        head: the backbone's head (:func:`imagenet_head`).
    """
    import dataclasses

    probs = head.probabilities(pooled) if len(pooled) else np.zeros((0, len(head.categories)), np.float32)
    out = []
    for k, shot in enumerate(shots):
        last = k == len(shots) - 1
        inside = (timestamps_s >= shot.start_s) & ((timestamps_s <= shot.end_s) if last else
                                                   (timestamps_s < shot.end_s))
        tags: list[Tag] = []
        if inside.any():
            mean = probs[inside].mean(axis=0)
            for c in np.argsort(-mean)[:top]:
                if mean[c] >= threshold:
                    tags.append(Tag(head.categories[int(c)], float(mean[c])))
        out.append(dataclasses.replace(shot, tags=tuple(tags)))
    return out
