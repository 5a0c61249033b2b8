"""Training the GRU state model on MOTChallenge-format ground truth.

Each ground-truth trajectory becomes a sequence of (true box, observation) pairs. Where the sequence has
det/det.txt, observations are its *real* detections matched to the true boxes frame by frame (IoU >= 0.5,
Hungarian), so the model learns the detector's real noise and misses; where it has none (DanceTrack's training
ground truth here), a detector is simulated from the truth: noise in proportion to the box with a heavy tail,
independent misses. On top of that, training windows get runs of missed frames (occlusions), lower frame rates
(frame skipping), and — where the true box overlaps another person's — runs in which the track is fed that
other box (a wrong association). Windows are balanced across data sets (each DATA folder is one). The model is
unrolled over each window exactly as the tracker runs it, and learns to predict the next frame's true box, to
smooth the current one, and the scale of its own prediction errors. Sequences are split whole: a validation
sequence is never seen in training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from vidgru.errors import ConfigError, DatasetError
from vidgru.settings import StateModelTrainSettings
from vidgru.track.association import assign, iou_matrix
from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from vidgru.track.gru_motion import GruMotionConfig, MotionCheckpoint, build_net, filter_step
from vidgru.track.kalman import kf_init

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrajectorySet:
    """The trajectories of one sequence. Arrays are per trajectory, over its frames first..last:
    ``truth`` (T, 4) cxcywh (NaN where the ground truth has no box), ``obs`` (T, 4) cxcywh matched detection,
    ``observed`` (T,) bool, ``scores`` (T,) float. ``dataset`` names the data set the sequence belongs to
    (training windows are balanced across data sets); ``has_detections`` is false for ground truth alone, whose
    observations are then simulated from the truth."""

    name: str
    fps: float
    truth: list[np.ndarray]
    obs: list[np.ndarray]
    observed: list[np.ndarray]
    scores: list[np.ndarray]
    dataset: str = ""
    has_detections: bool = True
    crowd: list[np.ndarray] = field(default_factory=list)  # (T,) largest IoU of the true box with another's
    neighbor: list[np.ndarray] = field(default_factory=list)  # (T, 4) cxcywh that other box (NaN: none)


FRAME_RANGES = ("all", "first-half")


def load_trajectories(seq_dir: str | Path, *, dataset: str = "", frames: str = "all", min_match_iou: float = 0.5,
                      min_length: int = 5) -> TrajectorySet:
    """Ground-truth trajectories of a MOTChallenge sequence dir (seqinfo.ini, gt/gt.txt and, when there is
    one, det/det.txt), each paired with the sequence's own detections (Hungarian match, IoU >= ``min_match_iou``).
    Without det.txt the set is marked ``has_detections=False`` and training simulates a detector.

    MOT17-style ground truth (class and visibility columns, also DanceTrack) keeps pedestrians (class 1) only;
    rows with flag 0 are dropped. ``frames="first-half"`` keeps frames 1 .. seqLength // 2 (the training half of
    the MOT17 "val-half" protocol).
    """
    from vidgru.mot import gt_format, open_mot_sequence, read_mot_txt

    if frames not in FRAME_RANGES:
        raise DatasetError(f"frames must be one of {', '.join(FRAME_RANGES)}, got {frames!r}")
    seq = open_mot_sequence(seq_dir)  # DatasetError for a missing or bad seqinfo.ini (the frame rate is needed)
    if seq.gt_path is None:
        raise DatasetError(f"{seq.path}: missing gt/gt.txt")
    gt = read_mot_txt(seq.gt_path, min_columns=7)
    gt = gt[gt[:, 6] != 0]  # flag 0: ignore regions
    if gt_format(gt) == "MOT17":
        gt = gt[gt[:, 7] == 1]  # pedestrians
    det = read_mot_txt(seq.det_path, min_columns=7) if seq.det_path is not None else np.zeros((0, 7))
    if frames == "first-half":
        if not seq.length:
            raise DatasetError(f"{seq.path}: the sequence length (seqLength) is needed to cut its first half")
        half = seq.length // 2
        gt, det = gt[gt[:, 0] <= half], det[det[:, 0] <= half]
    fps, seq_dir = seq.fps, Path(seq.path)

    def to_xyxy(r):
        return np.c_[r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]]

    # Match detections to ground truth frame by frame.
    match_box = np.full((len(gt), 4), np.nan)
    match_score = np.zeros(len(gt))
    det_by_frame = {int(f): np.flatnonzero(det[:, 0] == f) for f in np.unique(det[:, 0])}
    for f in np.unique(gt[:, 0]) if len(det) else ():
        gi = np.flatnonzero(gt[:, 0] == f)
        di = det_by_frame.get(int(f))
        if di is None or len(di) == 0:
            continue
        m, _, _ = assign(iou_matrix(to_xyxy(gt[gi]), to_xyxy(det[di])), min_match_iou)
        match_box[gi[m[:, 0]]] = to_xyxy(det[di[m[:, 1]]])
        match_score[gi[m[:, 0]]] = det[di[m[:, 1]], 6]

    # Each true box's nearest neighbour in its frame (largest IoU with another true box).
    crowd_row = np.zeros(len(gt))
    neighbor_row = np.full((len(gt), 4), np.nan)
    gt_xyxy = to_xyxy(gt)
    for f in np.unique(gt[:, 0]):
        gi = np.flatnonzero(gt[:, 0] == f)
        if len(gi) < 2:
            continue
        iou = iou_matrix(gt_xyxy[gi], gt_xyxy[gi])
        np.fill_diagonal(iou, 0.0)
        best = iou.argmax(1)
        crowd_row[gi] = iou[np.arange(len(gi)), best]
        neighbor_row[gi] = gt_xyxy[gi[best]]
    has_nb = crowd_row > 0
    neighbor_row[has_nb] = xyxy_to_cxcywh(neighbor_row[has_nb])
    neighbor_row[~has_nb] = np.nan

    truth, obs, observed, scores, crowd, neighbor = [], [], [], [], [], []
    for tid in np.unique(gt[:, 1]):
        rows = np.flatnonzero(gt[:, 1] == tid)
        rows = rows[np.argsort(gt[rows, 0])]
        frames_of = gt[rows, 0].astype(int)
        length = frames_of[-1] - frames_of[0] + 1
        if length < min_length:
            continue
        at = frames_of - frames_of[0]
        t = np.full((length, 4), np.nan)
        t[at] = xyxy_to_cxcywh(to_xyxy(gt[rows]))
        o = np.full((length, 4), np.nan)
        seen = ~np.isnan(match_box[rows, 0])
        o[at[seen]] = xyxy_to_cxcywh(match_box[rows[seen]])
        s = np.zeros(length)
        s[at[seen]] = match_score[rows[seen]]
        c = np.zeros(length)
        c[at] = crowd_row[rows]
        nb = np.full((length, 4), np.nan)
        nb[at] = neighbor_row[rows]
        truth.append(t)
        obs.append(o)
        observed.append(~np.isnan(o[:, 0]))
        scores.append(s)
        crowd.append(c)
        neighbor.append(nb)
    if not truth:
        raise DatasetError(f"{seq_dir}: no usable ground-truth trajectories")
    return TrajectorySet(seq_dir.name, fps, truth, obs, observed, scores, dataset=dataset or seq_dir.parent.name,
                         has_detections=seq.det_path is not None, crowd=crowd, neighbor=neighbor)


SPLIT_NAMES = ("train", "val", "test", "val_half", "train_half")


def dataset_name(root: str | Path) -> str:
    """The data set a folder of sequences stands for: its name, or ``parent-name`` for a split folder
    (``dancetrack/train`` -> ``dancetrack-train``); a single sequence folder is named after its parent."""
    from vidgru.mot import is_mot_sequence

    root = Path(root).resolve()
    if is_mot_sequence(root):
        root = root.parent
    return f"{root.parent.name}-{root.name}" if root.name in SPLIT_NAMES else root.name


def _matches(name: str, patterns: Sequence[str]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(name, p) for p in patterns)


def load_training_sequences(roots: Sequence[str | Path], *, val: Sequence[str] = (), exclude: Sequence[str] = (),
                            first_half: Sequence[str] = ()) -> tuple[list[TrajectorySet], list[TrajectorySet]]:
    """Trajectories of every sequence with ground truth under ``roots`` (split folders or sequence folders),
    as (training sets, validation sets). Each root is one data set (:func:`dataset_name`). ``val``, ``exclude``
    and ``first_half`` are sequence names or glob patterns: held out for validation, not used, cut to their
    first half. Sequences with det/det.txt pair the truth with their real detections; the others are trained
    with simulated detections.

    Raises:
        DatasetError: no sequence with ground truth, a ``val`` pattern that matches nothing, or every sequence
            held out.
    """
    from vidgru.mot import find_mot_sequences

    train, held = [], []
    for root in roots:
        name = dataset_name(root)
        for seq in find_mot_sequences(root):
            if seq.gt_path is None or _matches(seq.name, exclude):
                continue
            frames = "first-half" if _matches(seq.name, first_half) else "all"
            ts = load_trajectories(seq.path, dataset=name, frames=frames)
            (held if _matches(seq.name, val) else train).append(ts)
    if not train and not held:
        raise DatasetError(f"no MOTChallenge sequences with gt/gt.txt under {', '.join(map(str, roots))}")
    unmatched = [p for p in val if not any(_matches(t.name, [p]) for t in held)]
    if unmatched:
        raise DatasetError(f"--val: no sequence matches {', '.join(unmatched)}")
    if not train:
        raise DatasetError("every sequence is held out; nothing left to train on")
    return train, held


@dataclass(frozen=True)
class MotionTrainConfig:
    window: int = StateModelTrainSettings.window  # frames per training window (after frame skipping)
    batch_size: int = StateModelTrainSettings.batch_size
    steps: int = StateModelTrainSettings.steps
    lr: float = StateModelTrainSettings.lr
    weight_decay: float = 1e-4
    max_stride: int = 3  # windows are also drawn at every 2nd/3rd frame: lower frame rates
    jitter: float = 0.04  # extra box noise on real detections, up to this fraction of the box size (std)
    sim_jitter: tuple[float, float] = (0.01, 0.08)  # simulated detections: noise std range (log-uniform)
    sim_miss: float = 0.15  # simulated detections: per-window miss rate drawn from 0 .. this
    drop_run_rate: float = 0.04  # chance per frame that an occlusion (a run of misses) starts
    max_drop_s: float = 1.0
    synthetic_share: float = 0.3  # windows whose observations are the truth plus noise, not real detections
    swap_share: float = 0.3  # windows where, while two people overlap, the track is fed the other one for a while
    max_swap_s: float = 0.5
    dataset_weights: tuple[tuple[str, float], ...] = ()  # (data set, weight); unnamed data sets weigh 1
    seed: int = StateModelTrainSettings.seed


def _pick_weights(sets: Sequence[TrajectorySet], cfg: MotionTrainConfig) -> tuple[list, np.ndarray]:
    """Trajectories and their sampling probabilities: by length within a data set, each data set getting its
    weight's share of all windows (so a large data set does not drown a small one)."""
    items = [(si, ti) for si, s in enumerate(sets) for ti in range(len(s.truth))]
    lengths = np.array([len(sets[si].truth[ti]) for si, ti in items], dtype=np.float64)
    datasets = [sets[si].dataset for si, _ in items]
    named = dict(cfg.dataset_weights)
    probs = np.zeros(len(items))
    for name in set(datasets):
        mine = np.array([d == name for d in datasets])
        probs[mine] = named.get(name, 1.0) * lengths[mine] / lengths[mine].sum()
    if probs.sum() <= 0:
        raise DatasetError("every data set has weight 0")
    return items, probs / probs.sum()


@dataclass
class TrainingWindows:
    """A batch of B state-model training windows of W frames (float64 arrays; boxes cxcywh pixels): the true
    boxes ``truth`` (B, W, 4) where ``valid`` (B, W) is 1, what the tracker saw ``obs`` (B, W, 4) where
    ``observed`` (B, W) is 1 with detector ``scores`` (B, W), the time step ``dt_s`` (B, W) and ``crowd``
    (B, W), the track's largest IoU with another true box."""

    truth: np.ndarray
    obs: np.ndarray
    observed: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    dt_s: np.ndarray
    crowd: np.ndarray
    cand: np.ndarray  # (B, W, C, 4) candidate detections per frame: the track's own, then others' (evaluation)
    cand_scores: np.ndarray  # (B, W, C)
    cand_valid: np.ndarray  # (B, W, C)

    @classmethod
    def zeros(cls, n: int, window: int) -> TrainingWindows:
        return cls(np.zeros((n, window, 4)), np.zeros((n, window, 4)),
                   *(np.zeros((n, window)) for _ in range(5)), np.ones((n, window, N_CANDIDATES, 4)),
                   np.zeros((n, window, N_CANDIDATES)), np.zeros((n, window, N_CANDIDATES)))


N_CANDIDATES = 3  # the track's own detection, its nearest neighbour's, a displaced box


def sample_windows(sets: Sequence[TrajectorySet], n: int, cfg: MotionTrainConfig, rng: np.random.Generator, *,
                   candidates: bool = False) -> TrainingWindows:
    """Draw ``n`` corrupted training windows of ``cfg.window`` frames. With ``candidates``, also each frame's
    candidate detections for evaluating association (``cand``: the track's own, its nearest neighbour's, a
    displaced box), drawn from a generator of their own so that the windows are the same either way."""
    cand_rng = np.random.default_rng(1) if candidates else None
    W = cfg.window
    out = TrainingWindows.zeros(n, W)
    items, probs = _pick_weights(sets, cfg)
    picks = rng.choice(len(items), size=n, p=probs)
    lo, hi = np.log(cfg.sim_jitter[0]), np.log(cfg.sim_jitter[1])
    for b, k in enumerate(picks):
        s = sets[items[k][0]]
        ti = items[k][1]
        stride = int(rng.integers(1, cfg.max_stride + 1))
        truth = s.truth[ti][::stride]
        synthetic = not s.has_detections or rng.random() < cfg.synthetic_share
        if synthetic:  # a simulated detector: every true box seen, then noise and misses below
            obs = truth.copy()
            observed = ~np.isnan(truth[:, 0])
            scores = np.where(observed, rng.uniform(0.5, 1.0, len(truth)), 0.0)
        else:
            obs = s.obs[ti][::stride].copy()
            observed = s.observed[ti][::stride].copy()
            scores = s.scores[ti][::stride].copy()
        starts = np.flatnonzero(observed)
        if len(starts) == 0:  # (rare) a trajectory the detector never saw: use the truth as observations
            obs, observed = truth.copy(), ~np.isnan(truth[:, 0])
            scores = observed * 0.5
            starts = np.flatnonzero(observed)
        start = int(rng.choice(starts[: max(1, len(starts) - 3)]))
        sl = slice(start, start + W)
        m = len(truth[sl])
        t, o, ob, sc = truth[sl], obs[sl].copy(), observed[sl].copy(), scores[sl].copy()
        cr = s.crowd[ti][::stride][sl] if s.crowd else np.zeros(m)
        nb = s.neighbor[ti][::stride][sl] if s.neighbor else np.full((m, 4), np.nan)
        size = np.nan_to_num(o[:, 2:4], nan=1.0)
        if synthetic:
            # Detector-like noise in proportion to the box: a mix of tight and loose boxes (log-uniform), with
            # a heavy tail (a few boxes much further off), and independent misses besides the occlusion runs.
            sigma = np.exp(rng.uniform(lo, hi))
            noise = np.clip(rng.standard_t(4, (m, 4)) * sigma / np.sqrt(2.0), -0.5, 0.5)
            ob &= rng.random(m) >= rng.uniform(0.0, cfg.sim_miss)
        else:
            sigma = rng.uniform(0, cfg.jitter)
            noise = rng.normal(0, sigma, (m, 4))
        o[:, :2] += noise[:, :2] * size
        o[:, 2:4] *= np.exp(noise[:, 2:4])
        fps = s.fps / stride
        if cand_rng is not None:
            _add_candidates(out, b, t, o, ob, sc, nb, sigma, synthetic, cand_rng)
        close = np.flatnonzero((cr > 0.3) & ~np.isnan(nb[:, 0]))
        close = close[close >= 2]
        if cfg.swap_share > 0 and len(close) and rng.random() < cfg.swap_share:
            # A wrong association where two people overlap: for a short run the track is fed its neighbour's box
            # (with detector noise), and must not follow it.
            at = int(rng.choice(close))
            run = int(rng.integers(1, max(2, int(cfg.max_swap_s * fps)) + 1))
            idx = np.arange(at, min(m, at + run))
            idx = idx[~np.isnan(nb[idx, 0])]
            o[idx] = nb[idx]
            o[idx, :2] += noise[idx, :2] * nb[idx, 2:4]
            o[idx, 2:4] *= np.exp(noise[idx, 2:4])
        # Occlusions: runs of missed frames (never the first).
        i = 1
        while i < m:
            if rng.random() < cfg.drop_run_rate:
                run = int(rng.integers(1, max(2, int(cfg.max_drop_s * fps)) + 1))
                ob[i:i + run] = False
                i += run
            i += 1
        ob[0] = True
        o[~ob] = 0.0
        sc[~ob] = 0.0
        out.truth[b, :m] = np.nan_to_num(t, nan=0.0)
        out.valid[b, :m] = ~np.isnan(t[:, 0])
        out.obs[b, :m] = np.nan_to_num(o, nan=0.0)
        out.observed[b, :m] = ob
        out.scores[b, :m] = sc
        out.dt_s[b, :] = stride / s.fps
        out.crowd[b, :m] = np.nan_to_num(cr)
        out.obs[b, m:] = out.obs[b, m - 1]  # padding; not scored (valid=0)
    return out


def _add_candidates(out: TrainingWindows, b: int, t: np.ndarray, o: np.ndarray, ob: np.ndarray, sc: np.ndarray,
                    nb: np.ndarray, sigma: float, synthetic: bool, rng: np.random.Generator) -> None:
    """Window ``b``'s candidate detections per frame: the track's own detection (as the tracker would see it, before
    wrong associations and misses; where the detector missed it, the truth with detector noise), its nearest
    neighbour's true box with detector noise, and a box displaced by a quarter to one box size in a random
    direction. ``t``, ``o``: true and observed boxes (m, 4) cxcywh; ``ob``, ``sc``: observed flags and scores;
    ``nb``: the neighbour's true box (NaN: none)."""
    m = len(t)
    t_ok = ~np.isnan(t[:, 0])
    tt = np.nan_to_num(t, nan=1.0)
    own = np.where(ob[:, None], np.nan_to_num(o, nan=1.0), _noisy(tt, 0.04, rng))
    nb_ok = ~np.isnan(nb[:, 0])
    other = _noisy(np.nan_to_num(nb, nan=1.0), max(sigma, 0.02), rng)
    angle = rng.uniform(0, 2 * np.pi, m)
    dist = rng.uniform(0.25, 1.0, m)
    far = tt.copy()
    far[:, 0] += np.cos(angle) * dist * tt[:, 2]
    far[:, 1] += np.sin(angle) * dist * tt[:, 3]
    far[:, 2:4] *= np.exp(rng.normal(0, 0.15, (m, 2)))
    out.cand[b, :m] = np.stack([own, other, far], 1)
    out.cand_valid[b, :m] = np.stack([t_ok, t_ok & nb_ok, t_ok], 1)
    own_score = np.where(ob, sc, rng.uniform(0.5, 1.0, m)) if not synthetic else rng.uniform(0.5, 1.0, m)
    out.cand_scores[b, :m] = np.stack([own_score, rng.uniform(0.3, 1.0, m), rng.uniform(0.3, 1.0, m)], 1)


def _noisy(boxes: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """cxcywh ``boxes`` (N, 4) with detector-like noise of ``sigma`` box sizes."""
    noise = rng.normal(0, sigma, boxes.shape)
    out = boxes.copy()
    out[:, :2] += noise[:, :2] * boxes[:, 2:4]
    out[:, 2:4] *= np.exp(noise[:, 2:4])
    return out


def unroll(net, batch: TrainingWindows, config: GruMotionConfig, dtype=None):
    """Run the filter over windows as the tracker would. Returns smoothed boxes (B, W, 4), next-frame predictions
    (B, W, 4) and their log error scales (B, W, 4), as torch tensors (cxcywh) of ``dtype`` (float32 unless
    given; the net's parameters must have the same dtype)."""
    import torch

    dtype = dtype or torch.float32
    tensors = {f.name: torch.as_tensor(getattr(batch, f.name), dtype=dtype) for f in fields(batch)}
    obs, observed, scores, dt = tensors["obs"], tensors["observed"], tensors["scores"], tensors["dt_s"]
    B, W = observed.shape
    h = torch.zeros(B, net.cell.hidden_size, dtype=dtype)
    first = torch.cat([obs[:, 0, :2], obs[:, 0, 2:].clamp_min(1.0)], 1)
    state = kf_init(first, config.std_position, config.std_velocity, xp=torch)
    gap = torch.zeros(B, dtype=dtype)
    smoothed_all, pred_all, scale_all = [], [], []
    for t in range(W):
        z = torch.cat([obs[:, t, :2], obs[:, t, 2:].clamp_min(1.0)], 1)
        z = torch.where(observed[:, t:t + 1] > 0, z, state[0])
        smoothed, state, log_scale, h = filter_step(net, state, z, observed[:, t], scores[:, t], dt[:, t], gap, h,
                                                    config, xp=torch, first=t == 0, crowd=tensors["crowd"][:, t])
        gap = torch.where(observed[:, t] > 0, torch.zeros_like(gap), gap) + dt[:, t]
        smoothed_all.append(smoothed)
        pred_all.append(state[0])
        scale_all.append(log_scale)
    return torch.stack(smoothed_all, 1), torch.stack(pred_all, 1), torch.stack(scale_all, 1)


def _box_residuals(a, b):
    """(N, 4) errors of cxcywh boxes ``a`` against true boxes ``b``: centre shift in units of the true box, log
    size ratios."""
    import torch

    return torch.stack([(a[:, 0] - b[:, 0]) / b[:, 2], (a[:, 1] - b[:, 1]) / b[:, 3],
                        torch.log(a[:, 2] / b[:, 2]), torch.log(a[:, 3] / b[:, 3])], 1)


def window_loss(net, batch: TrainingWindows, config: GruMotionConfig, scale_weight: float = 0.1):
    """L1 box error of the smoothed boxes and of the next-frame predictions against the truth, plus the Laplace
    negative log-likelihood of the prediction errors under the predicted error scales (which trains the scales
    only: the prediction is held fixed in that term)."""
    import torch

    smoothed, pred, log_scale = unroll(net, batch, config)
    truth = torch.as_tensor(batch.truth, dtype=torch.float32)
    valid = torch.as_tensor(batch.valid, dtype=torch.float32)
    safe = torch.where(valid[..., None] > 0, truth, torch.ones_like(truth))
    e_smooth = _box_residuals(smoothed.reshape(-1, 4), safe.reshape(-1, 4)).abs().sum(1).reshape(valid.shape)
    nxt_valid = valid[:, 1:]
    r_pred = _box_residuals(pred[:, :-1].reshape(-1, 4), safe[:, 1:].reshape(-1, 4)).abs()
    e_pred = r_pred.sum(1).reshape(nxt_valid.shape)
    ls = log_scale[:, :-1].reshape(-1, 4)
    nll = (r_pred.detach() * torch.exp(-ls) + ls).sum(1).reshape(nxt_valid.shape)
    n_s, n_p = valid.sum().clamp_min(1), nxt_valid.sum().clamp_min(1)
    return ((e_smooth * valid).sum() / n_s + (e_pred * nxt_valid).sum() / n_p
            + scale_weight * (nll * nxt_valid).sum() / n_p)


def prediction_iou(smoothed: np.ndarray, pred: np.ndarray, batch: TrainingWindows) -> dict[str, float]:
    """Mean IoU of smoothed boxes with the truth, and of next-frame predictions with the next truth, over
    valid frames; also over frames right after a miss (where prediction matters most)."""
    truth, valid, observed = batch.truth, batch.valid > 0, batch.observed > 0

    def ious(a, b):
        a, b = cxcywh_to_xyxy(a), cxcywh_to_xyxy(b)
        iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
        inter = iw * ih
        return inter / ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)

    s = ious(smoothed[valid], truth[valid])
    nv = valid[:, 1:]
    p = ious(pred[:, :-1][nv], truth[:, 1:][nv])
    missed = (~observed[:, 1:])[nv]
    return {"smoothed_iou": float(s.mean()), "predicted_iou": float(p.mean()),
            "predicted_iou_missed": float(p[missed].mean()) if missed.any() else float("nan")}


def _candidate_likelihood(pred: np.ndarray, spread: np.ndarray, batch: TrainingWindows) -> np.ndarray:
    """(B, W - 1, C) the error-scale likelihood of each next-frame candidate under the predictions ``pred``
    (B, W, 4) cxcywh with error scales ``spread`` (B, W, 4)."""
    from vidgru.track.association import fit_likelihood

    def corners(a):
        return cxcywh_to_xyxy(a.reshape(-1, 4)).reshape(a.shape)

    return fit_likelihood(corners(pred[:, :-1])[:, :, None, :], spread[:, :-1, None, :], corners(batch.cand[:, 1:]))


def _own_first(like: np.ndarray, batch: TrainingWindows) -> float:
    """Share of frames with a neighbour candidate where ``like`` (B, W - 1, C) ranks the own candidate above it."""
    ok = (batch.cand_valid[:, 1:, 0] > 0) & (batch.cand_valid[:, 1:, 1] > 0)
    return float((like[..., 0] > like[..., 1])[ok].mean()) if ok.any() else float("nan")


def kalman_baseline(batch: TrainingWindows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The constant-velocity Kalman filter over the same windows: (smoothed, next-frame prediction) cxcywh and
    the prediction's error scale (as the association reads it)."""
    from vidgru.track.kalman import KalmanBank

    obs, observed = batch.obs, batch.observed > 0
    B, W = observed.shape
    bank = KalmanBank()
    bank.add(cxcywh_to_xyxy(obs[:, 0]), batch.scores[:, 0])
    smoothed = np.zeros((B, W, 4))
    pred = np.zeros((B, W, 4))
    spread = np.zeros((B, W, 4))
    for t in range(W):
        if t:
            rows = np.flatnonzero(observed[:, t])
            bank.update(rows, cxcywh_to_xyxy(obs[rows, t]), batch.scores[rows, t])
        smoothed[:, t] = bank.pos
        bank.predict()
        pred[:, t] = bank.pos
        spread[:, t] = bank.spread
    return smoothed, pred, spread


def train_motion_model(train_sets: Sequence[TrajectorySet], val_sets: Sequence[TrajectorySet] = (), *,
                       model: GruMotionConfig | None = None, config: MotionTrainConfig | None = None,
                       progress: Callable[[int, float], None] | None = None) -> tuple[MotionCheckpoint, dict]:
    """Train a GRU state model. Returns the checkpoint and metrics (validation IoUs of the GRU and of the
    Kalman filter on the same corrupted windows, when ``val_sets`` are given)."""
    import torch

    model = model or GruMotionConfig()
    cfg = config or MotionTrainConfig()
    if not train_sets:
        raise DatasetError("no training sequences")
    named, present = {name for name, _ in cfg.dataset_weights}, {s.dataset for s in train_sets}
    if named - present:
        raise ConfigError(f"dataset_weights: no data set named {', '.join(sorted(named - present))} "
                          f"(data sets: {', '.join(sorted(present))})")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: thread hand-offs cost more than they save (3x here)
    try:
        return _train(train_sets, val_sets, model, cfg, rng, progress)
    finally:
        torch.set_num_threads(threads)


def _train(train_sets, val_sets, model: GruMotionConfig, cfg: MotionTrainConfig, rng: np.random.Generator,
           progress) -> tuple[MotionCheckpoint, dict]:
    import torch

    net = build_net(model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    t0 = time.perf_counter()
    losses = []
    for step in range(cfg.steps):
        batch = sample_windows(train_sets, cfg.batch_size, cfg, rng)
        loss = window_loss(net, batch, model)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress:
            progress(step, float(np.mean(losses[-50:])))
    metrics: dict = {"train_loss": float(np.mean(losses[-100:])), "train_seconds": time.perf_counter() - t0,
                     "train_sequences": [s.name for s in train_sets], "config": asdict(cfg)}
    if val_sets:
        metrics.update(evaluate_motion_model(net, val_sets, model, cfg))
    ckpt = MotionCheckpoint(config=model, state_dict=net.state_dict(), extra={"metrics": metrics})
    return ckpt, metrics


def evaluate_motion_model(net, sets: Sequence[TrajectorySet], model: GruMotionConfig, cfg: MotionTrainConfig,
                          n: int = 2048) -> dict:
    """GRU vs Kalman on the same corrupted windows from ``sets`` (seeded, so comparable between runs): over all
    of them, and per data set under ``"datasets"``."""
    import torch

    def compare(group: Sequence[TrajectorySet]) -> dict:
        rng = np.random.default_rng(12345)
        batch = sample_windows(group, n, cfg, rng, candidates=True)
        with torch.no_grad():
            smoothed, pred, log_scale = unroll(net, batch, model)
        gru = prediction_iou(smoothed.double().numpy(), pred.double().numpy(), batch)
        kal_smoothed, kal_pred, kal_spread = kalman_baseline(batch)
        kal = prediction_iou(kal_smoothed, kal_pred, batch)
        out = {**{f"gru_{k}": v for k, v in gru.items()}, **{f"kalman_{k}": v for k, v in kal.items()}}
        # Telling a track's own detection from its nearest neighbour's (where it has one): how often the state
        # model's likelihood ranks the own one first, as the association would.
        gru_like = _candidate_likelihood(pred.double().numpy(), np.exp(log_scale.double().numpy()), batch)
        out["gru_own_first"] = _own_first(gru_like, batch)
        out["kalman_own_first"] = _own_first(_candidate_likelihood(kal_pred, kal_spread, batch), batch)
        return out

    out = {"val_sequences": [s.name for s in sets], "val_windows": n, **compare(sets)}
    names = sorted({s.dataset for s in sets})
    out["datasets"] = {d: compare([s for s in sets if s.dataset == d]) for d in names} if len(names) > 1 else {}
    return out


@dataclass(frozen=True)
class StateModelTrainResult:
    """What ``vidgru train-motion`` made: the model file, its metrics JSON and the metrics themselves (validation
    IoUs of the GRU and the Kalman filter, overall and per data set under ``"datasets"``)."""

    checkpoint: Path
    metrics_path: Path
    metrics: dict


def train_state_model(data: Sequence[str | Path], settings: StateModelTrainSettings, *,
                      on_loaded: Callable[[list[TrajectorySet], list[TrajectorySet]], None] | None = None,
                      progress: Callable[[int, float], None] | None = None) -> StateModelTrainResult:
    """The ``vidgru train-motion`` job: load the sequences under ``data`` as ``settings`` says (held out,
    excluded, first halves), train (:func:`train_motion_model`), write the checkpoint and ``<out>.metrics.json``.
    ``on_loaded(train_sets, val_sets)`` is called once the data is read, before training."""
    import json

    from vidgru.fileio import write_text_atomic
    from vidgru.settings import names_list
    from vidgru.track.gru_motion import save_motion_checkpoint

    train_sets, val_sets = load_training_sequences(data, val=names_list(settings.val),
                                                   exclude=names_list(settings.exclude),
                                                   first_half=names_list(settings.first_half))
    if on_loaded is not None:
        on_loaded(train_sets, val_sets)
    ckpt, metrics = train_motion_model(
        train_sets, val_sets, model=GruMotionConfig(hidden_size=settings.hidden_size),
        config=MotionTrainConfig(steps=settings.steps, batch_size=settings.batch_size, window=settings.window,
                                 lr=settings.lr, dataset_weights=tuple(settings.weights_by_dataset().items()),
                                 seed=settings.seed), progress=progress)
    out = Path(settings.out)
    save_motion_checkpoint(out, ckpt)
    metrics_path = out.with_suffix(".metrics.json")
    write_text_atomic(metrics_path, json.dumps(metrics, indent=1))
    return StateModelTrainResult(out, metrics_path, metrics)
