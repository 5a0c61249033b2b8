"""Temporal models over frame embeddings, and their self-describing checkpoints.

A frame embedding is ``[appearance | motion]``: ``appearance_dim`` pooled backbone features, then (optionally)
the frame-pair motion descriptors of :mod:`vidgru.motion_features`.

``ClipGRU``: (B, T, D) embeddings -> projection + LayerNorm -> GRU -> pooling over time -> (B, C) logits.
``MeanHead``: the order-less baseline, (B, T, D) -> masked mean over T of the appearance part -> LayerNorm ->
(B, C) logits. It sees the same frames as the GRU, so the difference between the two is what temporal order
(and the motion between frames, which only makes sense in order) adds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from vidgru.checkpoint import check_tensors, load_payload, save_payload
from vidgru.choices import CLIP_HEADS, POOLINGS
from vidgru.errors import CheckpointError, ConfigError
from vidgru.settings import TrainSettings
from vidgru.types import EmbedderSpec, Sampling

CHECKPOINT_FORMAT = "vidgru.clip-classifier"
CHECKPOINT_VERSION = 1



@dataclass(frozen=True)
class ClipModelConfig:
    """Hyper-parameters that rebuild a clip model exactly."""

    embed_dim: int
    num_classes: int
    head: str = TrainSettings.head
    proj_dim: int = TrainSettings.proj_dim
    hidden_size: int = TrainSettings.hidden_size
    num_layers: int = TrainSettings.num_layers
    bidirectional: bool = TrainSettings.bidirectional
    pooling: str = TrainSettings.pooling
    dropout: float = TrainSettings.dropout
    delta_input: bool = True  # also feed x_t - x_{t-1}: makes changes between frames explicit to the GRU
    appearance_dim: int | None = None  # None: the whole embedding is appearance (no motion descriptors)
    use_appearance: bool = True  # False: the GRU sees only the motion descriptors (content-agnostic tasks)

    @property
    def app_dim(self) -> int:
        return self.embed_dim if self.appearance_dim is None else self.appearance_dim

    @property
    def motion_dim(self) -> int:
        return self.embed_dim - self.app_dim

    def __post_init__(self) -> None:
        if self.head not in CLIP_HEADS:
            raise ConfigError(f"head: {self.head!r} is not a clip-model head ({', '.join(CLIP_HEADS)}); "
                              "linear and mlp are for image models")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling: {self.pooling!r} is not one of {', '.join(POOLINGS)}")
        for name in ("embed_dim", "num_classes", "proj_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")
        if not 0 <= self.app_dim <= self.embed_dim:
            raise ConfigError(f"appearance_dim: must be between 0 and embed_dim {self.embed_dim}, got {self.app_dim}")
        if not self.use_appearance and (self.motion_dim == 0 or self.head == "mean"):
            raise ConfigError("use_appearance: false needs a GRU head and an embedding with motion descriptors")
        if self.head == "mean" and self.app_dim == 0:
            raise ConfigError("head: mean needs appearance features")


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on valid steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class ClipGRU(nn.Module):
    """GRU clip classifier over (B, T, D) frame embeddings with per-clip lengths."""

    def __init__(self, cfg: ClipModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        app = cfg.app_dim if cfg.use_appearance else 0
        in_dim = app * (2 if cfg.delta_input else 1) + cfg.motion_dim
        # Motion descriptors are cosines packed near 1; training sets these to the training set's statistics.
        self.register_buffer("motion_mean", torch.zeros(cfg.motion_dim))
        self.register_buffer("motion_std", torch.ones(cfg.motion_dim))
        self.proj = nn.Sequential(
            nn.Linear(in_dim, cfg.proj_dim), nn.LayerNorm(cfg.proj_dim), nn.GELU(), nn.Dropout(cfg.dropout)
        )
        self.gru = nn.GRU(
            cfg.proj_dim,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        out_dim = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.attn = nn.Linear(out_dim, 1) if cfg.pooling == "attention" else None
        self.norm = nn.LayerNorm(out_dim)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(out_dim, cfg.num_classes))

    def set_motion_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise motion descriptors with these (K,) statistics (from the training set)."""
        self.motion_mean.copy_(mean)
        self.motion_std.copy_(std.clamp(min=1e-6))

    def _inputs(self, x: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) -> (B, T, P). ``prev`` (B, D) is the frame before the window when streaming."""
        a = self.cfg.app_dim
        parts = []
        if self.cfg.use_appearance and a:
            app = x[..., :a]
            parts.append(app)
            if self.cfg.delta_input:
                first = app[:, :1] if prev is None else prev[:, None, :a]
                parts.append(app - torch.cat([first, app[:, :-1]], dim=1))
        if self.cfg.motion_dim:
            parts.append((x[..., a:] - self.motion_mean) / self.motion_std)
        return self.proj(torch.cat(parts, dim=-1))

    def _pool(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, H) GRU outputs -> (B, H)."""
        mask = length_mask(lengths, out.shape[1])
        if self.cfg.pooling == "attention":
            logits = self.attn(out).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, T)
            pooled = (logits.softmax(dim=1).unsqueeze(-1) * out).sum(dim=1)
        elif self.cfg.pooling == "mean":
            pooled = (out * mask.unsqueeze(-1)).sum(dim=1) / lengths.clamp(min=1).unsqueeze(-1)
        else:  # last valid step; for a bidirectional GRU the backward half is complete at step 0
            idx = (lengths - 1).clamp(min=0)
            last = out[torch.arange(out.shape[0], device=out.device), idx]
            if self.cfg.bidirectional:
                h = self.cfg.hidden_size
                last = torch.cat([last[:, :h], out[:, 0, h:]], dim=-1)
            pooled = last
        return self.norm(pooled)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, D) float, zero-padded after each clip's length; lengths: (B,) int64 or None (all T).
        Returns (B, C) logits."""
        logits, _ = self.forward_stream(x, lengths, hidden=None)
        return logits

    def forward_stream(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
        prev: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`forward`, but starting from ``hidden`` (layers*dirs, B, H) and returning the final
        hidden state too, so a live source can carry context from one window to the next."""
        b, t, _ = x.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long, device=x.device)
        z = self._inputs(x, prev)
        packed = pack_padded_sequence(z, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.gru(packed, hidden)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # (B, T, H*dirs)
        return self.classifier(self._pool(out, lengths)), h_n


class MeanHead(nn.Module):
    """Order-less baseline: the masked mean of frame embeddings, normalised, then a linear classifier."""

    def __init__(self, cfg: ClipModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.app_dim)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.app_dim, cfg.num_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = x[..., : self.cfg.app_dim]  # appearance only: motion descriptors encode order
        if lengths is None:
            pooled = x.mean(dim=1)
        else:
            mask = length_mask(lengths, x.shape[1]).unsqueeze(-1)
            pooled = (x * mask).sum(dim=1) / lengths.clamp(min=1).unsqueeze(-1)
        return self.classifier(self.norm(pooled))


def build_model(cfg: ClipModelConfig) -> nn.Module:
    return ClipGRU(cfg) if cfg.head == "gru" else MeanHead(cfg)


# ------------------------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class ClipCheckpoint:
    """Everything needed to rebuild and use a trained clip classifier: the model's hyper-parameters, class names,
    the embedder its inputs came from (:class:`~vidgru.types.EmbedderSpec`), the sampling it was trained with
    (:class:`~vidgru.types.Sampling`), the weights, and ``extra`` (training metrics). ``backbone`` and
    ``sampling`` may be given as dicts; they are stored as the typed records."""

    model: ClipModelConfig
    class_names: list[str]
    backbone: EmbedderSpec
    sampling: Sampling
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any]
    source: str = ""  # the file it was read from, for messages ("" when built in memory)

    def __post_init__(self) -> None:
        if isinstance(self.backbone, dict):
            object.__setattr__(self, "backbone", EmbedderSpec.from_dict(self.backbone))
        if isinstance(self.sampling, dict):
            object.__setattr__(self, "sampling", Sampling.from_dict(self.sampling))

    def build(self, device: str = "cpu") -> nn.Module:
        """The model with its weights, in eval mode on ``device``.

        Raises:
            CheckpointError: the weights do not fit the model the checkpoint describes (naming the file and the
                first mismatching tensor).
        """
        net = build_model(self.model)
        where = self.source or "checkpoint"
        check_tensors(where, self.state_dict, expected_shapes(net), what=f"{self.model.head} clip model")
        try:
            net.load_state_dict(self.state_dict)
        except (RuntimeError, TypeError, ValueError) as exc:
            first = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[-1].split())[:200]
            raise CheckpointError(f"cannot load model {where}: the weights do not fit the model ({first})") from None
        return net.eval().to(device)


def expected_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of ``net``'s state dict (what a checkpoint for it must hold)."""
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def save_checkpoint(path: str | Path, ckpt: ClipCheckpoint) -> None:
    """Write a clip classifier (:mod:`vidgru.checkpoint`'s convention: format-tagged, atomic)."""
    save_payload(path, {
        "model": asdict(ckpt.model),
        "class_names": list(ckpt.class_names),
        "backbone": ckpt.backbone.to_dict(),
        "sampling": ckpt.sampling.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "extra": ckpt.extra,
        "kind": "clip",
    }, format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION)


def load_checkpoint(path: str | Path) -> ClipCheckpoint:
    """Load with ``weights_only=True``. Raises :class:`CheckpointError` for anything that isn't one."""
    payload = load_payload(path, format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION, what="clip-classifier")
    where = f"cannot load model {path}"
    for key, kind in (("model", dict), ("class_names", list), ("backbone", dict), ("sampling", dict),
                      ("state_dict", dict)):
        if key not in payload:
            raise CheckpointError(f"{where}: incomplete checkpoint (no {key!r})")
        if not isinstance(payload[key], kind):
            raise CheckpointError(f"{where}: {key!r} is a {type(payload[key]).__name__}, expected a {kind.__name__}")
    try:
        known = {f.name for f in fields(ClipModelConfig)}
        model_cfg = ClipModelConfig(**{k: v for k, v in payload["model"].items() if k in known})
        ckpt = ClipCheckpoint(
            model=model_cfg,
            class_names=list(payload["class_names"]),
            backbone=EmbedderSpec.from_dict(payload["backbone"]),
            sampling=Sampling.from_dict(payload["sampling"]),
            state_dict=payload["state_dict"],
            extra=dict(payload.get("extra") or {}),
            source=str(path),
        )
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{where}: incomplete checkpoint ({' '.join(str(exc).split())[:200]})") from None
    names = ckpt.class_names
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise CheckpointError(f"{where}: class_names must be distinct non-empty names, got {names[:10]!r}")
    if len(names) != model_cfg.num_classes:
        raise CheckpointError(f"{where}: {len(names)} class names but the model has {model_cfg.num_classes} "
                              "outputs")
    if ckpt.backbone.embed_dim != model_cfg.embed_dim:
        raise CheckpointError(f"{where}: the backbone gives {ckpt.backbone.embed_dim}-d embeddings but the model "
                              f"reads {model_cfg.embed_dim}")
    for name in ("sample_fps", "window_s", "stride_s"):
        value = getattr(ckpt.sampling, name)
        if not (math.isfinite(value) and value > 0):
            raise CheckpointError(f"{where}: sampling {name} must be a finite number > 0, got {value}")
    with torch.device("meta"):  # shapes only: nothing allocated
        shapes = expected_shapes(build_model(model_cfg))
    check_tensors(path, ckpt.state_dict, shapes, what=f"{model_cfg.head} clip model")
    return ckpt
