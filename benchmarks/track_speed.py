"""`vidgru track` end to end against its detector alone, and vidgru's tracker alone against the `trackers`
package's, on real footage with the NanoDet ONNX detector, side by side in one run.

- decode-only: the video read (the frames the detector gets);
- detector-only: decode and NanoDet (ONNX Runtime) on every frame, nothing else;
- end to end: `vidgru track VIDEO --detector onnx:NANODET --mot FILE` as the command runs it (decode, detect,
  appearance embeddings of the person crops, association, state model, MOT file), in this process;
- tracker-only: the association and state model on NanoDet's detections already in memory (``Tracker.update``
  per frame, no appearance), against ByteTrack and SORT from the `trackers` package on the same detections.

Each is run ``--repeats`` times, interleaved, after a warm-up; the fastest run is kept.

    python benchmarks/track_speed.py [--video PATH] [--nanodet PATH] [--frames 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT / "../shared/data/opencv_samples/samples/data/vtest.avi"
DEFAULT_NANODET = ROOT / "../shared/models/nanodet-m-416-coco.onnx"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--nanodet", default=str(DEFAULT_NANODET))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", module="trackers")

    from click.testing import CliRunner

    from vidgru.cli import cli
    from vidgru.settings import TrackSettings
    from vidgru.track.pipeline import build_detector, build_tracker
    from vidgru.video import VideoSource

    spec = f"onnx:{args.nanodet}"
    cfg = TrackSettings()
    detector = build_detector(cfg, spec)
    with VideoSource(args.video, max_frames=args.frames) as src:
        fps = src.info.fps
    dets: list = []

    def decode_only() -> int:
        with VideoSource(args.video, max_frames=args.frames) as src:
            return sum(1 for _ in src)

    def detector_only() -> int:
        dets.clear()
        with VideoSource(args.video, max_frames=args.frames) as src:
            for frame in src:
                dets.extend(detector.detect([frame]))
        return len(dets)

    tmp = Path(tempfile.mkdtemp(prefix="track-speed-"))

    def end_to_end() -> int:
        res = CliRunner().invoke(cli, ["track", args.video, "--detector", spec, "--max-frames", str(args.frames),
                                       "--mot", str(tmp / "out.txt"), "-q"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return args.frames

    def vidgru_tracker() -> int:
        tracker = build_tracker(cfg, spec, fps=fps)
        for i, d in enumerate(dets):
            tracker.update(d, i / fps, frame_index=i)
        return len(dets)

    def peer(cls):
        import supervision as sv

        inputs = []

        def run() -> int:
            if not inputs:
                inputs.extend(sv.Detections(xyxy=d.xyxy, confidence=d.scores, class_id=np.zeros(len(d), dtype=int))
                              for d in dets)
            tracker = cls(frame_rate=fps)
            for d in inputs:
                tracker.update(d)
            return len(inputs)

        return run

    from trackers import ByteTrackTracker, SORTTracker

    pipeline = {"decode-only": decode_only, "detector-only": detector_only, "end to end (vidgru track)": end_to_end}
    trackers = {"vidgru tracker (gru)": vidgru_tracker, "ByteTrack (trackers)": peer(ByteTrackTracker),
                "SORT (trackers)": peer(SORTTracker)}
    runs = {**pipeline, **trackers}
    for fn in runs.values():  # warm-up (and the detections the trackers read)
        fn()
    best = {name: float("inf") for name in runs}
    frames = {}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            frames[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    n_boxes = sum(len(d) for d in dets)
    print(f"video {Path(args.video).name}, {args.frames} frames, NanoDet {Path(args.nanodet).name} "
          f"({n_boxes / len(dets):.1f} boxes/frame kept); best of {args.repeats}")
    base = frames["detector-only"] / best["detector-only"]
    for name in pipeline:
        rate = frames[name] / best[name]
        print(f"{name:28s} {rate:8.1f} frames/s  {rate / base:5.2f}x detector-only")
    base = frames["vidgru tracker (gru)"] / best["vidgru tracker (gru)"]
    for name in trackers:
        rate = frames[name] / best[name]
        print(f"{name:28s} {rate:8.1f} frames/s  {rate / base:5.2f}x vidgru's tracker")


if __name__ == "__main__":
    main()
