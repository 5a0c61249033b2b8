"""Synthetic camera-motion clips: a virtual camera (a crop window) moving over real footage.

vidgru's default clip classifier recognises camera motion in the classes of :data:`CAMERA_MOTION_CLASSES`.
Real labelled footage of every kind of move is scarce, so training clips are made by moving a crop window over
real videos and photos. The definitions are from the camera's point of view:

============  ========================================================================================
class         what the viewer sees
============  ========================================================================================
static        the camera does not move (objects in the scene may)
pan_left      the camera turns left: scene content moves RIGHT across the frame
pan_right     the camera turns right: content moves LEFT
tilt_up       the camera points up: content moves DOWN
tilt_down     the camera points down: content moves UP
zoom_in       the view narrows: content grows about the centre
zoom_out      the view widens: content shrinks
shake         hand-held jitter with no steady direction
============  ========================================================================================

The pieces, in the order data flows::

    sample_move(label, duration_s, rng)  ->  CameraMove      (source-independent: speeds in crop widths/s)
    plan_camera_path(moves, ...)         ->  CameraPath      (crop window per output frame, in source pixels)
    render_clip(source, path, ...)       ->  frames          ((H, W, 3) uint8 RGB, mildly degraded)
    generate_camera_motion_dataset(...)  ->  out_dir/<class>/<clip>.mp4 + manifest.jsonl

:func:`sample_camera_path` is the one-call version for a single-class clip, and :func:`render_sequence`
renders one continuous clip whose motion changes from segment to segment (the window carries on from where it
was).

The modules: :mod:`~vidgru.train.synth.camera` (moves and camera paths), :mod:`~vidgru.train.synth.render`
(filming a source through a path, degradations) and :mod:`~vidgru.train.synth.dataset` (reading sources,
writing clips and the manifest). Everything is deterministic given the seeds.
"""

from __future__ import annotations

from vidgru.train.synth.camera import (
    CAMERA_MOTION_CLASSES,
    EASINGS,
    CameraMove,
    CameraPath,
    plan_camera_path,
    sample_camera_path,
    sample_move,
)
from vidgru.train.synth.dataset import (
    DEFAULT_FPS_CHOICES,
    DEFAULT_OUT_SIZES,
    generate_camera_motion_dataset,
    load_source_frames,
    write_clip,
)
from vidgru.train.synth.render import (
    Degradations,
    apply_degradations,
    render_clip,
    render_sequence,
    sample_degradations,
)

__all__ = [
    "CAMERA_MOTION_CLASSES",
    "DEFAULT_FPS_CHOICES",
    "DEFAULT_OUT_SIZES",
    "EASINGS",
    "CameraMove",
    "CameraPath",
    "Degradations",
    "apply_degradations",
    "generate_camera_motion_dataset",
    "load_source_frames",
    "plan_camera_path",
    "render_clip",
    "render_sequence",
    "sample_camera_path",
    "sample_degradations",
    "sample_move",
    "write_clip",
]
