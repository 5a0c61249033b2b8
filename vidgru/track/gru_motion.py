"""The GRU state model: a Kalman filter whose corrections are learned by a GRU, for every track at once.

Each track keeps a constant-velocity Kalman filter (:mod:`vidgru.track.kalman`) as its prior, and a GRU hidden
state. Every frame, after the filter's own update with the matched detection (or none), one GRU step reads

- the innovation: where the detection is relative to the box the filter predicted, in units of that box
  (centre shift / size, log size ratios), zero when there was no detection;
- whether there was a detection, its score, the time step, and the time since the track was last observed;
- the filter's velocity, in box sizes per frame;
- how much the track overlaps its nearest neighbour (largest IoU with another track's box), where wrong
  associations happen (``GruMotionConfig.crowd``);

and outputs a residual for the filter's position and one for its velocity (in box sizes), written back into
the filter state, plus the log scale of its next-frame prediction error (how sure it is). The residuals are
what the filter cannot model: turns, decelerations, the velocity right after an occlusion, a detector's
systematic offsets. The output layer starts at zero, so an untrained model *is* the Kalman filter, and training
moves it away only where that helps on the training data. Everything is relative to the box, so one model
serves every image size; the time-step input lets it serve other frame rates.

Training (``vidgru.train.motion``) unrolls :func:`filter_step` in PyTorch; tracking runs the same equations in
numpy for all live tracks in one batched step per frame (:class:`GruBank`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgru.checkpoint import check_tensors, load_payload, save_payload
from vidgru.errors import CheckpointError
from vidgru.paths import STATE_MODEL, shipped_model
from vidgru.settings import StateModelTrainSettings
from vidgru.track.association import box_likelihood, iou_matrix
from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from vidgru.track.kalman import STD_POSITION, STD_VELOCITY, kf_init, kf_predict, kf_update

FORMAT = "vidgru.motion-model"
VERSION = 2  # 1: a free-running GRU filter (no Kalman prior); not readable any more
INPUT_DIM = 12  # innovation (4), observed flag, score, time step, time unseen, filter velocity (4) [+ crowding]
OUTPUT_DIM = 12  # position residual (4), velocity residual (4), log error scale of the next prediction (4)
MAX_INNOVATION = 3.0  # inputs are clipped to this many box sizes
MAX_RESIDUAL = 0.5  # corrections are bounded to this many box sizes per frame
MAX_GAP_S = 3.0


@dataclass(frozen=True)
class GruMotionConfig:
    hidden_size: int = StateModelTrainSettings.hidden_size
    head_size: int = 64
    dt_scale: float = 10.0  # the time-step input is dt_s * dt_scale (so 1.0 at 10 frames/s)
    std_position: float = STD_POSITION  # the Kalman prior's noise (fractions of the box height per frame)
    std_velocity: float = STD_VELOCITY
    crowd: bool = True  # also read how much the track overlaps its nearest neighbour (max IoU)

    @property
    def input_dim(self) -> int:
        return INPUT_DIM + int(self.crowd)


def _import_torch():
    import torch
    from torch import nn

    return torch, nn


def build_net(config: GruMotionConfig):
    """The trainable PyTorch module (imports torch lazily)."""
    torch, nn = _import_torch()

    class GruMotionNet(nn.Module):
        """One step: ``x`` (N, 12), ``h`` (N, H) -> (residuals (N, 8), log error scale (N, 4), h' (N, H))."""

        def __init__(self, cfg: GruMotionConfig) -> None:
            super().__init__()
            self.cell = nn.GRUCell(cfg.input_dim, cfg.hidden_size)
            self.head = nn.Sequential(nn.Linear(cfg.hidden_size, cfg.head_size), nn.ReLU(),
                                      nn.Linear(cfg.head_size, OUTPUT_DIM))
            with torch.no_grad():  # start as the plain Kalman filter: no residuals
                self.head[2].weight[:8].zero_()
                self.head[2].bias.zero_()
                self.head[2].bias[8:] = -3.0


        def forward(self, x, h):
            h = self.cell(x, h)
            out = self.head(h)
            return out[:, :8], out[:, 8:], h

    return GruMotionNet(config)


def step_inputs(pred, z, observed, scores, dt_s, gap_s, vel, dt_scale: float, xp=np):
    """The GRU's input (N, 12) from the filter's predicted box ``pred`` and the detection ``z`` (N, 4) cxcywh,
    ``observed``, ``scores``, ``dt_s``, ``gap_s`` (N,: seconds since the last observation before this frame) and
    the filter velocity ``vel`` (N, 4) per frame."""
    size = xp.concatenate([pred[:, 2:4], pred[:, 2:4]], 1)
    innovation = xp.concatenate([(z[:, :2] - pred[:, :2]) / pred[:, 2:4], xp.log(z[:, 2:4] / pred[:, 2:4])], 1)
    innovation = xp.clip(innovation, -MAX_INNOVATION, MAX_INNOVATION) * observed[:, None]
    velocity = xp.clip(vel / size, -MAX_INNOVATION, MAX_INNOVATION)
    return xp.concatenate([innovation, observed[:, None], (scores * observed)[:, None], dt_s[:, None] * dt_scale,
                           xp.clip(gap_s, 0.0, MAX_GAP_S)[:, None], velocity], 1)


def filter_step(net, state, z, observed, scores, dt_s, gap_s, h, cfg: GruMotionConfig, xp=np, *,
                first: bool = False, crowd=None):
    """One frame of the learned filter, after the association: Kalman update with ``z`` where observed, the
    GRU's residuals, then the prediction for the next frame. Shared by training (torch) and :class:`GruBank`.

    Args:
        state: the filter (pos, vel, p_pp, p_pv, p_vv), predicted for this frame; pos is the predicted box.
        z: detections (N, 4) cxcywh (any value where not observed); observed, scores, dt_s, gap_s: (N,).
        h: GRU hidden state (N, H).
        first: the step of a new track, whose filter was just set to ``z`` (no Kalman update).
        crowd: (N,) the largest IoU of each track's box with another's (read when ``cfg.crowd``).

    Returns:
        (smoothed box for this frame (N, 4), next filter state, log error scale (N, 4), h'), boxes cxcywh.
    """
    pred = state[0]
    x = step_inputs(pred, z, observed, scores, dt_s, gap_s, state[1], cfg.dt_scale, xp)
    if cfg.crowd:
        x = xp.concatenate([x, crowd[:, None]], 1)
    pos, vel, p_pp, p_pv, p_vv = state if first else kf_update(*state, z, observed[:, None], cfg.std_position)
    residual, log_scale, h = net(x, h)
    residual = xp.clip(residual, -MAX_RESIDUAL, MAX_RESIDUAL)
    size = xp.concatenate([pos[:, 2:4], pos[:, 2:4]], 1)
    pos = pos + residual[:, :4] * size
    pos = xp.concatenate([pos[:, :2], xp.maximum(pos[:, 2:4], xp.ones_like(pos[:, 2:4]))], 1)
    vel = vel + residual[:, 4:] * size
    nxt = kf_predict(pos, vel, p_pp, p_pv, p_vv, cfg.std_position, cfg.std_velocity, xp)
    return pos, nxt, log_scale, h


# ---------------------------------------------------------------------- checkpoints
@dataclass
class MotionCheckpoint:
    config: GruMotionConfig
    state_dict: dict
    extra: dict[str, Any] = field(default_factory=dict)  # training data, metrics, ...


def save_motion_checkpoint(path: str | Path, ckpt: MotionCheckpoint) -> None:
    """Write a state model (:mod:`vidgru.checkpoint`'s convention: format-tagged, atomic)."""
    save_payload(path, {"config": asdict(ckpt.config),
                        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()}, "extra": ckpt.extra},
                 format=FORMAT, version=VERSION)


def load_motion_checkpoint(path: str | Path) -> MotionCheckpoint:
    """Read a state model. Raises CheckpointError for a missing, foreign, old or incomplete file."""
    raw = load_payload(path, format=FORMAT, version=VERSION, what="motion model",
                       hint="train a new one with `vidgru train-motion`")
    where = f"cannot load model {path}"
    if not isinstance(raw.get("config"), dict):
        raise CheckpointError(f"{where}: incomplete motion model checkpoint (no 'config' mapping)")
    try:
        config = GruMotionConfig(**raw["config"])
        state_dict = raw["state_dict"]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: incomplete motion model checkpoint ({' '.join(str(exc).split())[:200]})"
                              ) from None
    _check_config(where, config)
    check_tensors(path, state_dict, expected_shapes(config), what="motion model")
    extra = raw.get("extra")
    return MotionCheckpoint(config=config, state_dict=state_dict, extra=extra if isinstance(extra, dict) else {})


def _check_config(where: str, config: GruMotionConfig) -> None:
    """A config read from a file: sizes positive integers, scales finite and positive, ``crowd`` a bool."""
    for name in ("hidden_size", "head_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 16:
            raise CheckpointError(f"{where}: config {name} must be an integer between 1 and 65536, got {value!r}")
    for name in ("dt_scale", "std_position", "std_velocity"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0):
            raise CheckpointError(f"{where}: config {name} must be a finite number > 0, got {value!r}")
    if not isinstance(config.crowd, bool):
        raise CheckpointError(f"{where}: config crowd must be true or false, got {config.crowd!r}")


def expected_shapes(config: GruMotionConfig) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the state dict of :func:`build_net` for ``config`` (without building it)."""
    h, k = config.hidden_size, config.head_size
    return {"cell.weight_ih": (3 * h, config.input_dim), "cell.weight_hh": (3 * h, h), "cell.bias_ih": (3 * h,),
              "cell.bias_hh": (3 * h,), "head.0.weight": (k, h), "head.0.bias": (k,),
              "head.2.weight": (OUTPUT_DIM, k), "head.2.bias": (OUTPUT_DIM,)}


def default_motion_model_path() -> Path:
    """The state model shipped in the package (``vidgru track --state-model gru`` without a file)."""
    return shipped_model(STATE_MODEL)


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
        gates = np.concatenate([x.astype(np.float32), h], axis=1) @ self.w
        gates += self.b
        rz = _sigmoid(gates[:, : 2 * H])
        n = np.tanh(gates[:, 2 * H: 3 * H] + rz[:, :H] * gates[:, 3 * H:])
        h = n + rz[:, H:] * (h - n)  # (1 - z) * n + z * h
        hidden = h @ self.w1
        hidden += self.b1
        np.maximum(hidden, 0.0, out=hidden)
        out = hidden @ self.w2
        out += self.b2
        return out[:, :8].astype(np.float64), out[:, 8:].astype(np.float64), h


class GruBank:
    """GRU state model for N tracks, the tracker's ``motion`` (same interface as ``KalmanBank``).

    ``predict()`` returns the boxes predicted for the current frame; ``update(rows, boxes, scores, dt_s)`` runs
    one batched filter step for *every* track (unobserved rows get "no detection" inputs) and computes the
    smoothed boxes (``boxes``), the next-frame predictions and their error scale (``log_scale``).
    """

    name = "gru"

    def __init__(self, checkpoint: MotionCheckpoint | str | Path | None = None, *, dt_s: float = 0.1) -> None:
        if checkpoint is None:
            checkpoint = default_motion_model_path()
        if not isinstance(checkpoint, MotionCheckpoint):
            checkpoint = load_motion_checkpoint(checkpoint)  # checked there, naming the file
        else:
            check_tensors("(state model given in memory)", checkpoint.state_dict, expected_shapes(checkpoint.config),
                          what="motion model")
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.net = _NumpyNet(checkpoint.state_dict)
        self.h = np.zeros((0, self.net.hidden_size), dtype=np.float32)
        self.state = tuple(np.zeros((0, 4)) for _ in range(5))  # the filter, predicted for the current frame
        self.smoothed = np.zeros((0, 4))
        self.log_scale = np.zeros((0, 4))
        self.unseen_s = np.zeros(0)
        self._predicted_xyxy = np.zeros((0, 4))
        self.dt_s = dt_s  # until the tracker reports real frame times

    def __len__(self) -> int:
        return len(self.h)

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) xyxy smoothed boxes of the last update."""
        return cxcywh_to_xyxy(self.smoothed)

    @property
    def spread(self) -> np.ndarray:
        """(N, 4) the model's own error scale for the current prediction (Laplace scales of the centre shift in
        box units and of the log size ratios), as the association reads it."""
        return np.exp(self.log_scale)

    @property
    def pred(self) -> np.ndarray:
        """(N, 4) cxcywh boxes predicted for the current frame."""
        return self.state[0]

    def likelihood(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(K, M) how well each detection ``boxes`` (M, 4) xyxy fits the prediction of each track ``rows`` (K,)
        under the model's own error scale (:func:`box_likelihood`); scores unused."""
        return box_likelihood(self._predicted_xyxy[rows] if len(self._predicted_xyxy) == len(self.h)
                              else cxcywh_to_xyxy(self.state[0][rows]), self.spread[rows], boxes)

    def add(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        z = xyxy_to_cxcywh(boxes)
        z[:, 2:4] = np.maximum(z[:, 2:4], 1.0)
        k = len(z)
        cfg = self.config
        state = kf_init(z, cfg.std_position, cfg.std_velocity)
        h0 = np.zeros((k, self.net.hidden_size), dtype=np.float32)
        crowd = None
        if cfg.crowd:  # against the tracks already here and each other
            crowd = self._crowd(np.concatenate([self.state[0], z]))[len(self.h):]
        smoothed, state, log_scale, h = filter_step(
            self.net, state, z, np.ones(k), np.asarray(scores, np.float64), np.full(k, self.dt_s), np.zeros(k), h0,
            cfg, first=True, crowd=crowd)
        self.h = np.concatenate([self.h, h])
        self.state = tuple(np.concatenate([a, b]) for a, b in zip(self.state, state))
        self.smoothed = np.concatenate([self.smoothed, smoothed])
        self.log_scale = np.concatenate([self.log_scale, log_scale])
        self.unseen_s = np.concatenate([self.unseen_s, np.zeros(k)])
        self._predicted_xyxy = np.zeros((0, 4))

    def keep(self, mask: np.ndarray) -> None:
        self.h, self.smoothed, self.log_scale = self.h[mask], self.smoothed[mask], self.log_scale[mask]
        self.state = tuple(a[mask] for a in self.state)
        self.unseen_s = self.unseen_s[mask]
        self._predicted_xyxy = np.zeros((0, 4))

    def predict(self) -> np.ndarray:
        self._predicted_xyxy = cxcywh_to_xyxy(self.state[0])  # reused by update() for the crowding input
        return self._predicted_xyxy

    def update(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, dt_s: float | None = None) -> None:
        n = len(self.h)
        if dt_s is not None and dt_s > 0:
            self.dt_s = dt_s
        if n == 0:
            return
        z = self.state[0].copy()
        observed = np.zeros(n)
        score = np.zeros(n)
        if len(rows):
            zr = xyxy_to_cxcywh(boxes)
            zr[:, 2:4] = np.maximum(zr[:, 2:4], 1.0)
            z[rows] = zr
            observed[rows] = 1.0
            score[rows] = scores
        gap_s = self.unseen_s + self.dt_s  # time since the track was last observed, at this frame
        crowd = None
        if self.config.crowd:
            crowd = self._crowd(self.state[0], self._predicted_xyxy if len(self._predicted_xyxy) == n else None)
        self._predicted_xyxy = np.zeros((0, 4))  # the state moves on: predict() converts again
        self.smoothed, self.state, self.log_scale, self.h = filter_step(
            self.net, self.state, z, observed, score, np.full(n, self.dt_s), gap_s, self.h, self.config, crowd=crowd)
        self.unseen_s = np.where(observed > 0, 0.0, gap_s)

    @staticmethod
    def _crowd(boxes_cxcywh: np.ndarray, boxes_xyxy: np.ndarray | None = None) -> np.ndarray:
        """(N,) each box's largest IoU with another box of ``boxes_cxcywh`` (N, 4): 0 for a track alone.
        ``boxes_xyxy``: the same boxes as corners, when already at hand."""
        xyxy = cxcywh_to_xyxy(boxes_cxcywh) if boxes_xyxy is None else boxes_xyxy
        iou = iou_matrix(xyxy, xyxy)
        np.fill_diagonal(iou, 0.0)
        return iou.max(1) if len(iou) else np.zeros(0)
