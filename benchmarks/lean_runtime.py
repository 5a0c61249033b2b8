"""Start-up time and memory of `vidgru classify`: an exported model (ONNX Runtime, no torch) against the .pt
checkpoint (PyTorch loaded, the trunk in ONNX Runtime), measured side by side in one run, each in fresh processes.

- start-up: seconds from launching the process to the first decoded frame, doing what `vidgru classify` does
  (import the command line, build the classifier, open the video, read one frame); best of ``--repeats``;
- peak RSS of `vidgru classify VIDEO` (the whole command, a fresh process each, ``ru_maxrss``);
- with ``--long N``: memory of the exported model over a long stream: the live classification loop
  (``ClipClassifier.stream``, what `vidgru classify` does for a camera or stream) over N sampled frames, read
  from an image sequence that repeats the video's frames; RSS is printed every ``N/10`` frames, and the growth
  from the first report to the last.

    python benchmarks/lean_runtime.py --export DIR [--model MODEL.pt] [--video PATH] [--repeats 3] [--long 20000]

``DIR`` is the output of `vidgru export MODEL.pt --out DIR` (default MODEL: the shipped camera-motion model).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_VIDEO = Path(__file__).resolve().parents[1] / "../shared/data/opencv_samples/samples/data/vtest.avi"
REPO = Path(__file__).resolve().parents[1]

STARTUP = """
import sys, time
launched = float(sys.argv[1])
import vidgru.cli  # what `vidgru` imports before running the command
from vidgru.classify import ClipClassifier
from vidgru.video import VideoSource
clf = ClipClassifier.from_path(sys.argv[2] if sys.argv[2] != "-" else None)
with VideoSource(sys.argv[3], sample_fps=clf.sample_fps) as src:
    next(iter(src))
print(time.time() - launched, "torch" in sys.modules)
"""

LONG = """
import sys
from vidgru.classify import ClipClassifier
clf = ClipClassifier.from_path(sys.argv[1] if sys.argv[1] != "-" else None)
total, every = int(sys.argv[3]), max(1, int(sys.argv[3]) // 10)
page = __import__("os").sysconf("SC_PAGE_SIZE")
seen = 0
for window in clf.stream(sys.argv[2], fps=clf.sample_fps):
    before, seen = seen, seen + round(clf.stride_s * clf.sample_fps)
    if seen // every != before // every or seen >= total:
        rss = int(open("/proc/self/statm").read().split()[1]) * page / 2**20
        print(f"{seen} {rss:.1f}", flush=True)
    if seen >= total:
        break
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def startup_s(model: str, video: str) -> tuple[float, bool]:
    out = subprocess.run([sys.executable, "-c", STARTUP, repr(time.time()), model, video], capture_output=True,
                         text=True, env=_env(), check=True).stdout.split()
    return float(out[0]), out[1] == "True"


def peak_rss_mb(model: str, video: str) -> float:
    """Peak RSS of one `vidgru classify VIDEO [--model MODEL]` process, in MiB."""
    args = [sys.executable, "-m", "vidgru", "classify", video, "-q"] + ([] if model == "-" else ["--model", model])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed ({status})")
    return usage.ru_maxrss / 1024


def long_stream(model: str, video: str, frames: int) -> list[tuple[int, float]]:
    """RSS (MiB) during live classification of ``frames`` sampled frames: [(frames so far, rss)]."""
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        stills = Path(tmp) / "stills"
        stills.mkdir()
        cap = cv2.VideoCapture(video)
        names = []
        while True:
            ok, image = cap.read()
            if not ok:
                break
            names.append(stills / f"{len(names):05d}.jpg")
            cv2.imwrite(str(names[-1]), image)
        seq = Path(tmp) / "seq"
        seq.mkdir()
        for i in range(frames + 64):  # the video's frames over and over: a long stream of real footage
            (seq / f"{i:06d}.jpg").symlink_to(names[i % len(names)])
        points = []
        with subprocess.Popen([sys.executable, "-c", LONG, model, str(seq), str(frames)], stdout=subprocess.PIPE,
                              text=True, env=_env()) as proc:
            for line in proc.stdout:
                points.append((int(line.split()[0]), float(line.split()[1])))
                print(f"  {points[-1][0]} frames: RSS {points[-1][1]:.0f} MiB", flush=True)
        if proc.returncode:
            raise SystemExit(f"the long-stream run failed ({proc.returncode})")
    return points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", required=True, help="folder written by `vidgru export`")
    ap.add_argument("--model", default="-", help="the .pt it was exported from (default: the shipped model)")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--long", type=int, default=0, help="also measure RSS over this many sampled frames")
    ap.add_argument("--long-only", action="store_true", help="only the long-stream measurement")
    args = ap.parse_args()
    sides = {"exported (onnx, no torch)": args.export, "checkpoint (.pt)": args.model}
    if not args.long_only:
        best = {name: float("inf") for name in sides}
        rss = {name: 0.0 for name in sides}
        torch_loaded = {}
        for _ in range(args.repeats):  # interleaved, so a busy machine slows both alike
            for name, model in sides.items():
                seconds, torch_loaded[name] = startup_s(model, args.video)
                best[name] = min(best[name], seconds)
                rss[name] = max(rss[name], peak_rss_mb(model, args.video))
        print(f"video {Path(args.video).name}; best of {args.repeats} start-ups, peak RSS of the whole command")
        for name in sides:
            print(f"{name:28s} start-up to first frame {best[name]:5.2f} s   peak RSS {rss[name]:6.0f} MiB   "
                  f"torch imported: {torch_loaded[name]}")
        a, b = sides
        print(f"exported / checkpoint: start-up {best[a] / best[b]:.2f}x, peak RSS {rss[a] / rss[b]:.2f}x")
    if args.long:  # the exported model only: the lean runtime is what long-running deployments use
        name, model = next(iter(sides.items()))
        points = long_stream(model, args.video, args.long)
        print(f"{name}: RSS over {args.long} sampled frames (live loop): "
              + ", ".join(f"{n}: {r:.0f}" for n, r in points)
              + f" MiB; growth after the first report {points[-1][1] - points[0][1]:+.1f} MiB")


if __name__ == "__main__":
    main()
