"""Temporal models over frame embeddings, and their self-describing checkpoints.

A frame embedding is ``[appearance | motion]``: ``appearance_dim`` pooled backbone features, then (optionally)
the frame-pair motion descriptors of :mod:`vidgru.motion_features`.

``ClipGRU``: (B, T, D) embeddings -> projection + LayerNorm -> GRU -> pooling over time -> (B, C) logits.
``MeanHead``: the order-less baseline, (B, T, D) -> masked mean over T of the appearance part -> LayerNorm ->
(B, C) logits. It sees the same frames as the GRU, so the difference between the two is what temporal order
(and the motion between frames, which only makes sense in order) adds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from vidgru.choices import HEADS, POOLINGS
from vidgru.errors import CheckpointError, ConfigError

CHECKPOINT_FORMAT = "vidgru.clip-classifier"
CHECKPOINT_VERSION = 1



@dataclass(frozen=True)
class ClipModelConfig:
    """Hyper-parameters that rebuild a clip model exactly."""

    embed_dim: int
    num_classes: int
    head: str = "gru"
    proj_dim: int = 256
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = False
    pooling: str = "attention"
    dropout: float = 0.2
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
        if self.head not in HEADS:
            raise ConfigError(f"head: {self.head!r} is not one of {', '.join(HEADS)}")
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
    """Everything needed to rebuild and use a trained clip classifier.

    ``backbone`` is the embedder identity (name, weights id, embed_dim, spatial_grid); ``sampling`` holds
    ``sample_fps``, ``window_s`` and ``stride_s`` as trained; ``extra`` carries training metrics.
    """

    model: ClipModelConfig
    class_names: list[str]
    backbone: dict[str, Any]
    sampling: dict[str, float]
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any]

    def build(self, device: str = "cpu") -> nn.Module:
        net = build_model(self.model)
        net.load_state_dict(self.state_dict)
        return net.eval().to(device)


def save_checkpoint(path: str | Path, ckpt: ClipCheckpoint) -> None:
    """Write atomically (temporary name, then rename) so an interrupted save never leaves a broken file."""
    from vidgru import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "vidgru_version": __version__,
        "model": asdict(ckpt.model),
        "class_names": list(ckpt.class_names),
        "backbone": dict(ckpt.backbone),
        "sampling": dict(ckpt.sampling),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "extra": ckpt.extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> ClipCheckpoint:
    """Load with ``weights_only=True``. Raises :class:`CheckpointError` for anything that isn't one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot load model {path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, truncated files: all mean "not a checkpoint"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"cannot load model {path}: not a vidgru checkpoint ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"cannot load model {path}: not a vidgru clip-classifier checkpoint")
    version = payload.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"cannot load model {path}: checkpoint format version {version}, this vidgru reads {CHECKPOINT_VERSION}"
        )
    try:
        known = {f.name for f in fields(ClipModelConfig)}
        model_cfg = ClipModelConfig(**{k: v for k, v in payload["model"].items() if k in known})
        return ClipCheckpoint(
            model=model_cfg,
            class_names=list(payload["class_names"]),
            backbone=dict(payload["backbone"]),
            sampling=dict(payload["sampling"]),
            state_dict=payload["state_dict"],
            extra=dict(payload.get("extra", {})),
        )
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"cannot load model {path}: incomplete checkpoint ({exc})") from None
