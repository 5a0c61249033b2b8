"""Input that could crash OpenCV itself: a segfault or an abort in the decoder takes the whole process with
it, with no message and nothing saved. Two cases are known and kept away from OpenCV here:

- **File names that are not valid UTF-8** (``b"clip\\xff.mp4"``, which Python holds as ``"clip\\udcff.mp4"``):
  OpenCV's Python binding cannot convert them and crashes in ``VideoCapture``/``imread``. Such a file is opened
  through a symbolic link with an ASCII name (:class:`OpenCvPath`), or refused with one line where links
  cannot be made.
- **Uncompressed (DIB/raw RGB) AVI video**: OpenCV's FFmpeg reader corrupts its heap on bottom-up DIB frames
  and aborts. Such files are decoded first in a child process (:func:`probe_decode`); a child killed by a
  signal becomes a VideoOpenError.

Why only sniffed formats are probed: a probe starts a Python with OpenCV (measured 0.17 s on an idle
2-core machine, several times that on a busy one), which for a folder of short clips would be a large share
of the work. Reading the container's header to find the formats known to crash costs a few kilobytes of
reading, so every file is sniffed and only the risky ones pay for the probe. Inputs whose decoder crashes in
another way are not caught here; ``vidgru batch`` decodes in worker processes and survives them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

from vidgru.errors import VideoOpenError

logger = logging.getLogger(__name__)

PROBE_FRAMES = 5  # frames the child decodes: the known crashes happen on the first
PROBE_TIMEOUT_S = 60.0  # a child that decodes 5 frames for longer than this has hung
_SNIFF_BYTES = 64 * 1024  # the AVI header list (hdrl) comes first and is small

# BITMAPINFOHEADER biCompression values (and the FourCCs some writers put there) for uncompressed RGB frames.
_UNCOMPRESSED = {0, 3}  # BI_RGB, BI_BITFIELDS
_UNCOMPRESSED_FOURCCS = {b"DIB ", b"RGB ", b"RAW "}

_PROBE_CODE = """
import sys
import cv2
cap = cv2.VideoCapture(sys.argv[1])
for _ in range(int(sys.argv[2])):
    if not cap.isOpened() or not cap.read()[0]:
        break
cap.release()
"""


def opencv_can_take(path: str) -> bool:
    """Whether OpenCV's binding can take ``path`` as it is: it must encode to UTF-8 (a name read from disk
    with bytes that are not UTF-8 holds lone surrogates, which make OpenCV crash)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class OpenCvPath:
    """A name OpenCV can open for ``path``: the path itself, or a symbolic link with an ASCII name in a new
    temporary folder when ``path`` is not valid UTF-8. :meth:`remove` deletes the link (idempotent).

    Raises:
        VideoOpenError: the name is not valid UTF-8 and no link can be made (then rename the file).
    """

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self._folder: str | None = None
        if opencv_can_take(path):
            return
        suffix = os.path.splitext(path)[1]
        suffix = suffix if opencv_can_take(suffix) and suffix.isascii() else ""
        try:
            folder = tempfile.mkdtemp(prefix="vidgru-name-")
        except OSError as exc:
            raise VideoOpenError(_not_utf8(name, exc)) from None
        self._folder = folder
        link = os.path.join(folder, "input" + suffix)
        try:
            os.symlink(os.path.abspath(path), link)
        except OSError as exc:
            self.remove()
            raise VideoOpenError(_not_utf8(name, exc)) from None
        if not opencv_can_take(link):  # a temporary folder whose own name is not UTF-8
            self.remove()
            raise VideoOpenError(_not_utf8(name, None))
        self.path = link
        logger.debug("%s: name is not valid UTF-8; opened through %s", name, link)

    def remove(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _not_utf8(name: str, exc: OSError | None) -> str:
    why = f" and no link with a valid name could be made ({exc.strerror})" if exc is not None else ""
    return f"cannot open {name}: the file name is not valid UTF-8{why}; rename the file"


def crash_prone_format(path: str) -> str | None:
    """Why decoding ``path`` is known to be able to crash OpenCV (a short description), or None. Reads only
    the first 64 KB: an AVI (RIFF) file whose video stream holds uncompressed RGB (DIB) frames."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return None  # the open that follows reports it
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    at = head.find(b"strh")
    while at != -1:
        # Each stream header (strh, whose type is "vids" for video) is followed by its format (strf): for
        # video a BITMAPINFOHEADER (biSize, biWidth, biHeight, biPlanes, biBitCount, biCompression).
        fmt = head.find(b"strf", at + 8)
        if head[at + 8: at + 12] == b"vids" and fmt != -1:
            header = head[fmt + 8: fmt + 28]
            if len(header) == 20:
                size, _, height, _, bits, compression = struct.unpack("<IiiHHI", header)
                if size >= 40 and (compression in _UNCOMPRESSED or header[16:20] in _UNCOMPRESSED_FOURCCS):
                    order = "bottom-up" if height > 0 else "top-down"
                    return f"uncompressed {order} DIB video in an AVI file"
        at = head.find(b"strh", at + 4)
    return None


def probe_decode(path: str, name: str, reason: str) -> None:
    """Decode the first frames of ``path`` in a child process, so that a decoder crash kills the child, not
    the caller. ``path`` must be a name OpenCV can take; ``name`` is the input in messages and ``reason`` why
    the file is probed (from :func:`crash_prone_format`).

    Raises:
        VideoOpenError: the child was killed by a signal (the decoder crashed) or hung for 60 s.
    """
    env = {**os.environ, "OPENCV_LOG_LEVEL": "OFF", "OPENCV_FFMPEG_LOGLEVEL": "-8"}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE_CODE, path, str(PROBE_FRAMES)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, timeout=PROBE_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise VideoOpenError(
            f"cannot open {name}: the decoder hung on it ({reason}; no frame within {PROBE_TIMEOUT_S:g} s); "
            "convert it to another format, e.g. mp4"
        ) from None
    except OSError as exc:  # no child can be started: decode in this process, as without the check
        logger.debug("%s: cannot start the decoding check (%s); skipped", name, exc)
        return
    if result.returncode < 0:
        try:
            signame = signal.Signals(-result.returncode).name
        except ValueError:
            signame = f"signal {-result.returncode}"
        raise VideoOpenError(
            f"cannot open {name}: the decoder crashed on it ({signame}; {reason}, which OpenCV cannot read); "
            "convert it to another format, e.g. mp4"
        )
