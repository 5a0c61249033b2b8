"""Train the shipped shot-boundary detector (vidgru/models/shot_detector.pt) on edited clips from the training
sources of benchmarks/shots_data.py. Clips are embedded once with the default model's embedder (MobileNetV2 and
its motion descriptors, 8 frames/s) and cached as .npz next to them; training then takes a minute on a CPU.

    python benchmarks/shots_data.py --split train --clips 160 --seed 1 --out runs/shots/train
    python benchmarks/shot_model.py runs/shots/train --out vidgru/models/shot_detector.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shots_data import TRAIN, read_truth  # noqa: E402


def embed_folder(folder: Path, embedder, sample_fps: float, *, cached_only: bool = False
                 ) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(truth record, timestamps (N,), embeddings (N, D)) per clip of ``folder``, cached as ``<clip>.npz``
    (``cached_only``: only the clips already embedded)."""
    from vidgru.classify import embed_video

    out = []
    for record in read_truth(folder):
        cache = folder / (record["file"] + f".{sample_fps:g}fps.npz")
        if cached_only and not cache.is_file():
            continue
        if cache.is_file():
            z = np.load(cache)
            t, e = z["t"], z["e"]
        else:
            v = embed_video(str(folder / record["file"]), embedder, sample_fps=sample_fps)
            t, e = v.timestamps_s, v.embeddings
            np.savez(cache, t=t, e=e)
        out.append((record, t, e))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train_dir", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embed-only", action="store_true")
    ap.add_argument("--cached-only", action="store_true", help="train on the clips embedded so far")
    ap.add_argument("--exclude-sources", default="", help="comma-separated source names: leave out every clip "
                                                          "with a shot from one of them (e.g. for their licence)")
    args = ap.parse_args()

    import torch

    from vidgru.classify import ClipClassifier
    from vidgru.shots import black_embedding
    from vidgru.shots.model import ShotCheckpoint, model_inputs, save_shot_model
    from vidgru.train.shots import frame_targets, train_shot_net
    from vidgru.types import EmbedderSpec

    torch.set_num_threads(1)  # a small GRU: more threads only contend
    clf = ClipClassifier.from_path(None, device="cpu", runtime="auto")
    embedder = clf.embedder
    t0 = time.time()
    clips = embed_folder(args.train_dir, embedder, clf.sample_fps, cached_only=args.cached_only)
    excluded = {name.strip() for name in args.exclude_sources.split(",") if name.strip()}
    clips = [c for c in clips if not excluded & set(c[0]["sources"])]
    print(f"embedded {len(clips)} clips in {time.time() - t0:.0f} s", flush=True)
    if args.embed_only:
        return
    black = black_embedding(embedder)
    xs, ys = [], []
    for record, t, e in clips:
        xs.append(model_inputs(e, appearance_dim=embedder.appearance_dim, motion=embedder.motion, black=black))
        ys.append(frame_targets(t, record["boundaries"]))
    t0 = time.time()
    cfg, state, mean, std = train_shot_net(xs, ys, epochs=args.epochs, seed=args.seed)
    print(f"trained in {time.time() - t0:.0f} s", flush=True)
    kinds = {}
    for record, _, _ in clips:
        for b in record["boundaries"]:
            kinds[b["kind"]] = kinds.get(b["kind"], 0) + 1
    save_shot_model(args.out, ShotCheckpoint(
        cfg, state, mean, std, EmbedderSpec.from_dict(embedder.identity), clf.sample_fps, 0.5,
        training={"recipe": "benchmarks/shot_model.py", "clips": len(clips), "boundaries": kinds,
                  "sources": [name for name, _ in TRAIN if name not in excluded], "epochs": args.epochs,
                  "seed": args.seed}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
