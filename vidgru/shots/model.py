"""The learned shot-boundary detector: a bidirectional GRU over per-frame change features and motion descriptors.

Input per sampled frame: the change features of :func:`~vidgru.shots.boundaries.change_features` and the
frame-pair motion descriptors of the embedding, standardised with statistics stored in the checkpoint. Output
per frame: probabilities of "no transition", cut, fade and dissolve, where a frame is "in" a transition when the
change from the previous sampled frame is part of it. Runs of transition frames become boundaries
(:func:`~vidgru.shots.boundaries.boundaries_from_probabilities`).

Checkpoints are self-describing (:mod:`vidgru.checkpoint`): the model's sizes, the feature statistics, the
embedder and sampling it was trained with, its decision threshold and how it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.checkpoint import check_tensors, load_payload, save_payload
from vidgru.errors import CheckpointError
from vidgru.motion_features import MotionSpec
from vidgru.shots.boundaries import FEATURE_NAMES, TRANSITIONS, Boundary, boundaries_from_probabilities, change_features
from vidgru.types import EmbedderSpec

SHOT_FORMAT = "vidgru.shot-detector"
SHOT_VERSION = 1


@dataclass(frozen=True)
class ShotModelConfig:
    """Sizes of the shot GRU: ``input_dim`` features per frame, ``proj_dim`` after the input layer, ``hidden_size``
    per direction."""

    input_dim: int
    proj_dim: int = 64
    hidden_size: int = 48
    num_layers: int = 1


def build_net(cfg: ShotModelConfig):
    """The network: (B, T, input_dim) -> per-frame logits (B, T, 1 + len(TRANSITIONS))."""
    from torch import nn

    class ShotGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Sequential(nn.Linear(cfg.input_dim, cfg.proj_dim), nn.ReLU())
            self.gru = nn.GRU(cfg.proj_dim, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                              bidirectional=True)
            self.out = nn.Linear(2 * cfg.hidden_size, 1 + len(TRANSITIONS))

        def forward(self, x):
            h, _ = self.gru(self.proj(x))
            return self.out(h)

    return ShotGRU()


@dataclass
class ShotCheckpoint:
    """Everything needed to rebuild and use a trained shot detector."""

    config: ShotModelConfig
    state_dict: dict[str, Any]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    backbone: EmbedderSpec
    sample_fps: float
    threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)


def save_shot_model(path: str | Path, ckpt: ShotCheckpoint) -> None:
    save_payload(path, {
        "config": asdict(ckpt.config),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "feature_mean": [float(v) for v in ckpt.feature_mean],
        "feature_std": [float(v) for v in ckpt.feature_std],
        "backbone": ckpt.backbone.to_dict(),
        "sample_fps": float(ckpt.sample_fps),
        "threshold": float(ckpt.threshold),
        "feature_names": list(FEATURE_NAMES),
        "transitions": list(TRANSITIONS),
        "training": ckpt.training,
    }, format=SHOT_FORMAT, version=SHOT_VERSION)


def load_shot_model(path: str | Path) -> ShotCheckpoint:
    """Read a shot-detector checkpoint. Raises CheckpointError naming the file and what is wrong."""
    p = load_payload(path, format=SHOT_FORMAT, version=SHOT_VERSION, what="shot-detector")
    try:
        cfg = ShotModelConfig(**p["config"])
        if list(p["feature_names"]) != list(FEATURE_NAMES) or list(p["transitions"]) != list(TRANSITIONS):
            raise CheckpointError(f"cannot load model {path}: made for other shot features; retrain it")
        ckpt = ShotCheckpoint(cfg, p["state_dict"], np.asarray(p["feature_mean"], np.float32),
                              np.asarray(p["feature_std"], np.float32), EmbedderSpec.from_dict(p["backbone"]),
                              float(p["sample_fps"]), float(p["threshold"]), dict(p.get("training", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot load model {path}: incomplete shot-detector checkpoint ({exc})") from None
    if len(ckpt.feature_mean) != cfg.input_dim or len(ckpt.feature_std) != cfg.input_dim:
        raise CheckpointError(f"cannot load model {path}: feature statistics do not match input_dim {cfg.input_dim}")
    check_tensors(path, ckpt.state_dict, {k: tuple(v.shape) for k, v in build_net(cfg).state_dict().items()})
    return ckpt


def model_inputs(embeddings: np.ndarray, *, appearance_dim: int, motion: MotionSpec | None,
                 black: np.ndarray) -> np.ndarray:
    """(N, D) embeddings -> (N, F) unstandardised model inputs: change features, then motion descriptors."""
    feats = change_features(embeddings, appearance_dim=appearance_dim, motion=motion, black=black)
    return np.concatenate([feats, np.asarray(embeddings[:, appearance_dim:], np.float32)], axis=1)


class LearnedShotDetector:
    """A loaded :class:`ShotCheckpoint`, ready to turn a video's embeddings into boundaries."""

    def __init__(self, ckpt: ShotCheckpoint, *, device: str = "cpu") -> None:
        self.ckpt = ckpt
        self.device = device
        self.net = build_net(ckpt.config)
        self.net.load_state_dict(ckpt.state_dict)
        self.net.eval().to(device)
        self.motion = MotionSpec.from_dict(ckpt.backbone.motion) if ckpt.backbone.motion else None

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(N, F) model inputs -> (N, 1 + len(TRANSITIONS)) per-frame probabilities."""
        import torch

        if len(inputs) == 0:
            return np.zeros((0, 1 + len(TRANSITIONS)), np.float32)
        x = (inputs - self.ckpt.feature_mean) / self.ckpt.feature_std
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(x.astype(np.float32))[None].to(self.device))[0]
        return logits.float().softmax(dim=-1).cpu().numpy()

    def detect(self, timestamps_s: np.ndarray, embeddings: np.ndarray, black: np.ndarray) -> list[Boundary]:
        spec = self.ckpt.backbone
        inputs = model_inputs(embeddings, appearance_dim=spec.appearance_dim or spec.embed_dim, motion=self.motion,
                              black=black)
        probs = self.probabilities(inputs)
        return boundaries_from_probabilities(probs, timestamps_s, threshold=self.ckpt.threshold,
                                             appearance=embeddings[:, : spec.appearance_dim or spec.embed_dim])
