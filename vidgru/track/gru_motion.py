"""The GRU state model: a learned filter that predicts and smooths every track's box.

For each live track, one GRU step per frame reads the *innovation* — where the matched detection is relative to
the box predicted for this frame, in units of that box's width and height, plus log size ratios — together with
whether there was a detection at all, its score and the time since the previous frame. From its hidden state it
outputs a correction to the prediction (the smoothed box for this frame, used in outputs) and a velocity (the
predicted box for the next frame, used by association). Everything is relative to the box itself, so the same
model serves any image size; the time step input lets it serve other frame rates.

Training (``vidgru.train.motion``) uses :class:`GruMotionNet` in PyTorch. Tracking uses :class:`GruBank`, which
runs the same equations in numpy for all live tracks at once: one batched step per frame, no per-track model
calls, and no PyTorch dispatch overhead on tiny matrices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.errors import CheckpointError
from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh

FORMAT = "vidgru.motion-model"
VERSION = 1
INPUT_DIM = 7  # innovation (4), observed flag, detection score, time step
MAX_LOG_SCALE = 0.5
MAX_INNOVATION = 3.0


@dataclass(frozen=True)
class GruMotionConfig:
    hidden_size: int = 64
    head_size: int = 64
    dt_scale: float = 10.0  # the time-step input is dt_s * dt_scale (so 1.0 at 10 frames/s)


def _import_torch():
    import torch
    from torch import nn

    return torch, nn


def build_net(config: GruMotionConfig):
    """The trainable PyTorch module (imports torch lazily)."""
    torch, nn = _import_torch()

    class GruMotionNet(nn.Module):
        """One step: ``x`` (N, 7), ``h`` (N, H) -> (gain (N, 4), bias (N, 4), velocity (N, 4), h' (N, H))."""

        def __init__(self, cfg: GruMotionConfig) -> None:
            super().__init__()
            self.cell = nn.GRUCell(INPUT_DIM, cfg.hidden_size)
            self.head = nn.Sequential(nn.Linear(cfg.hidden_size, cfg.head_size), nn.ReLU(),
                                      nn.Linear(cfg.head_size, 12))
            with torch.no_grad():  # start as "trust the detection, stand still"
                self.head[2].weight.mul_(0.1)
                self.head[2].bias.zero_()
                self.head[2].bias[:4] = 2.0

        def forward(self, x, h):
            h = self.cell(x, h)
            out = self.head(h)
            return torch.sigmoid(out[:, :4]), out[:, 4:8], out[:, 8:12], h

    return GruMotionNet(config)


def innovation_inputs(pred_cxcywh, obs_cxcywh, observed, scores, dt_s, dt_scale, xp=np):
    """The GRU's input (N, 7) from predicted and observed boxes (N, 4) cxcywh; works on numpy or torch (``xp``)."""
    w = pred_cxcywh[:, 2:3]
    h = pred_cxcywh[:, 3:4]
    d = xp.concatenate([
        (obs_cxcywh[:, 0:1] - pred_cxcywh[:, 0:1]) / w,
        (obs_cxcywh[:, 1:2] - pred_cxcywh[:, 1:2]) / h,
        xp.log(obs_cxcywh[:, 2:3] / w),
        xp.log(obs_cxcywh[:, 3:4] / h),
    ], 1)
    d = xp.clip(d, -MAX_INNOVATION, MAX_INNOVATION) * observed[:, None]
    return xp.concatenate([d, observed[:, None], scores[:, None] * observed[:, None], dt_s[:, None] * dt_scale], 1)


def apply_delta(box_cxcywh, delta, xp=np):
    """Move boxes (N, 4) cxcywh by ``delta`` (N, 4): centre shifts in box units, log size changes."""
    ds = xp.clip(delta[:, 2:4], -MAX_LOG_SCALE, MAX_LOG_SCALE)
    return xp.concatenate([
        box_cxcywh[:, 0:2] + delta[:, 0:2] * box_cxcywh[:, 2:4],
        box_cxcywh[:, 2:4] * xp.exp(ds),
    ], 1)


def filter_step(net, pred, obs, observed, scores, dt_s, h, dt_scale, xp=np):
    """One step of the learned filter, shared by training (torch) and the numpy bank.

    Returns (smoothed box for this frame, predicted box for the next frame, new hidden state), boxes cxcywh.
    """
    x = innovation_inputs(pred, obs, observed, scores, dt_s, dt_scale, xp)
    gain, bias, velocity, h = net(x, h)
    innovation = x[:, :4]
    smoothed = apply_delta(pred, gain * innovation + bias, xp)
    return smoothed, apply_delta(smoothed, velocity, xp), h


# ---------------------------------------------------------------------- checkpoints
@dataclass
class MotionCheckpoint:
    config: GruMotionConfig
    state_dict: dict
    extra: dict[str, Any] = field(default_factory=dict)  # training data, metrics, ...


def save_motion_checkpoint(path: str | Path, ckpt: MotionCheckpoint) -> None:
    torch, _ = _import_torch()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save({"format": FORMAT, "version": VERSION, "config": asdict(ckpt.config),
                "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()}, "extra": ckpt.extra}, tmp)
    tmp.replace(path)


def load_motion_checkpoint(path: str | Path) -> MotionCheckpoint:
    torch, _ = _import_torch()
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"motion model not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise CheckpointError(f"cannot read motion model {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path} is not a vidgru motion model (found {found!r}, expected {FORMAT!r})")
    if raw.get("version") != VERSION:
        raise CheckpointError(f"{path}: motion model version {raw.get('version')}, this vidgru reads {VERSION}")
    try:
        config = GruMotionConfig(**raw["config"])
    except TypeError as exc:
        raise CheckpointError(f"{path}: bad motion model config: {exc}") from None
    return MotionCheckpoint(config=config, state_dict=raw["state_dict"], extra=raw.get("extra", {}))


def default_motion_model_path() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "motion_gru.pt"


# ---------------------------------------------------------------------- numpy inference for the tracker
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class _NumpyNet:
    """The GRU cell and head of :func:`build_net` as numpy arrays: the same equations as nn.GRUCell."""

    def __init__(self, state_dict: dict) -> None:
        # float32, as in PyTorch: the same numbers, and half the time of float64 on these small products.
        g = {k: v.detach().cpu().float().numpy() if hasattr(v, "detach") else np.asarray(v, np.float32)
             for k, v in state_dict.items()}
        w_ih, w_hh = g["cell.weight_ih"].T, g["cell.weight_hh"].T  # (I, 3H), (H, 3H); gates r, z, n
        b_ih, b_hh = g["cell.bias_ih"], g["cell.bias_hh"]
        H = w_hh.shape[0]
        self.hidden_size = H
        # One product per step: [x | h] @ W gives r and z pre-activations (summed over x and h), and the
        # x and h parts of n separately (n needs r * (W_hn h + b_hn)).
        w = np.zeros((w_ih.shape[0] + H, 4 * H), dtype=np.float32)
        w[: w_ih.shape[0], : 2 * H] = w_ih[:, : 2 * H]
        w[w_ih.shape[0]:, : 2 * H] = w_hh[:, : 2 * H]
        w[: w_ih.shape[0], 2 * H: 3 * H] = w_ih[:, 2 * H:]
        w[w_ih.shape[0]:, 3 * H:] = w_hh[:, 2 * H:]
        self.w = w
        self.b = np.concatenate([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H:], b_hh[2 * H:]]).astype(np.float32)
        self.w1, self.b1 = g["head.0.weight"].T.copy(), g["head.0.bias"]
        self.w2, self.b2 = g["head.2.weight"].T.copy(), g["head.2.bias"]

    def __call__(self, x: np.ndarray, h: np.ndarray):
        H = self.hidden_size
        gates = np.concatenate([x, h], axis=1) @ self.w
        gates += self.b
        rz = _sigmoid(gates[:, : 2 * H])
        n = np.tanh(gates[:, 2 * H: 3 * H] + rz[:, :H] * gates[:, 3 * H:])
        h = n + rz[:, H:] * (h - n)  # (1 - z) * n + z * h
        hidden = h @ self.w1
        hidden += self.b1
        np.maximum(hidden, 0.0, out=hidden)
        out = hidden @ self.w2
        out += self.b2
        return _sigmoid(out[:, :4]), out[:, 4:8], out[:, 8:12], h

    def step(self, pred: np.ndarray, obs: np.ndarray, observed: np.ndarray, scores: np.ndarray, dt_s: float,
             h: np.ndarray, dt_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`filter_step` written out for numpy with few temporaries (it runs every frame)."""
        n = len(pred)
        size = pred[:, 2:4]
        x = np.empty((n, INPUT_DIM), dtype=np.float32)
        d = x[:, :4]
        np.subtract(obs[:, :2], pred[:, :2], out=d[:, :2])
        d[:, :2] /= size
        np.divide(obs[:, 2:4], size, out=d[:, 2:4])
        np.log(d[:, 2:4], out=d[:, 2:4])
        np.minimum(d, MAX_INNOVATION, out=d)  # (two ufuncs cost less than np.clip's wrapper)
        np.maximum(d, -MAX_INNOVATION, out=d)
        d *= observed[:, None]
        x[:, 4] = observed
        x[:, 5] = scores * observed
        x[:, 6] = dt_s * dt_scale
        gain, bias, velocity, h = self(x, h)
        smoothed = _move(pred, (gain * d + bias).astype(np.float64))
        nxt = _move(smoothed, velocity.astype(np.float64))
        np.maximum(nxt[:, 2:4], 1.0, out=nxt[:, 2:4])  # as in training: never a box under a pixel
        return smoothed, nxt, h


def _move(box: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """:func:`apply_delta` for numpy."""
    out = np.empty_like(box)
    out[:, :2] = box[:, :2] + delta[:, :2] * box[:, 2:4]
    out[:, 2:4] = box[:, 2:4] * np.exp(np.maximum(np.minimum(delta[:, 2:4], MAX_LOG_SCALE), -MAX_LOG_SCALE))
    return out


class GruBank:
    """GRU state model for N tracks, the tracker's ``motion`` (same interface as ``KalmanBank``).

    ``predict()`` returns the boxes predicted for the current frame; ``update(rows, boxes, scores, dt_s)`` runs
    one batched GRU step for *every* track (unobserved rows get "no detection" inputs) and computes the smoothed
    boxes (``boxes``) and next-frame predictions.
    """

    name = "gru"

    def __init__(self, checkpoint: MotionCheckpoint | str | Path | None = None, *, dt_s: float = 0.1) -> None:
        if checkpoint is None:
            checkpoint = default_motion_model_path()
        if not isinstance(checkpoint, MotionCheckpoint):
            checkpoint = load_motion_checkpoint(checkpoint)
        self.checkpoint = checkpoint
        self.net = _NumpyNet(checkpoint.state_dict)
        self.dt_scale = checkpoint.config.dt_scale
        H = self.net.hidden_size
        self.h = np.zeros((0, H), dtype=np.float32)
        self.pred = np.zeros((0, 4))  # cxcywh, for the current frame
        self.smoothed = np.zeros((0, 4))
        self.dt_s = dt_s  # until the tracker reports real frame times

    def __len__(self) -> int:
        return len(self.h)

    @property
    def boxes(self) -> np.ndarray:
        return cxcywh_to_xyxy(self.smoothed)

    def add(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        z = xyxy_to_cxcywh(boxes)
        z[:, 2:4] = np.maximum(z[:, 2:4], 1.0)
        k = len(z)
        h0 = np.zeros((k, self.net.hidden_size), dtype=np.float32)
        smoothed, pred, h = self.net.step(z, z, np.ones(k), np.asarray(scores, np.float64), self.dt_s, h0,
                                          self.dt_scale)
        self.h = np.concatenate([self.h, h])
        self.smoothed = np.concatenate([self.smoothed, smoothed])
        self.pred = np.concatenate([self.pred, pred])

    def keep(self, mask: np.ndarray) -> None:
        self.h, self.pred, self.smoothed = self.h[mask], self.pred[mask], self.smoothed[mask]

    def predict(self) -> np.ndarray:
        return cxcywh_to_xyxy(self.pred)

    def update(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, dt_s: float | None = None) -> None:
        n = len(self.h)
        if dt_s is not None and dt_s > 0:
            self.dt_s = dt_s
        if n == 0:
            return
        obs = self.pred.copy()
        observed = np.zeros(n)
        score = np.zeros(n)
        if len(rows):
            z = xyxy_to_cxcywh(boxes)
            z[:, 2:4] = np.maximum(z[:, 2:4], 1.0)
            obs[rows] = z
            observed[rows] = 1.0
            score[rows] = scores
        self.smoothed, self.pred, self.h = self.net.step(self.pred, obs, observed, score, self.dt_s, self.h,
                                                         self.dt_scale)
