"""Line-counting accuracy against ground truth: vidgru's analytics vs supervision's LineZone fed by ByteTrack.

Data: MOT17 val-half (4 sequences, YOLOX detections), DanceTrack val (12, YOLOX) and MOT15 train (8, Faster R-CNN
detections; no images), each sequence's det/det.txt, its own frame rate and frame size (seqinfo.ini).

Lines: four per sequence, across the whole frame: horizontal at 1/3 and 2/3 of the height (``h1``, ``h2``, drawn
left to right) and vertical at 1/3 and 2/3 of the width (``v1``, ``v2``, drawn top to bottom).

Ground truth: every ground-truth identity whose bottom-centre point moves from one side of a line to the other
(strict sign change of its signed distance between two of its annotated frames, meeting the segment) counts
once per direction, the rule vidgru counts by. Which ground-truth boxes: MOT17 and DanceTrack (MOT17 layout):
class 1 (pedestrian) with the "consider" flag 1 (distractors, static people, vehicles and flag-0 boxes are
left out, as TrackEval does); MOT15: every box with a non-zero flag (no classes, as TrackEval does). Occluded
pedestrians count: they still cross.

Counters, on the same detections:
  - vidgru: the tracker ``vidgru track SEQ`` builds for det.txt input (its default settings, the shipped GRU
    state model) and :class:`vidgru.analytics.Analytics` with the default rules. The shipped GRU model was
    trained on the eight MOT15 sequences (and DanceTrack train, MOT17 first halves), so MOT15 is in-sample for
    it; ``vidgru (kalman)`` (``--state-model kalman``, nothing learned) is the check free of that.
  - supervision ``LineZone`` (supervision 0.31) fed by ``trackers`` ByteTrack (2.6, its defaults, the
    sequence's frame rate), triggered by the bottom-centre anchor (the ground truth's point), and also with
    LineZone's default anchors (all four box corners must cross).
  - ByteTrack's tracks counted by vidgru's analytics: how much of the difference is the counting rules and how
    much the tracker.

Error per line and direction: |counted - true|; a sequence's and a data set's total error is the sum over its
lines and both directions (no cancelling between lines or directions), relative error that total divided by the
true crossings. ``--sweep`` prints the error of other analytics rules on one data set (the rules were chosen
that way on MOT17 val-half only; see docs/analytics.md).

Usage:
    python benchmarks/counting.py [--datasets mot17,dancetrack,mot15] [--out runs/counting.json]
    python benchmarks/counting.py --datasets mot17 --sweep
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from vidgru.analytics import Analytics, AnalyticsSpec, analytics_spec
from vidgru.analytics.geometry import Line
from vidgru.mot import MotSequence, find_mot_sequences, gt_format, read_mot_txt
from vidgru.settings import TrackSettings
from vidgru.track.pipeline import build_detector, build_tracker, detector_spec_for, track_sequence_detections
from vidgru.types import FrameTracks, Track

DATASETS = {
    "mot17": "../shared/data/mot17/val_half",
    "dancetrack": "../shared/data/dancetrack/val",
    "mot15": "../shared/data/mot15/train",
}
THIRD, TWO_THIRDS = "0.333333", "0.666667"
LINES = (f"h1:0,{THIRD},1,{THIRD}", f"h2:0,{TWO_THIRDS},1,{TWO_THIRDS}",
         f"v1:{THIRD},0,{THIRD},1", f"v2:{TWO_THIRDS},0,{TWO_THIRDS},1")
DIRECTIONS = ("in", "out")


# ------------------------------------------------------------------------------------------ ground truth
def ground_truth_tracks(seq: MotSequence) -> dict[int, np.ndarray]:
    """Ground-truth id -> (K, 3) rows of (frame, x, y) bottom-centre points, frames in order (see module doc)."""
    rows = read_mot_txt(seq.gt_path)
    if gt_format(rows) == "MOT17":
        rows = rows[(rows[:, 6] == 1) & (rows[:, 7] == 1)]
    else:
        rows = rows[rows[:, 6] != 0]
    out = {}
    for track_id in np.unique(rows[:, 1]).astype(int):
        r = rows[rows[:, 1] == track_id]
        r = r[np.argsort(r[:, 0])]
        out[track_id] = np.c_[r[:, 0], r[:, 2] + r[:, 4] / 2, r[:, 3] + r[:, 5]]
    return out


def true_counts(tracks: dict[int, np.ndarray], lines: list[Line]) -> dict[str, dict[str, int]]:
    """line -> direction -> ground-truth identities that crossed it that way (once per identity and direction)."""
    out = {line.name: dict.fromkeys(DIRECTIONS, 0) for line in lines}
    for points in tracks.values():
        for line in lines:
            d = line.signed_distance(points[:, 1:])
            seen: set[str] = set()
            last = None  # index of the last point strictly on one side
            for i in np.flatnonzero(d != 0):
                if last is not None and np.sign(d[i]) != np.sign(d[last]):
                    where = line.crossing_fraction(tuple(points[last, 1:]), tuple(points[i, 1:]))
                    direction = "in" if d[i] > 0 else "out"
                    if where is not None and 0 <= where <= 1:
                        seen.add(direction)
                last = i
            for direction in seen:
                out[line.name][direction] += 1
    return out


# ------------------------------------------------------------------------------------------------ counters
def vidgru_tracks(seq: MotSequence, cfg: TrackSettings) -> list[FrameTracks]:
    """The tracks ``vidgru track SEQ`` produces (detections from det.txt, the same detector and tracker)."""
    spec = detector_spec_for(cfg, seq)
    detector = build_detector(cfg, spec)
    n = seq.length or (max(detector.detections, default=-1) + 1)
    tracker = build_tracker(cfg, spec, fps=seq.fps)
    return list(track_sequence_detections([detector.at(i) for i in range(n)], seq.fps, tracker))


def vidgru_counts(frames: list[FrameTracks], spec: AnalyticsSpec, size: tuple[int, int], max_lost_s: float
                  ) -> dict[str, dict[str, int]]:
    analytics = Analytics(spec, frame_size=size, forget_s=max_lost_s)
    for ft in frames:
        analytics.update(ft)
    analytics.finish()
    summary = analytics.summary()
    return {line.name: {d: line.total(d) for d in DIRECTIONS} for line in summary.lines}


def _peer_direction_map() -> dict[str, str]:
    """LineZone's in/out named in vidgru's convention, found by moving a box down across a left-to-right line
    (vidgru: "in")."""
    import supervision as sv

    zone = sv.LineZone(start=sv.Point(0, 100), end=sv.Point(200, 100), triggering_anchors=[sv.Position.BOTTOM_CENTER])
    for y in (50, 80, 120, 150):
        zone.trigger(sv.Detections(xyxy=np.array([[90, y - 40, 110, y]], float), tracker_id=np.array([1]),
                                   class_id=np.array([0])))
    assert zone.in_count + zone.out_count == 1
    return {"in": "in", "out": "out"} if zone.in_count == 1 else {"in": "out", "out": "in"}


def peer_counts(seq: MotSequence, lines: list[Line], direction_map: dict[str, str]
                ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], list[FrameTracks]]:
    """ByteTrack (trackers) + LineZone (supervision), bottom-centre anchor and LineZone's default anchors; and
    ByteTrack's tracks as FrameTracks (to count them with vidgru's analytics too)."""
    import supervision as sv
    from trackers import ByteTrackTracker

    from vidgru.detect import read_mot_detections

    by_frame = read_mot_detections(seq.det_path)
    n = seq.length or (max(by_frame) + 1 if by_frame else 0)
    tracker = ByteTrackTracker(frame_rate=seq.fps)
    bottom = {line.name: sv.LineZone(start=sv.Point(*line.p1), end=sv.Point(*line.p2),
                                     triggering_anchors=[sv.Position.BOTTOM_CENTER]) for line in lines}
    corners = {line.name: sv.LineZone(start=sv.Point(*line.p1), end=sv.Point(*line.p2)) for line in lines}
    frames = []
    for i in range(n):
        d = by_frame.get(i)
        dets = (sv.Detections(xyxy=d.xyxy.astype(np.float64), confidence=d.scores, class_id=np.zeros(len(d), int))
                if d is not None and len(d) else sv.Detections.empty())
        tracked = tracker.update(dets)
        if tracked.tracker_id is not None and len(tracked):
            tracked = tracked[tracked.tracker_id >= 0]
        for zone in (*bottom.values(), *corners.values()):
            zone.trigger(tracked)
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0, int)
        frames.append(FrameTracks(i, i / seq.fps, [Track(int(t), tuple(map(float, box)), 1.0)
                                                   for t, box in zip(ids, tracked.xyxy, strict=True)]))

    def read(zones):
        return {name: {mine: getattr(z, f"{theirs}_count") for mine, theirs in direction_map.items()}
                for name, z in zones.items()}

    return read(bottom), read(corners), frames


# ------------------------------------------------------------------------------------------------- scoring
def error(counts: dict[str, dict[str, int]], truth: dict[str, dict[str, int]]) -> tuple[int, int]:
    """(sum of |counted - true| over lines and directions, sum of counted - true)."""
    diffs = [counts[name][d] - truth[name][d] for name in truth for d in DIRECTIONS]
    return sum(abs(x) for x in diffs), sum(diffs)


def total(truth: dict[str, dict[str, int]]) -> int:
    return sum(v for line in truth.values() for v in line.values())


COUNTERS = ("vidgru", "vidgru (kalman)", "bytetrack+linezone (bottom centre)", "bytetrack+linezone (corners, default)",
            "bytetrack+vidgru analytics")


def run_dataset(name: str, root: str, args, direction_map) -> dict:
    sequences = find_mot_sequences(root)
    cfg = TrackSettings()
    spec = analytics_spec(lines=LINES)
    rows = []
    for seq in sequences:
        size = (seq.width, seq.height)
        lines, _ = spec.resolve(size)
        truth = true_counts(ground_truth_tracks(seq), lines)
        t0 = time.perf_counter()
        frames = vidgru_tracks(seq, cfg)
        ours = vidgru_counts(frames, spec, size, cfg.max_lost_s)
        seconds = time.perf_counter() - t0
        kalman = vidgru_counts(vidgru_tracks(seq, replace(cfg, state_model="kalman")), spec, size, cfg.max_lost_s)
        bottom, corners, peer_frames = peer_counts(seq, lines, direction_map)
        mixed = vidgru_counts(peer_frames, spec, size, cfg.max_lost_s)
        rows.append({"sequence": seq.name, "truth": truth, "seconds": round(seconds, 2),
                     "counts": dict(zip(COUNTERS, (ours, kalman, bottom, corners, mixed), strict=True)),
                     "frames": frames if args.sweep else None, "size": size})
    return {"dataset": name, "rows": rows}


def print_dataset(result: dict) -> dict:
    print(f"\n**{result['dataset']}** ({len(result['rows'])} sequences)\n")
    print("| sequence | line | true in/out | " + " | ".join(f"{c} in/out (error)" for c in COUNTERS) + " |")
    print("|---|---|---|" + "---|" * len(COUNTERS))
    totals = {c: [0, 0] for c in COUNTERS}
    true_total = 0
    for row in result["rows"]:
        truth = row["truth"]
        true_total += total(truth)
        for name in truth:
            cells = []
            for c in COUNTERS:
                got = row["counts"][c][name]
                err = sum(abs(got[d] - truth[name][d]) for d in DIRECTIONS)
                cells.append(f"{got['in']}/{got['out']} ({err})")
            print(f"| {row['sequence']} | {name} | {truth[name]['in']}/{truth[name]['out']} | " + " | ".join(cells)
                  + " |")
        for c in COUNTERS:
            e, net = error(row["counts"][c], truth)
            totals[c][0] += e
            totals[c][1] += net
    names = list(result["rows"][0]["truth"]) if result["rows"] else []
    print("\n| line | true crossings | " + " | ".join(f"{c} abs. error (relative)" for c in COUNTERS) + " |")
    print("|---|---|" + "---|" * len(COUNTERS))
    for name in names:
        true_line = sum(sum(row["truth"][name].values()) for row in result["rows"])
        cells = []
        for c in COUNTERS:
            e = sum(abs(row["counts"][c][name][d] - row["truth"][name][d]) for row in result["rows"]
                    for d in DIRECTIONS)
            cells.append(f"{e} ({100 * e / true_line:.0f}%)" if true_line else f"{e} (-)")
        print(f"| {name} | {true_line} | " + " | ".join(cells) + " |")
    print("\n| counter | true crossings | total abs. error | relative | net (counted - true) |\n|---|---|---|---|---|")
    for c in COUNTERS:
        e, net = totals[c]
        print(f"| {c} | {true_total} | {e} | {100 * e / max(true_total, 1):.1f}% | {net:+d} |")
    return {"true": true_total, **{c: {"abs_error": totals[c][0], "net": totals[c][1]} for c in COUNTERS}}


def sweep(results: list[dict], args) -> None:
    """Total absolute error of vidgru's analytics under other rules, on the data sets given."""
    print("\n| hysteresis | confirm_frames | link_s | total abs. error |\n|---|---|---|---|")
    base = analytics_spec(lines=LINES)
    for hyst, confirm, link in itertools.product(args.hysteresis, args.confirm_frames, args.link_s):
        spec = replace(base, hysteresis=hyst, confirm_frames=confirm, link_s=link)
        err = 0
        for result in results:
            for row in result["rows"]:
                err += error(vidgru_counts(row["frames"], spec, row["size"], TrackSettings().max_lost_s),
                             row["truth"])[0]
        print(f"| {hyst} | {confirm} | {link} | {err} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="mot17,dancetrack,mot15")
    parser.add_argument("--out", default=None, help="write the per-line results as JSON here")
    parser.add_argument("--sweep", action="store_true", help="also print the error of other analytics rules")
    parser.add_argument("--hysteresis", type=lambda s: [float(v) for v in s.split(",")], default=[0, 0.02, 0.05, 0.1],
                        help="--sweep: hysteresis values (fractions of the box height)")
    parser.add_argument("--confirm-frames", type=lambda s: [int(v) for v in s.split(",")], default=[1, 3, 5])
    parser.add_argument("--link-s", type=lambda s: [float(v) for v in s.split(",")], default=[0, 1, 2])
    args = parser.parse_args()
    direction_map = _peer_direction_map()
    results, summary = [], {}
    for name in args.datasets.split(","):
        result = run_dataset(name, DATASETS[name], args, direction_map)
        summary[name] = print_dataset(result)
        results.append(result)
    if len(results) > 1:
        print("\n**all data sets**\n\n| counter | true crossings | total abs. error | relative | net |")
        print("|---|---|---|---|---|")
        true_total = sum(s["true"] for s in summary.values())
        for c in COUNTERS:
            e = sum(s[c]["abs_error"] for s in summary.values())
            net = sum(s[c]["net"] for s in summary.values())
            print(f"| {c} | {true_total} | {e} | {100 * e / max(true_total, 1):.1f}% | {net:+d} |")
    if args.sweep:
        sweep(results, args)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        payload = {"summary": summary, "datasets": [{**r, "rows": [{k: v for k, v in row.items() if k != "frames"}
                                                                   for row in r["rows"]]} for r in results]}
        Path(args.out).write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
