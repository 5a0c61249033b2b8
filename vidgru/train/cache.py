"""On-disk cache of per-frame embeddings, so each clip is decoded and embedded once.

An entry is keyed by the clip's *content* fingerprint (not its path or mtime: renaming or touching a file
keeps its entry; editing it does not), the embedder identity (backbone, weights id, spatial grid) and the
sampling settings. Entries are ``.npz`` files holding ``timestamps_s`` (N,) float64 and ``embeddings``
(N, D) float16, written atomically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidgru.classify import EmbeddedVideo, embed_video
from vidgru.errors import ConfigError
from vidgru.fileio import atomic_path, sha256_file, sha256_json, sha256_update_file
from vidgru.paths import cache_root, embedding_cache_dir  # noqa: F401  (cache_root: re-exported)

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$VIDGRU_CACHE`` or ``$XDG_CACHE_HOME/vidgru/embeddings`` (``~/.cache/vidgru/embeddings``)."""
    return embedding_cache_dir()


def content_fingerprint(path: str | Path) -> str:
    """sha256 of a file's bytes, or of every file (name + bytes) in an image folder, in sorted order."""
    p = Path(path)
    if not p.is_dir():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.iterdir() if q.is_file()):
        h.update(f.name.encode() + b"\0")
        sha256_update_file(h, f)
    return h.hexdigest()


@dataclass(frozen=True)
class CachedEmbeddings:
    timestamps_s: np.ndarray  # (N,) float64
    embeddings: np.ndarray  # (N, D) float32
    duration_s: float


class EmbeddingCache:
    """Get-or-compute store of :class:`CachedEmbeddings` under ``root``."""

    def __init__(self, root: str | Path | None = None) -> None:
        """Raises :class:`ConfigError` when ``root`` (or a folder above it) is a file, not a folder."""
        self.root = Path(root).expanduser() if root else default_cache_dir()
        for folder in (self.root, *self.root.parents):
            if folder.exists():
                if not folder.is_dir():
                    where = "" if folder == self.root else f" ({folder} is a file)"
                    raise ConfigError(f"cache_dir {self.root}: not a folder{where}; expected a folder for the "
                                      "embedding cache")
                break
        self.hits = 0
        self.misses = 0

    def key(self, path: str | Path, identity: dict, sampling: dict) -> str:
        meta = {"v": CACHE_VERSION, "content": content_fingerprint(path), "embedder": identity, "sampling": sampling}
        return sha256_json(meta, 40)

    def get_or_compute(self, path: str, embedder, *, sample_fps: float, max_frames: int | None) -> CachedEmbeddings:
        """Load the entry for ``path`` or compute it with ``embedder`` (raises VideoOpenError on bad input)."""
        sampling = {"sample_fps": sample_fps, "max_frames": max_frames}
        key = self.key(path, embedder.identity, sampling)
        entry = self.root / key[:2] / f"{key}.npz"
        if entry.is_file():
            try:
                with np.load(entry) as z:
                    self.hits += 1
                    return CachedEmbeddings(z["timestamps_s"], z["embeddings"].astype(np.float32),
                                            float(z["duration_s"]))
            except (OSError, ValueError, KeyError):
                entry.unlink(missing_ok=True)  # a damaged entry is recomputed, never trusted
        self.misses += 1
        video: EmbeddedVideo = embed_video(path, embedder, sample_fps=sample_fps, max_frames=max_frames)
        stored = video.embeddings.astype(np.float16)
        # What is returned is what later runs will load, so a run that fills the cache trains on the same
        # numbers as one that finds it full (and rebuilds give the same checkpoint either way).
        result = CachedEmbeddings(video.timestamps_s, stored.astype(np.float32), video.duration_s)
        try:
            with atomic_path(entry) as tmp:
                np.savez(tmp, timestamps_s=result.timestamps_s, embeddings=stored,
                         duration_s=np.float64(result.duration_s))
        except OSError as exc:
            raise ConfigError(f"cache_dir {self.root}: cannot write {entry.name} ({exc.strerror or exc})") from None
        return result

    # ------------------------------------------------------------------------------------ still images
    # An image's entry holds its cell map ``cells`` (grid*grid, C) float16, keyed by the image's content, the
    # embedder identity and how the image became the backbone's input (:func:`vidgru.regions.input_spec`).

    def image_key(self, path: str | Path, identity: dict, inputs: dict) -> str:
        meta = {"v": CACHE_VERSION, "content": sha256_file(path), "embedder": identity, "image": inputs}
        return sha256_json(meta, 40)

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def load_cells(self, key: str) -> np.ndarray | None:
        """The cached (grid*grid, C) float16 cells under ``key``, or None (a damaged entry is removed)."""
        entry = self._entry(key)
        if not entry.is_file():
            return None
        try:
            with np.load(entry) as z:
                cells = z["cells"]
        except (OSError, ValueError, KeyError):
            entry.unlink(missing_ok=True)
            return None
        self.hits += 1
        return cells

    def store_cells(self, key: str, cells: np.ndarray) -> np.ndarray:
        """Store (grid*grid, C) cells as float16 and return what later runs will load (float16)."""
        self.misses += 1
        stored = cells.astype(np.float16)
        entry = self._entry(key)
        try:
            with atomic_path(entry) as tmp:
                np.savez(tmp, cells=stored)
        except OSError as exc:
            raise ConfigError(f"cache_dir {self.root}: cannot write {entry.name} ({exc.strerror or exc})") from None
        return stored
