"""Video sources: open a video file, an image folder or glob, a webcam or a stream, and yield RGB frames.

Every source gives :class:`~vidgru.types.Frame` records: ``image`` is (H, W, 3) uint8 **RGB** (OpenCV's BGR is
converted in :func:`vidgru.video.frames.to_rgb`, exactly once), ``index`` is the 0-based index of the decoded
frame in the source (before any sampling) and ``timestamp_s`` is its time in seconds from the start of the
source (strictly increasing).

Decoding runs in a background thread that fills a bounded queue, so decoding overlaps the caller's work and
memory stays bounded however long the video is. Live sources (webcams, RTSP/RTMP) keep only the newest frame
so the caller never lags behind the camera.

Example::

    from vidgru.video import VideoSource, expand_inputs

    for path in expand_inputs(["clips/", "cam.mp4"]):
        with VideoSource(path, sample_fps=5, max_size=640) as src:
            print(src.info)
            for frame in src:
                ...  # frame.image: (H, W, 3) uint8 RGB, frame.timestamp_s: seconds

The modules, in the order a frame passes through them:

- :mod:`~vidgru.video.inputs`: what an input names, and ``expand_inputs``/``is_live_source``;
- :mod:`~vidgru.video.source`: ``VideoSource``, the facade that picks one of the backends below;
- :mod:`~vidgru.video.file`, :mod:`~vidgru.video.images`, :mod:`~vidgru.video.live`: one backend per source
  kind (container files; image folders and globs; cameras and streams), sharing :mod:`~vidgru.video.capture`
  (opening an OpenCV capture);
- :mod:`~vidgru.video.frames`: sampling, downscaling and the conversion to RGB;
- :mod:`~vidgru.video.reader`: the reader thread and its prefetch queue.

OpenCV is imported lazily (inside the functions that need it) so ``import vidgru`` stays fast.
"""

from __future__ import annotations

from vidgru.video.capture import CaptureLike
from vidgru.video.inputs import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    expand_inputs,
    is_live_source,
    natural_sort_key,
)
from vidgru.video.source import VideoSource, read_frames

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "CaptureLike",
    "VideoSource",
    "expand_inputs",
    "is_live_source",
    "natural_sort_key",
    "read_frames",
]
