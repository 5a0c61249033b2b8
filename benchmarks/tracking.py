"""vidgru's tracker against SORT, ByteTrack and OC-SORT (the PyPI `trackers` package), side by side.

Every tracker gets the same detections (each sequence's det/det.txt, already in memory) and each sequence's own
frame rate; all results are scored by the same TrackEval-parity evaluation (vidgru.metrics.evaluate_tracking,
MOT15 rules). Tracker-only speed is frames per second of ``update`` calls alone (no decoding, no detector,
no file writing), the fastest of ``--repeat`` runs per sequence (as timeit does: slower runs measure the rest
of the machine).

The GRU state model is evaluated leave-one-sequence-out: for sequence S it uses a model trained on the other
sequences only (trained here unless ``--models`` already holds ``loso-S.pt``).

Usage:
    python benchmarks/tracking.py [--data ../shared/data/mot15/train] [--out runs/tracking] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from vidgru.detect import read_mot_detections
from vidgru.metrics import evaluate_tracking
from vidgru.mot import find_mot_sequences
from vidgru.sinks import MotSink
from vidgru.track.gru_motion import GruBank, load_motion_checkpoint, save_motion_checkpoint
from vidgru.track.kalman import KalmanBank
from vidgru.track.tracker import Tracker
from vidgru.types import Detections, FrameTracks, Track


def frames_of(seq) -> list[Detections]:
    by_frame = read_mot_detections(seq.det_path)
    n = seq.length or (max(by_frame) + 1 if by_frame else 0)
    return [by_frame.get(i, Detections.empty()) for i in range(n)]


def run_vidgru(make_tracker, dets: list[Detections], fps: float) -> tuple[list[FrameTracks], float]:
    tracker = make_tracker()
    t0 = time.perf_counter()
    out = [tracker.update(d, i / fps, frame_index=i) for i, d in enumerate(dets)]
    return out, time.perf_counter() - t0


def run_peer(cls, dets: list[Detections], fps: float) -> tuple[list[FrameTracks], float]:
    import supervision as sv

    tracker = cls(frame_rate=fps)
    inputs = [sv.Detections(xyxy=d.xyxy, confidence=d.scores, class_id=np.zeros(len(d), dtype=int)) for d in dets]
    t0 = time.perf_counter()
    raw = [tracker.update(d) for d in inputs]
    seconds = time.perf_counter() - t0
    out = []
    for i, r in enumerate(raw):
        ids = r.tracker_id if r.tracker_id is not None else np.full(len(r), -1)
        out.append(FrameTracks(i, i / fps, [
            Track(int(tid), tuple(float(v) for v in box), float(score))
            for box, tid, score in zip(r.xyxy, ids, r.confidence) if tid >= 0]))
    return out, seconds


def loso_model(models: Path, sequences, held_out: str, steps: int) -> Path:
    path = models / f"loso-{held_out}.pt"
    if not path.is_file():
        from vidgru.train.motion import MotionTrainConfig, load_trajectories, train_motion_model

        train = [load_trajectories(s.path) for s in sequences if s.name != held_out and s.gt_path]
        val = [load_trajectories(s.path) for s in sequences if s.name == held_out]
        print(f"training GRU state model without {held_out} ({steps} steps)...", file=sys.stderr, flush=True)
        ckpt, metrics = train_motion_model(train, val, config=MotionTrainConfig(steps=steps))
        save_motion_checkpoint(path, ckpt)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/mot15/train")
    ap.add_argument("--out", default="runs/tracking")
    ap.add_argument("--models", default=None, help="folder of loso-<SEQ>.pt GRU state models (default OUT/models)")
    ap.add_argument("--steps", type=int, default=2000, help="training steps for missing GRU models")
    ap.add_argument("--trackers", default="vidgru-gru,vidgru-kalman,sort,bytetrack,ocsort")
    ap.add_argument("--repeat", type=int, default=3, help="time each tracker this many times; the fastest counts")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", module="trackers")
    out = Path(args.out)
    models = Path(args.models) if args.models else out / "models"
    models.mkdir(parents=True, exist_ok=True)
    sequences = [s for s in find_mot_sequences(args.data) if s.gt_path and s.det_path]

    from trackers import ByteTrackTracker, OCSORTTracker, SORTTracker

    makers = {
        "vidgru-gru": lambda seq: (lambda: Tracker(motion=GruBank(load_motion_checkpoint(
            loso_model(models, sequences, seq.name, args.steps))))),
        "vidgru-kalman": lambda seq: (lambda: Tracker(motion=KalmanBank())),
    }
    peers = {"sort": SORTTracker, "bytetrack": ByteTrackTracker, "ocsort": OCSORTTracker}
    names = args.trackers.split(",")
    speed: dict[str, list[float]] = {n: [0.0, 0.0] for n in names}
    for seq in sequences:
        dets = frames_of(seq)
        best: dict[str, tuple[list[FrameTracks], float]] = {}
        for _ in range(args.repeat):  # trackers take turns, so a busy moment of the machine hits all alike
            for name in names:
                if name in peers:
                    results, seconds = run_peer(peers[name], dets, seq.fps)
                else:
                    results, seconds = run_vidgru(makers[name](seq), dets, seq.fps)
                if name not in best or seconds < best[name][1]:
                    best[name] = (results, seconds)
        for name in names:
            results, seconds = best[name]
            speed[name][0] += len(dets)
            speed[name][1] += seconds
            with MotSink(out / name / f"{seq.name}.txt") as sink:
                for ft in results:
                    sink.write(ft)

    rows = []
    per_seq = {}
    for name in names:
        report = evaluate_tracking(sequences, out / name, benchmark="MOT15")
        c = report.combined
        fps = speed[name][0] / speed[name][1]
        rows.append((name, c.hota, c.mota, c.idf1, c.idsw, fps))
        per_seq[name] = {s.name: s.to_dict() for s in report.sequences}
    print(f"\nsequences: {', '.join(s.name for s in sequences)} (detections: each sequence's det/det.txt)")
    print("vidgru-gru: leave-one-sequence-out GRU state models\n")
    print("| tracker | HOTA | MOTA | IDF1 | IDSW | tracker-only frames/s |")
    print("|---|---|---|---|---|---|")
    for name, hota, mota, idf1, idsw, fps in rows:
        print(f"| {name} | {hota:.1f} | {mota:.1f} | {idf1:.1f} | {idsw} | {fps:,.0f} |")
    print("\nper sequence, HOTA / IDF1:")
    print("| sequence | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for seq in sequences:
        cells = [f"{per_seq[n][seq.name]['hota']:.1f} / {per_seq[n][seq.name]['idf1']:.1f}" for n in names]
        print(f"| {seq.name} | " + " | ".join(cells) + " |")
    (out / "summary.json").write_text(json.dumps({"combined": rows, "sequences": per_seq}, indent=1))


if __name__ == "__main__":
    main()
