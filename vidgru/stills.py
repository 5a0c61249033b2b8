"""Still images: finding them and reading them into (H, W, 3) uint8 RGB, with the checks a photo classifier needs.

An image model (:mod:`vidgru.regions`) reads each image on its own, so a folder given to it means *many images*
(every image under it, recursively), unlike a clip model, for which a folder of images is one sequence.

:func:`read_image` accepts what real photo collections contain and refuses the rest with one
:class:`~vidgru.errors.ImageReadError` line naming the file:

- photos are turned as their EXIF orientation tag says (phone portraits are stored sideways);
- grey-scale (1 channel) is repeated to 3 channels; 4-channel images are composited over black (the alpha
  channel is a mask, not a colour); 16-bit and floating-point images are scaled to 8 bits;
- unreadable, empty, corrupt or truncated files, and files that are not images, are refused;
- images smaller than :data:`MIN_SIDE_PX` a side (too small for a 7 x 7 grid of regions to mean anything) and
  larger than :data:`MAX_PIXELS` (checked from the header, before anything is decoded) are refused.

The bytes are read by Python and decoded by ``cv2.imdecode``, so file names that are not valid UTF-8 are no
problem, and BGR is converted to RGB here, once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vidgru.errors import ImageReadError
from vidgru.video.inputs import IMAGE_EXTENSIONS, glob_files, is_glob, natural_sort_key

MIN_SIDE_PX = 16
MAX_PIXELS = 100_000_000  # 100 megapixels: ~300 MB decoded; larger files are almost always mistakes or bombs


def _header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation 1-8) from the file header without decoding the pixels (None when Pillow
    cannot tell)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib, a dependency
        return None
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the size is all we ask; we judge it ourselves
    try:
        with Image.open(path) as im:
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except Exception:  # noqa: BLE001 - a damaged EXIF block: take the pixels as stored
                orientation = 1
            return int(im.size[0]), int(im.size[1]), orientation if 1 <= orientation <= 8 else 1
    except Exception:  # noqa: BLE001 - not an image Pillow knows; OpenCV decides below
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H, W, C) the way the EXIF orientation tag says the photo is meant to be seen (phone
    cameras store portraits sideways and set this tag)."""
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    if orientation == 5:
        return img.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(img, k=-1)
    if orientation == 7:
        return img[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(img, k=1)
    return img


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        return (np.clip(np.nan_to_num(img, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    info = np.iinfo(img.dtype) if np.issubdtype(img.dtype, np.integer) else None
    if info is None:
        raise ValueError(f"pixel type {img.dtype}")
    scaled = (img.astype(np.float64) - info.min) / max(info.max - info.min, 1)
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def read_image(path: str | Path, *, min_side_px: int = MIN_SIDE_PX, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read one still image as (H, W, 3) uint8 RGB.

    Raises:
        ImageReadError: ``"cannot read image PATH: ..."``: no such file, not a regular file, empty, unreadable,
            not an image OpenCV can decode (corrupt, truncated or another kind of file), a channel count other
            than 1, 3 or 4, smaller than ``min_side_px`` or larger than ``max_pixels``.
    """
    import cv2

    p = Path(path)
    where = f"cannot read image {path}"
    if not p.exists():
        raise ImageReadError(f"{where}: no such file")
    if not p.is_file():
        raise ImageReadError(f"{where}: not a regular file")
    try:
        size = p.stat().st_size
        if size == 0:
            raise ImageReadError(f"{where}: the file is empty (0 bytes)")
        header = _header(p)
        if header is not None and header[0] * header[1] > max_pixels:
            raise ImageReadError(f"{where}: too large ({header[0]} x {header[1]} pixels, "
                                 f"{header[0] * header[1] / 1e6:.0f} MP; at most {max_pixels / 1e6:.0f} MP)")
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{where}: {exc.strerror or exc}") from None
    # UNCHANGED keeps alpha and 16 bits (and ignores EXIF orientation, applied below from the header).
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if len(data) else None
    if img is None or img.size == 0:
        raise ImageReadError(f"{where}: not a decodable image (corrupt, truncated or not an image file)")
    if img.ndim == 2:
        img = img[:, :, None]
    if header is not None:
        img = _orient(img, header[2])
    h, w, c = img.shape
    if h * w > max_pixels:
        raise ImageReadError(f"{where}: too large ({w} x {h} pixels; at most {max_pixels / 1e6:.0f} MP)")
    if min(h, w) < min_side_px:
        raise ImageReadError(f"{where}: too small ({w} x {h} pixels; at least {min_side_px} a side)")
    if c not in (1, 3, 4):
        raise ImageReadError(f"{where}: {c} channels, expected 1 (grey), 3 (colour) or 4 (colour + alpha)")
    try:
        img = _to_uint8(img)
    except ValueError as exc:
        raise ImageReadError(f"{where}: unsupported {exc}") from None
    if c == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if c == 4:  # composite over black: transparent pixels carry no colour of their own
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3].astype(np.float32) * alpha + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img[:, :, 2::-1])  # BGR -> RGB


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def images_under(folder: str | Path) -> list[Path]:
    """Every image file under ``folder``, recursively (hidden files and folders skipped), in natural order."""
    root = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(Path(dirpath) / f for f in filenames if not f.startswith(".") and is_image_file(f))
    return sorted(found, key=lambda p: natural_sort_key(str(p.relative_to(root))))


def expand_image_inputs(items: Iterable[str | Path]) -> tuple[list[str], list[tuple[str, str]]]:
    """Command-line inputs for an image model -> (image paths, [(input, reason)] for inputs that name none).

    A file is taken as it is (whatever its extension: :func:`read_image` decides), a folder means every image
    under it, recursively, and a quoted glob every image file it matches."""
    paths: list[str] = []
    failed: list[tuple[str, str]] = []
    for item in items:
        text = str(item)
        p = Path(text).expanduser()
        if p.is_dir():
            found = images_under(p)
            if not found:
                failed.append((text, f"cannot read images in {text}: no image files under it "
                                     f"(extensions: {', '.join(IMAGE_EXTENSIONS)})"))
            paths.extend(str(f) for f in found)
        elif p.exists() or not is_glob(text):
            paths.append(str(p))
        else:
            found = [f for f in glob_files(text) if is_image_file(f)]
            if not found:
                failed.append((text, f"cannot read images {text}: the pattern matches no image file"))
            paths.extend(str(f) for f in found)
    return paths, failed
