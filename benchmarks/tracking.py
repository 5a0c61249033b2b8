"""vidgru's tracker against its peers, side by side, on DanceTrack val, MOT17 val-half and MOT15 train.

Peers: SORT, ByteTrack and OC-SORT from the PyPI `trackers` package (at their defaults, each sequence's frame
rate), and optionally boxmot's BoT-SORT, OccluBoost and HybridSORT (boxmot's own defaults, no ReID, no camera
motion compensation). boxmot is AGPL-3.0, so it is never imported here: it lives in a separate virtual
environment (``--boxmot-python``) and runs in a subprocess (benchmarks/boxmot_runner.py); without that option
the boxmot peers are skipped.

Every tracker gets the same detections (each sequence's det/det.txt) and each sequence's own frame rate; all
results are scored by the same TrackEval-parity evaluation (vidgru.metrics.evaluate_tracking; DanceTrack and
MOT17 with MOT17 rules, MOT15 with MOT15 rules). vidgru's trackers are built exactly as ``vidgru track`` builds
them for det.txt input (vidgru.track.pipeline.build_tracker), so changed defaults show up here. Tracker-only
speed is frames per second of ``update`` calls alone (detections already in memory, no file writing), the
fastest of ``--repeat`` interleaved runs per sequence (as timeit does: slower runs measure the rest of the
machine); boxmot's trackers are timed the same way inside their own process.

GRU state models (no sequence is ever tracked with a model trained on it):
  - DanceTrack val and MOT17 val-half: one model trained on DanceTrack train (ground truth only), the first
    halves of MOT17 train and all eight MOT15 sequences: the shipped model (default), ``--model PATH``, or
    ``--retrain`` to train it here into MODELS/all.pt (MODELS = ``--models``, default OUT/models).
  - MOT15: two-fold cross-validation. The model for fold A's sequences (MOT15_FOLD_A) is trained on DanceTrack
    train, the MOT17 first halves and fold B, and vice versa: MODELS/mot15-foldA.pt and mot15-foldB.pt,
    trained here unless already there.
  The training set is put together in one place: training_sets().

Results: OUT/<dataset>/<tracker>/<seq>.txt, OUT/summary.json, and markdown tables on stdout.

Usage:
    python benchmarks/tracking.py [--datasets dancetrack,mot17,mot15] [--trackers ...] [--out runs/tracking]
        [--model PATH | --retrain] [--models DIR] [--steps N] [--repeat 3]
        [--boxmot-python ../boxmot-venv/bin/python]

    boxmot's environment, once, outside the repository (boxmot 25.0.0 measured):
    python3 -m venv ../boxmot-venv && ../boxmot-venv/bin/pip install boxmot
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from vidgru.settings import TrackSettings
from vidgru.detect import read_mot_detections
from vidgru.metrics import evaluate_tracking
from vidgru.mot import MotSequence, find_mot_sequences
from vidgru.sinks import MotSink
from vidgru.track.gru_motion import default_motion_model_path
from vidgru.track.pipeline import build_tracker
from vidgru.types import Detections, FrameTracks, Track

DATASETS = {  # name -> (default folder, how evaluate_tracking reads its gt.txt)
    "dancetrack": ("../shared/data/dancetrack/val", "MOT17"),  # class / visibility columns as in MOT17
    "mot17": ("../shared/data/mot17/val_half", "MOT17"),
    "mot15": ("../shared/data/mot15/train", "MOT15"),
}
MOT15_FOLD_A = ("ADL-Rundle-6", "ETH-Bahnhof", "KITTI-13", "TUD-Campus")  # fold B: the other MOT15 sequences
VIDGRU = ("vidgru-gru", "vidgru-kalman")
PEERS = ("sort", "bytetrack", "ocsort")  # the `trackers` package
BOXMOT = ("boxmot-botsort", "boxmot-occluboost", "boxmot-hybridsort")  # boxmot_runner.py, another process
ALL_TRACKERS = VIDGRU + PEERS + BOXMOT


# ------------------------------------------------------------------------------------------- GRU models
@cache
def _trajectories(path: str, dataset: str, frames: str):
    from vidgru.train.motion import load_trajectories

    return load_trajectories(path, dataset=dataset, frames=frames)


def training_sets(args, mot15: list[MotSequence]) -> list:
    """The GRU state model's training data: every DanceTrack training sequence (ground truth only), the first
    halves of the MOT17 training sequences (the detector behind the val-half detections was trained on them)
    and the MOT15 sequences ``mot15``."""
    sets = [_trajectories(str(s.path), "dancetrack", "all") for s in find_mot_sequences(args.dancetrack_train)]
    sets += [_trajectories(str(s.path), "mot17", "first-half") for s in find_mot_sequences(args.mot17_train)]
    sets += [_trajectories(str(s.path), "mot15", "all") for s in mot15]
    return sets


def train_model(args, path: Path, mot15: list[MotSequence]) -> dict:
    """Train a GRU state model on training_sets(args, mot15) into ``path``; returns its training metrics."""
    from vidgru.track.gru_motion import GruMotionConfig, save_motion_checkpoint
    from vidgru.train.motion import MotionTrainConfig, train_motion_model

    config = MotionTrainConfig() if args.steps is None else replace(MotionTrainConfig(), steps=args.steps)
    sets = training_sets(args, mot15)
    print(f"training GRU state model {path} on {len(sets)} sequences ({config.steps} steps)...",
          file=sys.stderr, flush=True)
    ckpt, metrics = train_motion_model(sets, [], model=GruMotionConfig(), config=config)
    save_motion_checkpoint(path, ckpt)
    return metrics


def gru_models(args, dataset: str, sequences: list[MotSequence], models: Path, timing: dict
               ) -> dict[str, str | None]:
    """Sequence name -> the GRU state model that tracks it (trained here when needed; None: the shipped one)."""
    if dataset != "mot15":
        if args.model:
            path = Path(args.model)
        elif args.retrain:
            path = models / "all.pt"
            if "all.pt" not in timing:  # once per run, for DanceTrack and MOT17 alike
                t0 = time.perf_counter()
                train_model(args, path, find_mot_sequences(args.mot15))
                timing["all.pt"] = time.perf_counter() - t0
        else:
            return {s.name: None for s in sequences}  # None: the shipped model, as `vidgru track` picks it
        return {s.name: str(path) for s in sequences}
    mot15 = find_mot_sequences(args.mot15)
    folds = {"A": [s for s in mot15 if s.name in MOT15_FOLD_A], "B": [s for s in mot15 if s.name not in MOT15_FOLD_A]}
    out = {}
    for fold, other in (("A", "B"), ("B", "A")):
        path = models / f"mot15-fold{fold}.pt"
        if not path.is_file():
            t0 = time.perf_counter()
            train_model(args, path, folds[other])
            timing[path.name] = time.perf_counter() - t0
        out.update({s.name: str(path) for s in folds[fold]})
    return {s.name: out[s.name] for s in sequences}


# --------------------------------------------------------------------------------------------- tracking
def frames_of(seq: MotSequence) -> list[Detections]:
    by_frame = read_mot_detections(seq.det_path)
    n = seq.length or (max(by_frame) + 1 if by_frame else 0)
    return [by_frame.get(i, Detections.empty()) for i in range(n)]


def vidgru_tracker(name: str, seq: MotSequence, model: str | None):
    """The tracker ``vidgru track SEQ --detector file [--motion kalman]`` builds."""
    cfg = TrackSettings(state_model="gru", state_model_file=model) if name == "vidgru-gru" else TrackSettings(state_model="kalman")
    return build_tracker(cfg, "file", fps=seq.fps)


def run_vidgru(tracker, dets: list[Detections], fps: float) -> tuple[list[FrameTracks], float]:
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


def track_in_process(args, names: list[str], sequences: list[MotSequence], out: Path, models: dict[str, str | None]
                     ) -> dict[str, dict[str, tuple[int, float]]]:
    """Run vidgru's and the `trackers` package's trackers; returns tracker -> sequence -> (frames, seconds)."""
    from trackers import ByteTrackTracker, OCSORTTracker, SORTTracker

    peers = {"sort": SORTTracker, "bytetrack": ByteTrackTracker, "ocsort": OCSORTTracker}
    speed: dict[str, dict[str, tuple[int, float]]] = {n: {} for n in names}
    for seq in sequences:
        dets = frames_of(seq)
        best: dict[str, tuple[list[FrameTracks], float]] = {}
        for _ in range(args.repeat):  # trackers take turns, so a busy moment of the machine hits all alike
            for name in names:
                if name in peers:
                    results, seconds = run_peer(peers[name], dets, seq.fps)
                else:
                    results, seconds = run_vidgru(vidgru_tracker(name, seq, models.get(seq.name)), dets, seq.fps)
                if name not in best or seconds < best[name][1]:
                    best[name] = (results, seconds)
        for name in names:
            results, seconds = best[name]
            speed[name][seq.name] = (len(dets), seconds)
            with MotSink(out / name / f"{seq.name}.txt") as sink:
                for ft in results:
                    sink.write(ft)
        print(f"{seq.name}: done", file=sys.stderr, flush=True)
    return speed


def track_boxmot(args, names: list[str], sequences: list[MotSequence], out: Path
                 ) -> tuple[dict[str, dict[str, tuple[int, float]]], dict]:
    """Run boxmot's trackers in ``--boxmot-python``'s process (boxmot_runner.py)."""
    runner = Path(__file__).with_name("boxmot_runner.py")
    wanted = [n.removeprefix("boxmot-") for n in names]
    cmd = [args.boxmot_python, str(runner), "--out", str(out), "--prefix", "boxmot-", "--trackers", ",".join(wanted),
           "--repeat", str(args.repeat), *(str(s.path) for s in sequences)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)  # stderr: its progress
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, why in info["skipped"].items():
        print(f"note: boxmot {name} skipped: {why}", file=sys.stderr)
    speed = {f"boxmot-{n}": {s: (info["frames"][s], t) for s, t in secs.items()} for n, secs in info["seconds"].items()}
    return speed, info


# ------------------------------------------------------------------------------------------------ report
def _diff(a: float, b: float) -> str:
    return f"{round(a - b, 1) + 0.0:+.1f}"  # + 0.0: no "-0.0"


def print_dataset(dataset: str, sequences: list[MotSequence], rows: dict[str, dict], per_seq: dict[str, dict],
                  notes: list[str]) -> None:
    names = list(rows)
    print(f"\n## {dataset}: {len(sequences)} sequences ({', '.join(s.name for s in sequences)})")
    for note in notes:
        print(note)
    print("\n| tracker | HOTA | MOTA | IDF1 | IDSW | AssA | DetA | tracker-only frames/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['hota']:.1f} | {r['mota']:.1f} | {r['idf1']:.1f} | {r['idsw']} | {r['assa']:.1f} | "
              f"{r['deta']:.1f} | {r['fps']:,.0f} |")
    peers = [n for n in names if n not in VIDGRU]
    print()
    if "vidgru-gru" in rows and "vidgru-kalman" in rows:
        print(f"- vidgru-gru HOTA - vidgru-kalman: {_diff(rows['vidgru-gru']['hota'], rows['vidgru-kalman']['hota'])}")
    if peers:
        best = max(peers, key=lambda n: rows[n]["hota"])
        fastest = max(peers, key=lambda n: rows[n]["fps"])
        for name in (n for n in VIDGRU if n in rows):
            print(f"- {name} HOTA - best peer ({best}, {rows[best]['hota']:.1f}): "
                  f"{_diff(rows[name]['hota'], rows[best]['hota'])}")
        for name in (n for n in VIDGRU if n in rows):
            print(f"- {name} speed / fastest peer ({fastest}, {rows[fastest]['fps']:,.0f} frames/s): "
                  f"{rows[name]['fps'] / rows[fastest]['fps']:.2f}x")
    print("\nper sequence, HOTA / IDF1:\n")
    print("| sequence | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for seq in sequences:
        cells = [f"{per_seq[n][seq.name]['hota']:.1f} / {per_seq[n][seq.name]['idf1']:.1f}"
                 if seq.name in per_seq[n] else "-" for n in names]
        print(f"| {seq.name} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: " + ", ".join(DATASETS))
    for name, (folder, _) in DATASETS.items():
        ap.add_argument(f"--{name}", default=folder, help=f"{name} sequences to track and evaluate")
    ap.add_argument("--dancetrack-train", default="../shared/data/dancetrack/train", help="GRU training data")
    ap.add_argument("--mot17-train", default="../shared/data/mot17/train",
                    help="GRU training data (first halves only)")
    ap.add_argument("--out", default="runs/tracking")
    ap.add_argument("--trackers", default=",".join(ALL_TRACKERS))
    ap.add_argument("--model", default=None,
                    help="GRU state model for DanceTrack and MOT17 (default: the shipped one)")
    ap.add_argument("--retrain", action="store_true",
                    help="train the DanceTrack / MOT17 GRU state model here (MODELS/all.pt)")
    ap.add_argument("--models", default=None,
                    help="MODELS: folder of the MOT15 cross-validation models mot15-fold{A,B}.pt, reused when "
                         "there, and of --retrain's all.pt (default OUT/models)")
    ap.add_argument("--steps", type=int, default=None,
                    help="training steps for GRU models trained here (default: MotionTrainConfig's)")
    ap.add_argument("--repeat", type=int, default=3, help="time each tracker this many times; the fastest counts")
    ap.add_argument("--boxmot-python", default=None,
                    help="python of a virtual environment with boxmot (AGPL) installed; without it the boxmot "
                         "peers are skipped")
    args = ap.parse_args()
    if args.model and args.retrain:
        ap.error("--model and --retrain exclude each other")
    warnings.filterwarnings("ignore", module="trackers")
    out = Path(args.out)
    models = Path(args.models) if args.models else out / "models"
    models.mkdir(parents=True, exist_ok=True)
    datasets = [d for d in args.datasets.split(",") if d]
    names = [n for n in args.trackers.split(",") if n]
    for bad in [d for d in datasets if d not in DATASETS] + [n for n in names if n not in ALL_TRACKERS]:
        ap.error(f"unknown data set or tracker {bad!r}")
    boxmot_names = [n for n in names if n in BOXMOT]
    if boxmot_names and not args.boxmot_python:
        print(f"note: no --boxmot-python given; skipping {', '.join(boxmot_names)}", file=sys.stderr)
        names = [n for n in names if n not in BOXMOT]
        boxmot_names = []
    local_names = [n for n in names if n not in BOXMOT]

    summary: dict = {"args": vars(args), "datasets": {}, "seconds": {}}
    timing: dict[str, float] = {}
    for dataset in datasets:
        folder, benchmark = getattr(args, dataset), DATASETS[dataset][1]
        sequences = [s for s in find_mot_sequences(folder) if s.gt_path and s.det_path]
        where = out / dataset
        t0 = time.perf_counter()
        seq_models = gru_models(args, dataset, sequences, models, timing) if "vidgru-gru" in names else {}
        t1 = time.perf_counter()
        speed = track_in_process(args, local_names, sequences, where, seq_models)
        t2 = time.perf_counter()
        boxmot_info = None
        if boxmot_names:
            box_speed, boxmot_info = track_boxmot(args, boxmot_names, sequences, where)
            speed.update(box_speed)
            summary["boxmot"] = {k: boxmot_info[k] for k in ("versions", "defaults", "classes", "options")}
        t3 = time.perf_counter()

        rows, per_seq = {}, {}
        for name in (n for n in names if n in speed):
            report = evaluate_tracking(sequences, where / name, benchmark=benchmark)
            for seq_name, why in report.errors.items():
                print(f"warning: {dataset} {name} {seq_name} not evaluated: {why}", file=sys.stderr)
            frames = sum(f for f, _ in speed[name].values())
            seconds = sum(s for _, s in speed[name].values())
            rows[name] = {**report.combined.to_dict(), "frames": frames, "seconds": seconds, "fps": frames / seconds}
            per_seq[name] = {s.name: {**s.to_dict(), "fps": speed[name][s.name][0] / speed[name][s.name][1]}
                             for s in report.sequences}
        t4 = time.perf_counter()
        notes = []
        if seq_models:
            used = sorted({m or f"shipped: {default_motion_model_path()}" for m in seq_models.values()})
            notes.append("vidgru-gru GRU state models: " + (
                "two-fold cross-validation, " + ", ".join(used) if dataset == "mot15" else ", ".join(used)))
        if boxmot_info:
            notes.append(f"boxmot {boxmot_info['versions']['boxmot']} ({boxmot_info['defaults']} defaults, "
                         "no ReID, no CMC), run in its own process")
        print_dataset(dataset, sequences, rows, per_seq, notes)
        summary["datasets"][dataset] = {
            "path": str(folder), "benchmark": benchmark, "sequences": [s.name for s in sequences],
            "gru_models": seq_models, "combined": rows, "per_sequence": per_seq}
        summary["seconds"][dataset] = {"gru_models": t1 - t0, "track": t2 - t1, "boxmot": t3 - t2,
                                       "evaluate": t4 - t3}
    summary["seconds"]["training"] = timing
    print("\nwall-clock seconds:", json.dumps({k: (round(v, 1) if isinstance(v, float) else
                                                   {kk: round(vv, 1) for kk, vv in v.items()})
                                               for k, v in summary["seconds"].items()}))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
