"""Training the shot-boundary detector (:mod:`vidgru.shots.model`) on edited clips with exact ground truth
(:mod:`vidgru.train.synth.transitions`): per-frame targets, and the training loop over cached embeddings."""

from __future__ import annotations

import numpy as np

from vidgru.shots.boundaries import TRANSITIONS
from vidgru.shots.model import ShotModelConfig, build_net


def frame_targets(timestamps_s: np.ndarray, boundaries: list[dict]) -> np.ndarray:
    """(N,) int64 training targets: 0 none, 1 + TRANSITIONS.index(kind) for a frame whose change from the previous
    sampled frame overlaps a true transition's span (``boundaries``: dicts with kind, start_s, end_s)."""
    y = np.zeros(len(timestamps_s), np.int64)
    for i in range(1, len(timestamps_s)):
        a, b = timestamps_s[i - 1], timestamps_s[i]
        for bd in boundaries:
            if bd["kind"] == "cut":
                hit = a < bd["time_s"] < b
            else:
                hit = b > bd["start_s"] and a < bd["end_s"]
            if hit:
                y[i] = 1 + TRANSITIONS.index(bd["kind"])
    return y


def train_shot_net(inputs: list[np.ndarray], targets: list[np.ndarray], *, epochs: int = 60, seed: int = 0,
                   hidden_size: int = 48, lr: float = 3e-3, crop: int = 48) -> tuple[ShotModelConfig, dict, np.ndarray,
                                                                                        np.ndarray]:
    """Train the shot GRU on whole clips' inputs (N_i, F) and targets (N_i,), cropped to random ``crop``-frame
    stretches. Returns the config, the state dict and the feature mean and std."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    allx = np.concatenate(inputs)
    mean, std = allx.mean(axis=0), allx.std(axis=0) + 1e-3
    cfg = ShotModelConfig(input_dim=allx.shape[1], hidden_size=hidden_size)
    net = build_net(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    counts = np.bincount(np.concatenate(targets), minlength=1 + len(TRANSITIONS)).astype(np.float64)
    weight = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight / weight.mean())
    xs = [(x - mean) / std for x in inputs]
    for _ in range(epochs):
        order = rng.permutation(len(xs))
        for b in range(0, len(order), 16):
            batch = order[b: b + 16]
            xb = np.zeros((len(batch), crop, cfg.input_dim), np.float32)
            yb = np.full((len(batch), crop), -100, np.int64)
            for r, k in enumerate(batch):
                n = len(xs[k])
                s = int(rng.integers(0, max(1, n - crop + 1)))
                m = min(crop, n - s)
                xb[r, :m] = xs[k][s: s + m]
                yb[r, :m] = targets[k][s: s + m]
            logits = net(torch.from_numpy(xb))
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(
                yb).reshape(-1), weight=loss_fn.weight, ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return cfg, net.state_dict(), mean.astype(np.float32), std.astype(np.float32)
