"""What the motion descriptors cost: embedder throughput with none, feature-map descriptors, and those plus
global motion (tracked corners), measured side by side in one run on the same frames.

Frames are sampled from a real video (default: vtest.avi from ../shared/data), centre-cropped once, then
embedded by MobileNetV2 with the runtime vidgru would pick here (ONNX Runtime on a CPU when installed). Each
setting is timed ``--repeats`` times (after a warm-up batch) and the best time is kept.

    python benchmarks/motion_descriptor_cost.py [--video PATH] [--frames 320] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vidgru.backbone import create_embedder
from vidgru.motion_features import MotionSpec
from vidgru.video import read_frames

DEFAULT_VIDEO = Path(__file__).resolve().parents[1] / "../shared/data/opencv_samples/samples/data/vtest.avi"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--frames", type=int, default=320)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    frames = [f.image for f in read_frames(args.video, every_n=2)][: args.frames]
    settings = [("appearance only", None), ("+ feature-map descriptors", MotionSpec()),
                ("+ global motion (flow)", MotionSpec(flow=True))]
    rates = {}
    for name, spec in settings:
        embedder = create_embedder("mobilenet_v2", motion=spec, device="cpu")
        crops = embedder.preprocess.batch(frames)
        embedder.embed(crops[:32])  # warm-up (ONNX session, thread pools)
        best = min(_timed(embedder, crops) for _ in range(args.repeats))
        rates[name] = len(crops) / best
        print(f"{name:28s} {rates[name]:7.1f} frames/s  ({type(embedder).__name__}, dim {embedder.embed_dim})")
    base = rates["appearance only"]
    for name, rate in rates.items():
        print(f"{name:28s} {rate / base:5.2f}x the appearance-only rate")


def _timed(embedder, crops) -> float:
    t = time.perf_counter()
    embedder.embed(crops)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
