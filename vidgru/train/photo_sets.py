"""Real labelled photo sets for measuring image models, written as ``<out>/<class>/<name>.png`` folders.

Fashion-MNIST (Zalando Research, MIT licence): 70,000 grey-scale 28 x 28 photographs of Zalando's articles in
10 classes, 60,000 for training and 10,000 for testing. It is read in place from the IDX files of the Debian
package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``; ``apt-get install
dataset-fashion-mnist``) or any folder holding the four ``*-idx*-ubyte.gz`` files.

- :func:`write_categories`: a class-balanced slice of one split, in its 10 classes.
- :func:`write_arrangement`: a task where only the spatial arrangement tells the classes apart. Each image
  holds two real articles, one item of footwear (sandal, sneaker, ankle boot) and one top (T-shirt/top,
  pullover, coat, shirt), each mirrored left-right at random, on a black canvas; the class says which side the
  footwear is on (``footwear_left`` or ``footwear_right``). Both classes hold the same kind of content.
  ``placement="fixed"``: a 28 x 56 canvas, the two articles side by side, filling it. ``placement="random"``:
  an 84 x 84 canvas, each article at a random place inside its own half (so neither the distance to the border
  nor to the other article says which side is which).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vidgru.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                         "ankle_boot")
FOOTWEAR = (5, 7, 9)
TOPS = (0, 2, 4, 6)
ARRANGEMENT_CLASSES = ("footwear_left", "footwear_right")


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST family's format, optionally gzipped) as a uint8 array of its dimensions."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"cannot read {path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"cannot read {path}: {body.size} values for dimensions {dims}")
    return body.reshape(dims)


def load_fashion_mnist(split: str, root: str | Path = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """``split`` ``train`` or ``test`` -> (images (N, 28, 28) uint8 grey, labels (N,) uint8).

    Raises:
        DatasetError: the files are not there (naming the package that installs them) or are damaged.
    """
    prefix = {"train": "train", "test": "t10k"}[split]
    root = Path(root)
    images, labels = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not images.is_file() or not labels.is_file():
        raise DatasetError(f"Fashion-MNIST not found in {root} (expected {images.name} and {labels.name}); "
                           "install it with: apt-get install dataset-fashion-mnist")
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"Fashion-MNIST in {root}: images {x.shape} and labels {y.shape} do not match")
    return x, y


def _pick(labels: np.ndarray, classes, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random images of each class (the first ``per_class`` of a fixed shuffle)."""
    out = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DatasetError(f"only {len(members)} images of class {c}, asked for {per_class}")
        out.append(rng.permutation(members)[:per_class])
    return np.concatenate(out)


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise DatasetError(f"cannot write {path}")


def write_categories(out: str | Path, split: str, per_class: int, *, seed: int = 0,
                     root: str | Path = FASHION_MNIST_DIR) -> int:
    """Write ``per_class`` images of each of the 10 classes of ``split`` as ``out/<class>/<split>_<index>.png``
    (grey 28 x 28, the data set's own pixels; the index is the image's position in the split). Returns the
    number of images written."""
    x, y = load_fashion_mnist(split, root)
    picked = _pick(y, range(len(FASHION_MNIST_CLASSES)), per_class, np.random.default_rng(seed))
    for i in picked:
        _write_png(Path(out) / FASHION_MNIST_CLASSES[y[i]] / f"{split}_{i:05d}.png", x[i])
    return len(picked)


def arrangement_image(footwear: np.ndarray, top: np.ndarray, footwear_left: bool, rng: np.random.Generator, *,
                      placement: str = "fixed") -> np.ndarray:
    """Two (28, 28) grey items, each mirrored left-right with probability 1/2 -> one canvas: (28, 56) with the
    items side by side (``fixed``) or (84, 84) with each item at a random place in its half (``random``)."""
    items = [img[:, ::-1] if rng.random() < 0.5 else img for img in (footwear, top)]
    left, right = items if footwear_left else items[::-1]
    if placement == "fixed":
        return np.ascontiguousarray(np.concatenate([left, right], axis=1))
    if placement != "random":
        raise ValueError(f"placement: {placement!r} is not fixed or random")
    canvas = np.zeros((84, 84), np.uint8)
    for half, item in ((0, left), (42, right)):
        y, x = int(rng.integers(0, 84 - 28 + 1)), half + int(rng.integers(0, 42 - 28 + 1))
        canvas[y:y + 28, x:x + 28] = item
    return canvas


def write_arrangement(out: str | Path, split: str, per_class: int, *, seed: int = 0,
                      root: str | Path = FASHION_MNIST_DIR, placement: str = "fixed") -> int:
    """Write ``per_class`` canvases of each arrangement class (:data:`ARRANGEMENT_CLASSES`) built from the images
    of ``split`` as ``out/<class>/<split>_<footwear index>_<top index>.png``. Every source image is used at most
    once, so no article appears in two canvases. Returns the number of images written."""
    x, y = load_fashion_mnist(split, root)
    rng = np.random.default_rng(seed)
    n = 2 * per_class
    shoes = rng.permutation(np.flatnonzero(np.isin(y, FOOTWEAR)))[:n]
    tops = rng.permutation(np.flatnonzero(np.isin(y, TOPS)))[:n]
    if len(shoes) < n or len(tops) < n:
        raise DatasetError(f"not enough images in {split} for {per_class} canvases per class")
    for k, (s, t) in enumerate(zip(shoes, tops)):
        left = k < per_class
        name = ARRANGEMENT_CLASSES[0 if left else 1]
        _write_png(Path(out) / name / f"{split}_{s:05d}_{t:05d}.png", arrangement_image(x[s], x[t], left, rng,
                                                                                        placement=placement))
    return n
