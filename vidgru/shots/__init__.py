"""What is in a video: shot boundaries (cut, fade, dissolve) and content tags per shot, from the embeddings
classification already computes (no extra forward pass).

- :mod:`~vidgru.shots.boundaries`: per-frame change features, the parameter-free detector, boundaries -> shots;
- :mod:`~vidgru.shots.model`: the learned detector (a bidirectional GRU) and its checkpoints;
- :mod:`~vidgru.shots.tags`: the backbone's own ImageNet head on the pooled embeddings.

:class:`ShotFinder` puts them together for one embedder::

    finder = ShotFinder(embedder, detector="auto", tags=True)
    shots = finder.find(timestamps_s, embeddings, duration_s)   # list[Shot], tags filled in
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidgru.errors import CheckpointError, ConfigError
from vidgru.paths import SHOT_MODEL, shipped_model
from vidgru.shots.boundaries import TRANSITIONS, Boundary, detect_rules, shots_from_boundaries
from vidgru.shots.tags import DEFAULT_TAG_THRESHOLD, DEFAULT_TOP_TAGS, ImagenetHead, imagenet_head, tag_video
from vidgru.types import Shot

if TYPE_CHECKING:
    from vidgru.backbone import Embedder

log = logging.getLogger(__name__)

__all__ = ["TRANSITIONS", "Boundary", "ShotFinder", "default_shot_model_path", "detect_rules", "imagenet_head",
           "shots_from_boundaries", "tag_video"]


def default_shot_model_path() -> Path:
    """The shot detector shipped inside the package (whether or not it is installed)."""
    return shipped_model(SHOT_MODEL)


def black_embedding(embedder: Embedder) -> np.ndarray:
    """(appearance_dim,) the pooled embedding of an all-black frame: where a fade to black goes."""
    size = embedder.preprocess.crop_size
    return embedder.embed(np.zeros((1, size, size, 3), np.uint8))[0, : embedder.appearance_dim].astype(np.float32)


class ShotFinder:
    """Shots and their tags from one embedder's per-frame embeddings.

    Args:
        embedder: the embedder the embeddings come from (its black-frame embedding and ImageNet head are used).
        detector: ``learned`` (the GRU of ``model``, default the shipped one), ``rules`` (parameter-free: cuts
            and fades), ``auto`` (learned when the model is installed and fits the embedder, else rules) or
            ``none`` (the whole video is one shot; tags still work).
        model: a shot-detector checkpoint (``vidgru/models/shot_detector.pt`` when None).
        tags: tag each shot with ImageNet categories; ``tag_threshold``: least mean probability shown;
            ``top_tags``: at most this many per shot.

    Raises:
        ConfigError / CheckpointError: an unknown detector, a model that does not fit the embedder, no tags
            possible for this backbone.
    """

    def __init__(self, embedder: Embedder, *, detector: str = "auto", model: str | Path | None = None,
                 tags: bool = True, tag_threshold: float = DEFAULT_TAG_THRESHOLD, top_tags: int = DEFAULT_TOP_TAGS,
                 device: str = "cpu") -> None:
        from vidgru.choices import SHOT_DETECTORS

        if detector not in SHOT_DETECTORS:
            raise ConfigError(f"shot_detector: {detector!r} is not one of {', '.join(SHOT_DETECTORS)}")
        self.embedder = embedder
        self.black = black_embedding(embedder)
        self.learned = None
        if detector in ("learned", "auto"):
            path = Path(model) if model is not None else default_shot_model_path()
            try:
                self.learned = self._load(path)
            except (CheckpointError, ConfigError):
                if detector == "learned" or model is not None:
                    raise
                log.info("no usable shot model at %s; using the parameter-free detector", path)
        self.detector = "learned" if self.learned is not None else "none" if detector == "none" else "rules"
        self.head: ImagenetHead | None = imagenet_head(embedder) if tags else None
        self.tag_threshold = tag_threshold
        self.top_tags = top_tags
        self.device = device

    def _load(self, path: Path):
        from vidgru.shots.model import LearnedShotDetector, load_shot_model

        if not path.is_file():
            raise CheckpointError(f"shot model {path} is not installed")
        ckpt = load_shot_model(path)
        identity = self.embedder.identity
        spec = ckpt.backbone
        if (spec.name, spec.weights, spec.embed_dim, spec.motion) != (
                identity["name"], identity["weights"], identity["embed_dim"], identity["motion"]):
            raise ConfigError(f"shot model {path} was trained on {spec.name} embeddings with other settings than "
                              f"this embedder's ({identity['name']}, {identity['embed_dim']}-d); use "
                              "--shot-detector rules")
        return LearnedShotDetector(ckpt)

    def boundaries(self, timestamps_s: np.ndarray, embeddings: np.ndarray) -> list[Boundary]:
        """Transitions found in (N,) timestamps and (N, D) embeddings, in time order."""
        if len(timestamps_s) < 2 or self.detector == "none":
            return []
        if self.learned is not None:
            return self.learned.detect(timestamps_s, embeddings, self.black)
        from vidgru.shots.boundaries import change_features

        motion = getattr(self.embedder, "motion", None)
        feats = change_features(embeddings, appearance_dim=self.embedder.appearance_dim, motion=motion,
                                black=self.black)
        return detect_rules(feats, timestamps_s)

    def find(self, timestamps_s: np.ndarray, embeddings: np.ndarray, duration_s: float) -> list[Shot]:
        """Shots covering [0, duration_s], each with its tags when tagging is on."""
        shots = shots_from_boundaries(self.boundaries(timestamps_s, embeddings), duration_s)
        if self.head is None:
            return shots
        return tag_video(shots, timestamps_s, embeddings[:, : self.embedder.appearance_dim], self.head,
                         threshold=self.tag_threshold, top=self.top_tags)
