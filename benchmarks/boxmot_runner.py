"""boxmot's trackers on MOTChallenge det.txt detections: a measuring peer for benchmarks/tracking.py.

boxmot is AGPL-3.0: it is never a vidgru dependency and never imported by vidgru or by tracking.py's own
process. This file runs in a separate virtual environment that has boxmot installed, and imports only boxmot,
numpy and the standard library (not vidgru). tracking.py starts it with ``--boxmot-python``.

Every tracker runs from detections alone, as the benchmark's other trackers do: no ReID embeddings
(``use_embeddings=False``, no ReID weights) and no camera-motion compensation (there are no images). The other
settings are boxmot's own defaults, the ones ``boxmot.create_tracker`` resolves from its tracker YAMLs
(``--defaults yaml``), or the tracker classes' keyword defaults (``--defaults class``).

For each sequence folder (seqinfo.ini + det/det.txt) it writes ``OUT/<PREFIX><tracker>/<seq>.txt`` (MOTChallenge:
``frame,id,x,y,w,h,score,-1,-1,-1``, 1-based frames) and times the ``update`` calls alone (detections already
in memory, no file writing), the fastest of ``--repeat`` interleaved runs. The last line of stdout is one JSON
object: versions, the tracker classes and options used, per-sequence frames and tracker-only seconds.

Usage:
    ../boxmot-venv/bin/python benchmarks/boxmot_runner.py --out runs/tracking/mot17 [--prefix boxmot-] \\
        [--trackers botsort,occluboost,hybridsort] [--repeat 3] [--defaults yaml] SEQ_DIR [SEQ_DIR ...]
"""

from __future__ import annotations

import argparse
import configparser
import importlib.metadata
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

# Detections only: no ReID model, no camera-motion compensation. (HybridSORT has no use_cmc switch; its CMC is
# off when cmc_method is None.)
DETECTIONS_ONLY = {
    "botsort": {"use_embeddings": False, "use_cmc": False},
    "occluboost": {"use_embeddings": False, "use_cmc": False},
    "hybridsort": {"use_embeddings": False, "cmc_method": None},
}
TAKES_FRAME_RATE = {"botsort"}  # trackers with a frame_rate argument get each sequence's own


def read_sequence(path: Path) -> tuple[str, float, list[np.ndarray]]:
    """Name, frame rate and per-frame (N, 6) [x1, y1, x2, y2, score, class 0] detections of a sequence folder."""
    info = configparser.ConfigParser()
    info.read(path / "seqinfo.ini")
    seq = info["Sequence"] if info.has_section("Sequence") else {}
    rows = np.loadtxt(path / "det" / "det.txt", delimiter=",", ndmin=2, usecols=range(7))
    frames = rows[:, 0].astype(int) - 1
    n = int(seq.get("seqLength", 0)) or int(frames.max(initial=-1)) + 1
    dets = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6], rows[:, 6], np.zeros(len(rows))].astype(np.float32)
    order = np.argsort(frames, kind="stable")
    frames, dets = frames[order], dets[order]
    cuts = np.searchsorted(frames, np.arange(n + 1))
    return seq.get("name", path.name), float(seq["frameRate"]), [dets[cuts[i]:cuts[i + 1]] for i in range(n)]


def tracker_options(name: str, fps: float) -> dict:
    options = dict(DETECTIONS_ONLY[name])
    if name in TAKES_FRAME_RATE:
        options["frame_rate"] = int(round(fps))
    return options


def make_tracker(name: str, options: dict, defaults: str):
    """A fresh tracker; returns (tracker, class path)."""
    if defaults == "yaml":
        from boxmot import create_tracker
        from boxmot.trackers.specs import TrackerSpec

        tracker = create_tracker(TrackerSpec(name=name, options=tuple(sorted(options.items()))))
    else:
        from boxmot.trackers.registry import _load_tracker_class, get_tracker_definition

        tracker = _load_tracker_class(get_tracker_definition(name))(**options)
    return tracker, f"{type(tracker).__module__}.{type(tracker).__qualname__}"


def run(tracker, frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    out = [tracker.update(d) for d in frames]  # (M, 8): x1, y1, x2, y2, id, conf, cls, det_ind
    return out, time.perf_counter() - t0


def write_mot(path: Path, results: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, r in enumerate(results):
        for x1, y1, x2, y2, tid, conf in np.asarray(r, dtype=np.float64).reshape(-1, 8)[:, :6]:
            lines.append(f"{i + 1},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{conf:.4g},-1,-1,-1\n")
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("".join(lines))
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+", help="MOTChallenge sequence folders (seqinfo.ini, det/det.txt)")
    ap.add_argument("--out", required=True, help="results go to OUT/<PREFIX><tracker>/<seq>.txt")
    ap.add_argument("--prefix", default="", help="put before the tracker names of the results folders")
    ap.add_argument("--trackers", default="botsort,occluboost,hybridsort")
    ap.add_argument("--repeat", type=int, default=3, help="time each tracker this many times; the fastest counts")
    ap.add_argument("--defaults", choices=("yaml", "class"), default="yaml",
                    help="boxmot's tuned YAML defaults (create_tracker) or the classes' keyword defaults")
    args = ap.parse_args()
    import boxmot
    import boxmot.utils  # sets up boxmot's logger
    from boxmot.trackers.registry import TRACKER_DEFINITIONS

    logging.getLogger("boxmot").setLevel(logging.WARNING)  # not each tracker's settings at every construction
    out = Path(args.out)
    names, skipped = [], {}
    for name in args.trackers.split(","):
        if name not in DETECTIONS_ONLY:
            skipped[name] = "not set up in boxmot_runner.py"
        elif name not in TRACKER_DEFINITIONS:
            skipped[name] = f"not in boxmot {boxmot.__version__}"
        else:
            names.append(name)
    classes: dict[str, str] = {}
    options: dict[str, dict] = {}
    seconds: dict[str, dict[str, float]] = {n: {} for n in names}
    frames_of: dict[str, int] = {}
    for seq_dir in args.sequences:
        seq, fps, frames = read_sequence(Path(seq_dir))
        frames_of[seq] = len(frames)
        best: dict[str, tuple[list, float]] = {}
        for _ in range(args.repeat):  # trackers take turns, so a busy moment of the machine hits all alike
            for name in names:
                opts = tracker_options(name, fps)
                tracker, classes[name] = make_tracker(name, opts, args.defaults)
                options.setdefault(name, {}).update({k: v for k, v in opts.items() if k != "frame_rate"})
                results, secs = run(tracker, frames)
                if name not in best or secs < best[name][1]:
                    best[name] = (results, secs)
        for name in names:
            write_mot(out / f"{args.prefix}{name}" / f"{seq}.txt", best[name][0])
            seconds[name][seq] = best[name][1]
        print(f"boxmot: {seq} done", file=sys.stderr, flush=True)
    for name in names:
        if name in TAKES_FRAME_RATE:
            options[name]["frame_rate"] = "each sequence's frameRate"
    versions = {p: importlib.metadata.version(p) for p in ("boxmot", "numpy")}
    print(json.dumps({"versions": versions, "defaults": args.defaults, "classes": classes, "options": options,
                      "frames": frames_of, "seconds": seconds, "skipped": skipped}))


if __name__ == "__main__":
    main()
