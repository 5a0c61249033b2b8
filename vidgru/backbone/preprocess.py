"""The backbones' input preprocessing: resize, centre-crop and normalise frames as their weights expect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidgru.backbone.weights import get_spec, weights_entry


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
    """The preprocessing of backbone ``name``'s weights ``weights_id`` (its default weights' for an explicit file
    or random weights). Downloads nothing."""
    spec = get_spec(name)
    wid = weights_id if weights_id and not weights_id.startswith(("custom-", "none")) else spec.default_weights
    t = weights_entry(name, wid).transforms()
    return Preprocess(
        resize_size=int(t.resize_size[0]),
        crop_size=int(t.crop_size[0]),
        mean=tuple(float(m) for m in t.mean),
        std=tuple(float(s) for s in t.std),
        interpolation=str(t.interpolation.value),
    )
