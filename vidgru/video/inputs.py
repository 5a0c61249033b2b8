"""Input discovery: what a command-line input names (a file, an image folder or glob, a camera, a stream) and
which single-stream sources it expands to.

Nothing here decodes a frame; :class:`~vidgru.video.VideoSource` opens what these functions return.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from vidgru.errors import VideoOpenError

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif", ".ts",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# URL schemes taken as streams; the first group is live by default (keep only the newest frame).
LIVE_URL_SCHEMES: tuple[str, ...] = ("rtsp", "rtsps", "rtmp", "rtmps")
URL_SCHEMES: tuple[str, ...] = (*LIVE_URL_SCHEMES, "http", "https")

SourceLike = str | int | os.PathLike


def natural_sort_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame2.jpg`` before ``frame10.jpg``.

    Text parts compare case-insensitively; the original string breaks ties so the order is total.
    """
    parts = re.split(r"([0-9]+)", text)
    # re.split with a capture group alternates text (even positions) and digits (odd positions), so the
    # compared elements always have the same type.
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), text


def url_scheme(text: str) -> str | None:
    """The lower-case scheme of a stream URL (one of :data:`URL_SCHEMES`), else None."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if match and match.group(1).lower() in URL_SCHEMES:
        return match.group(1).lower()
    return None


def redact(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` so it never reaches logs or error messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _is_camera_index(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text.strip()) is not None


# OpenCV takes the camera index as a C int.
MAX_CAMERA_INDEX = 2**31 - 1


def camera_index(value: int | str) -> int:
    """A camera index (an int or a digit string) checked against what OpenCV can take.

    Raises:
        VideoOpenError: a negative index or one beyond a C int ("no camera ...").
    """
    index = int(str(value).strip()) if isinstance(value, str) else value
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise VideoOpenError(f"no camera {value}: camera indices are 0 to {MAX_CAMERA_INDEX}")
    return index


def is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _is_hidden(name: str) -> bool:
    # Skips .git, .cache and macOS "._clip.mp4" resource forks (which OpenCV cannot decode).
    return name.startswith(".")


def _normalise_extensions(extensions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = [extensions]
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)


def image_files_in(folder: Path) -> list[Path]:
    """The images directly in ``folder`` (hidden files skipped), in natural order."""
    files = [
        p for p in folder.iterdir()
        if p.is_file() and not _is_hidden(p.name) and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def glob_files(pattern: str) -> list[Path]:
    """The files matching ``pattern`` (``~`` expanded, ``**`` recursive), in natural order."""
    matches = (Path(m) for m in glob.glob(os.path.expanduser(pattern), recursive=True))
    return sorted((p for p in matches if p.is_file()), key=lambda p: natural_sort_key(str(p)))


def check_file(path: str) -> None:
    """Raise VideoOpenError for a path that cannot be a readable video file."""
    p = Path(path)
    if not p.exists():
        raise VideoOpenError(f"cannot open {path}: no such file or directory")
    if not p.is_file():
        raise VideoOpenError(f"cannot open {path}: not a regular file")
    if p.stat().st_size == 0:
        raise VideoOpenError(f"cannot open {path}: file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise VideoOpenError(f"cannot open {path}: permission denied")


def classify_source(source: SourceLike) -> tuple[str, str | int, str]:
    """(kind, what to open, name for messages) for a VideoSource input; kind is ``"file"``, ``"images"``,
    ``"camera"`` or ``"stream"``.

    Raises:
        TypeError: not a path, URL or camera index.
        VideoOpenError: a camera index that is negative or beyond what OpenCV can take.
    """
    if isinstance(source, bool):
        raise TypeError(f"expected a path, URL or camera index, got {source!r}")
    if isinstance(source, int):
        source = camera_index(source)
        return "camera", source, f"camera {source}"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path, URL or camera index, got {type(source).__name__}")
    text = os.fspath(source)
    if _is_camera_index(text):
        index = camera_index(text)
        return "camera", index, f"camera {index}"
    if url_scheme(text):
        return "stream", text, redact(text)
    path = Path(text).expanduser()
    if path.is_dir():
        return "images", text, text
    if is_glob(text) and not path.exists():
        return "images", text, text
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "images", text, text
    return "file", str(path) if text.startswith("~") else text, text


def live_by_default(kind: str, target: str | int) -> bool:
    """Whether a source of this kind is read live unless the caller says: cameras and RTSP/RTMP URLs."""
    return kind == "camera" or (kind == "stream" and url_scheme(str(target)) in LIVE_URL_SCHEMES)


def is_live_source(source: SourceLike) -> bool:
    """True for inputs read live by default: camera indices and RTSP/RTMP URLs."""
    kind, target, _ = classify_source(source)
    return live_by_default(kind, target)


def expand_inputs(
    inputs: Sequence[str | Path | int] | str | Path | int,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    recursive: bool = True,
) -> list[str]:
    """Turn command-line inputs into a list of single-stream sources, each one a valid ``VideoSource`` input.

    - a video file -> itself (any extension: OpenCV decides at open);
    - a folder -> every video under it (recursive unless ``recursive=False``, ``extensions`` compared
      case-insensitively, natural sort, hidden files and folders skipped); a folder with no videos -> each
      folder under it that directly holds images (``IMAGE_EXTENSIONS``), as one image sequence each (usually
      just the folder itself). In a folder with videos, folders of images are left out with one warning
      naming them (a folder of frames next to clips is as often thumbnails as a sequence to read);
    - a glob pattern (``*``, ``?`` or ``[``) -> itself when it matches images (one image sequence), or the
      matched videos (natural sort) when it matches videos;
    - a camera index (int or digit string) -> itself as a string;
    - an ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http(s)://`` URL -> itself.

    Duplicates are dropped (first occurrence kept).

    Raises:
        VideoOpenError: a path that does not exist, a glob that matches nothing, or a folder without videos
            or images.

    Example::

        >>> expand_inputs(["0", "rtsp://cam/live", "clips/"])  # doctest: +SKIP
        ['0', 'rtsp://cam/live', 'clips/a.mp4', 'clips/sub/b.avi']
    """
    if isinstance(inputs, (str, int, os.PathLike)):
        inputs = [inputs]  # a bare string is a Sequence too; never iterate its characters
    exts = _normalise_extensions(extensions)
    out: list[str] = []
    for item in inputs:
        out.extend(_expand_one(item, exts, recursive))
    return list(dict.fromkeys(out))


def _expand_one(item: str | Path | int, exts: tuple[str, ...], recursive: bool) -> list[str]:
    if isinstance(item, bool):
        raise TypeError(f"expected a path, URL or camera index, got {item!r}")
    if isinstance(item, int):
        return [str(camera_index(item))]
    text = os.fspath(item)
    if _is_camera_index(text):
        return [str(camera_index(text))]
    if url_scheme(text):
        return [text]
    path = Path(text).expanduser()
    if path.is_file():
        return [text]
    if path.is_dir():
        return _expand_folder(path, exts, recursive)
    if is_glob(text):
        matches = glob_files(text)
        videos = [str(p) for p in matches if p.suffix.lower() in exts]
        if videos:
            return videos
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in matches):
            return [text]
        raise VideoOpenError(
            f"cannot open {text}: the pattern matches no videos ({', '.join(exts)}) "
            f"and no images ({', '.join(IMAGE_EXTENSIONS)})"
        )
    raise VideoOpenError(f"cannot open {text}: no such file or directory")


def _expand_folder(folder: Path, exts: tuple[str, ...], recursive: bool) -> list[str]:
    videos: list[Path] = []
    image_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [] if not recursive else [d for d in dirnames if not _is_hidden(d)]
        for name in filenames:
            if _is_hidden(name):
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix in exts:
                videos.append(Path(dirpath, name))
            elif suffix in IMAGE_EXTENSIONS:
                image_dirs.add(Path(dirpath))
    if videos:
        if image_dirs:
            _warn_left_out_images(folder, image_dirs)
        return [str(p) for p in sorted(videos, key=lambda p: natural_sort_key(str(p)))]
    if image_dirs:
        return [str(p) for p in sorted(image_dirs, key=lambda p: natural_sort_key(str(p)))]
    where = "under" if recursive else "in"
    raise VideoOpenError(
        f"cannot open {folder}: no videos or images found {where} it "
        f"(video extensions: {', '.join(exts)}; image extensions: {', '.join(IMAGE_EXTENSIONS)})"
    )


def _warn_left_out_images(folder: Path, image_dirs: set[Path]) -> None:
    names = [str(p) for p in sorted(image_dirs, key=lambda p: natural_sort_key(str(p)))]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    own = " (images directly in the folder: a pattern such as 'DIR/*.jpg')" if folder in image_dirs else ""
    logger.warning(
        "%s: read its videos only; left out %d folder(s) of images: %s - to read one as an image sequence, give "
        "it as an input of its own%s", folder, len(names), shown, own,
    )
