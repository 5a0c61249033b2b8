"""Image sequences: a folder of images, a glob pattern or a single image file, read in natural order
(``frame2`` before ``frame10``) at the user's fps or :data:`~vidgru.video.frames.DEFAULT_FPS`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from vidgru.errors import VideoOpenError
from vidgru.types import Frame
from vidgru.video.frames import DEFAULT_FPS, OpenedSource, ReadOptions, Sampler, to_rgb
from vidgru.video.guard import opencv_can_take
from vidgru.video.inputs import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, check_file, glob_files, image_files_in, is_glob
from vidgru.video.reader import Channel, End

logger = logging.getLogger(__name__)


def read_image(path: Path) -> np.ndarray | None:
    """Decode one image file as OpenCV's ``imread(IMREAD_COLOR)`` does (BGR); None when it does not decode.
    Names that are not valid UTF-8 (which crash ``imread``) are read by Python and decoded from memory."""
    import cv2

    text = str(path)
    if opencv_can_take(text):
        return cv2.imread(text, cv2.IMREAD_COLOR)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


class ImageSequence:
    """The images named by ``target`` (a folder, a glob or one file) as frames ``index / fps`` s apart.

    Frames that sampling skips, and those before ``start_frame``, are not read from disk. An image that does
    not decode raises VideoOpenError (``strict``) or is skipped with a warning.
    """

    def __init__(self, target: str, name: str, options: ReadOptions) -> None:
        self.target = target
        self.name = name
        self.options = options
        self.decoded_frames = 0
        self.opened: OpenedSource | None = None
        self._files: list[Path] = []
        self._first: np.ndarray | None = None

    def _list_files(self) -> list[Path]:
        target = self.target
        path = Path(target).expanduser()
        if path.is_dir():
            files = image_files_in(path)
            if not files:
                if any(p.suffix.lower() in VIDEO_EXTENSIONS for p in path.iterdir()):
                    raise VideoOpenError(
                        f"cannot open {target}: the folder holds videos, not images; give the videos "
                        f"themselves as inputs, or run `vidgru batch {target}` for a folder of many videos"
                    )
                raise VideoOpenError(
                    f"cannot open {target}: no images found (extensions: {', '.join(IMAGE_EXTENSIONS)})"
                )
            return files
        if is_glob(target) and not path.exists():
            files = [p for p in glob_files(target) if p.suffix.lower() in IMAGE_EXTENSIONS]
            if not files:
                raise VideoOpenError(
                    f"cannot open {target}: no images match the pattern "
                    f"(extensions: {', '.join(IMAGE_EXTENSIONS)})"
                )
            return files
        check_file(str(path))  # a single image file
        return [path]

    def open(self) -> OpenedSource:
        """List the images and decode the first.

        Raises:
            VideoOpenError: nothing to read, or the first image does not decode.
        """
        files = self._list_files()
        first = read_image(files[0])
        if first is None:
            empty = files[0].stat().st_size == 0
            reason = "file is empty (0 bytes)" if empty else "not an image OpenCV can decode"
            raise VideoOpenError(f"cannot open {files[0]}: {reason}")
        if self.options.fps is not None:
            fps, fps_source = self.options.fps, "user"
        else:
            fps, fps_source = DEFAULT_FPS, "default"
            logger.warning("%s: images have no frame rate; assuming %.0f frames/s for timestamps (set it with "
                           "--fps, or fps= in Python)", self.name, fps)
        self._files = files
        self._first = first
        height, width = first.shape[:2]
        self.opened = OpenedSource(width=width, height=height, fps=float(fps), fps_source=fps_source,
                                   frame_count=len(files))
        return self.opened

    def read(self, channel: Channel, stop: threading.Event) -> None:
        """The reader thread's loop: read, sample and convert the images in order."""
        assert self.opened is not None and self._first is not None, "open() first"
        opts = self.options
        fps = self.opened.fps
        sampler = Sampler(every_n=opts.every_n, sample_fps=opts.sample_fps, source_fps=fps)
        first, self._first = self._first, None
        emitted = 0
        for index, path in enumerate(self._files):
            if stop.is_set():
                return
            if opts.max_frames is not None and emitted >= opts.max_frames:
                break
            timestamp = index / fps
            if index < opts.start_frame or not sampler.keep(index - opts.start_frame, timestamp):
                continue  # not even read from disk
            image = first if index == 0 else read_image(path)
            self.decoded_frames = index + 1
            if image is None:
                message = (
                    f"cannot read {path}: not an image OpenCV can decode "
                    f"(frame {index} of {len(self._files)})"
                )
                if opts.strict:
                    raise VideoOpenError(message)
                logger.warning("%s; skipped", message)
                continue
            if not channel.put(Frame(index, timestamp, to_rgb(image, opts.max_size))):
                return
            emitted += 1
        channel.put(End())

    def release(self) -> None:
        """Drop the first image if it was never handed out (nothing else is held open)."""
        self._first = None
