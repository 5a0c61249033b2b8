"""Where the time of `vidgru classify` goes: decode-only, backbone-only and the full classify pipeline, measured
side by side in one run on the same real video.

- decode-only: the video read at the model's sampling rate and centre-cropped (the frames the backbone gets);
- backbone-only: the trunk and pooling alone, on those crops already in memory, batch by batch (nothing else);
- global motion only: the corner tracking of the global-motion descriptors (one thread) on those crops;
- full pipeline: what `vidgru classify` does for one file: decode, crop, backbone, motion descriptors (feature-map
  correlations and global motion from tracked corners), the GRU over sliding windows, the timeline
  (`ClipClassifier.classify`), with the shipped default model or --model.

Each is run ``--repeats`` times, interleaved (so a busy machine slows all of them alike), after a warm-up; the
fastest run of each is kept. Rates are sampled frames per second; ratios are to the backbone-only rate.

    python benchmarks/classify_speed.py [--video PATH] [--model MODEL.pt|DIR] [--seconds 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_VIDEO = Path(__file__).resolve().parents[1] / "../shared/data/opencv_samples/samples/data/vtest.avi"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--model", default=None, help="a clip model .pt or an exported folder (default: shipped model)")
    ap.add_argument("--seconds", type=float, default=40.0, help="how much of the video to use")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runtime", default="auto")
    args = ap.parse_args()

    from vidgru.classify import ClipClassifier, crop_batches, embed_video
    from vidgru.video import VideoSource

    clf = ClipClassifier.from_path(args.model, runtime=args.runtime)
    emb = clf.embedder
    max_frames = round(args.seconds * clf.sample_fps)

    def decode_only() -> int:
        with VideoSource(args.video, sample_fps=clf.sample_fps, max_frames=max_frames) as src:
            return sum(len(b.crops) for b in crop_batches(src, emb.preprocess, emb.batch_size))

    with VideoSource(args.video, sample_fps=clf.sample_fps, max_frames=max_frames) as src:
        crops = [b.crops for b in crop_batches(src, emb.preprocess, emb.batch_size)]

    def backbone_only() -> int:
        for batch in crops:
            emb.appearance(batch)
        return sum(len(b) for b in crops)

    def corners_only() -> int:
        from vidgru.motion_features import GlobalMotionStream

        if emb.motion is None or not emb.motion.flow:
            return 0
        flow = GlobalMotionStream(tuple(emb.motion.gaps))
        for batch in crops:
            flow.update(batch)
        return sum(len(b) for b in crops)

    def full() -> int:
        embedded = embed_video(args.video, emb, sample_fps=clf.sample_fps, max_frames=max_frames)
        return clf.classify_embedded(embedded).frames_used

    runs = {"decode-only": decode_only, "backbone-only": backbone_only,
            "global motion only (corner tracking, one thread)": corners_only, "full pipeline": full}
    for fn in runs.values():  # warm-up: sessions, thread pools, caches
        fn()
    best = {name: float("inf") for name in runs}
    frames = {}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            frames[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    print(f"video {Path(args.video).name}: {frames['full pipeline']} sampled frames at {clf.sample_fps:g}/s; "
          f"backbone {emb.name} ({emb.runtime}); best of {args.repeats}")
    base = frames["backbone-only"] / best["backbone-only"]
    for name in runs:
        rate = frames[name] / best[name]
        print(f"{name:49s} {rate:8.1f} frames/s  {rate / base:5.2f}x backbone-only")


if __name__ == "__main__":
    main()
