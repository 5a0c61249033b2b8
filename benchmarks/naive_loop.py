"""A naive per-frame loop against `vidgru classify`, on the same real video and the same model, side by side in
one run.

The naive loop is what one writes first: read a frame with OpenCV, keep it if it falls on the sampling grid,
convert and centre-crop it, run the PyTorch backbone on that one frame, compute its motion descriptors against
the earlier frames (the same descriptors, frame by frame), then the GRU over each window. `vidgru classify` does the
same work batched, with the trunk in ONNX Runtime on a CPU, the descriptors vectorised, and decoding and corner
tracking in threads beside the backbone. Both give the same labels (checked); each is timed ``--repeats`` times,
interleaved, and the fastest run kept.

    python benchmarks/naive_loop.py [--video PATH] [--seconds 30] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DEFAULT_VIDEO = Path(__file__).resolve().parents[1] / "../shared/data/opencv_samples/samples/data/vtest.avi"


def naive(video: str, clf, max_frames: int) -> list[str]:
    """The per-frame loop: one frame at a time through decode, crop, torch backbone, descriptors; then the GRU."""
    import cv2
    import torch

    from vidgru.backbone import create_embedder
    from vidgru.classify import window_starts

    emb = create_embedder(clf.embedder.name, runtime="torch", device="cpu", motion=clf.embedder.motion)
    stream = emb.new_stream()
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    rows, stamps, index, next_t = [], [], 0, 0.0
    while len(rows) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        t = index / fps
        index += 1
        if t + 1e-9 < next_t:
            continue
        next_t += 1.0 / clf.sample_fps
        crop = emb.preprocess.crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))[None]  # (1, s, s, 3)
        rows.append(emb.embed(crop, stream)[0])
        stamps.append(t)
    cap.release()
    x, stamps = np.stack(rows), np.array(stamps)
    duration = stamps[-1] + 1.0 / fps
    labels = []
    for start in window_starts(duration, clf.window_s, clf.stride_s):
        idx = np.nonzero((stamps >= start - 1e-6) & (stamps < start + clf.window_s - 1e-6))[0]
        with torch.inference_mode():
            logits = clf.net(torch.from_numpy(x[idx])[None])
        labels.append(clf.class_names[int(logits.argmax())])
    return labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from vidgru.classify import ClipClassifier, embed_video

    clf = ClipClassifier.from_path(None, device="cpu")  # the shipped model, vidgru's default runtime
    max_frames = round(args.seconds * clf.sample_fps)

    def fast() -> list[str]:
        video = embed_video(args.video, clf.embedder, sample_fps=clf.sample_fps, max_frames=max_frames)
        return [w.label for w in clf.classify_embedded(video).windows]

    sides = {"naive per-frame loop": lambda: naive(args.video, clf, max_frames), "vidgru classify": fast}
    best = {name: float("inf") for name in sides}
    labels = {}
    for fn in sides.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in sides.items():
            t = time.perf_counter()
            labels[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    print(f"video {Path(args.video).name}, first {max_frames} sampled frames; best of {args.repeats}")
    for name in sides:
        print(f"{name:22s} {best[name]:7.2f} s  {max_frames / best[name]:6.1f} frames/s")
    same = labels["naive per-frame loop"] == labels["vidgru classify"]
    print(f"vidgru classify is {best['naive per-frame loop'] / best['vidgru classify']:.2f}x the naive loop; "
          f"window labels {'agree' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
