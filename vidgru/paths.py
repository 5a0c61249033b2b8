"""Where vidgru keeps things: the user cache and the models shipped inside the package.

A leaf module (standard library only): any stage may import it. Nothing here creates folders.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

CLIP_MODEL = "camera_motion.pt"  # the default clip classifier (`vidgru classify` without --model)
STATE_MODEL = "motion_gru.pt"  # the default track-state model (`vidgru track --state-model gru`)
SHOT_MODEL = "shot_detector.pt"  # the default shot-boundary detector (`vidgru shots`, `vidgru classify`)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/vidgru`` (``~/.cache/vidgru``): embeddings and exported ONNX models live below it."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidgru"


def embedding_cache_dir() -> Path:
    """``$VIDGRU_CACHE`` or ``<cache_root>/embeddings``."""
    if os.environ.get("VIDGRU_CACHE"):
        return Path(os.environ["VIDGRU_CACHE"]).expanduser()
    return cache_root() / "embeddings"


def shipped_model(name: str) -> Path:
    """The path of a model file shipped in the package (``vidgru/models/<name>``), whether or not it exists."""
    return Path(str(resources.files("vidgru") / "models" / name))
