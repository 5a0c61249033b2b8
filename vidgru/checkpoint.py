"""The one convention for vidgru's model files: a dict saved with ``torch.save``, tagged with its format name and
format version (and the vidgru version that wrote it), written atomically and read with ``weights_only=True``.

Clip classifiers (:mod:`vidgru.temporal`) and track-state models (:mod:`vidgru.track.gru_motion`) both use it, so
both fail the same way: one :class:`~vidgru.errors.CheckpointError` line naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidgru.errors import CheckpointError
from vidgru.fileio import atomic_path


def save_payload(path: str | Path, body: dict[str, Any], *, format: str, version: int) -> None:
    """Write ``body`` plus ``format``, ``format_version`` and ``vidgru_version`` to ``path`` (atomically: an
    interrupted save never leaves a broken file). Tensors in ``body`` should be on the CPU."""
    import torch

    from vidgru import __version__

    payload = {"format": format, "format_version": version, "vidgru_version": __version__, **body}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_payload(path: str | Path, *, format: str, version: int, what: str, hint: str = "") -> dict[str, Any]:
    """Read a file written by :func:`save_payload` with format ``format`` and version ``version``.

    Raises:
        CheckpointError: no such file, not a torch file, another format, or another format version (``what``
            names the kind of model in the message, e.g. "clip-classifier"; ``hint`` is added to the version
            message, e.g. how to make a current one).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot load model {path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, truncated files: all mean "not a checkpoint"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"cannot load model {path}: not a vidgru checkpoint ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise CheckpointError(f"cannot load model {path}: not a vidgru {what} checkpoint")
    found = payload.get("format_version", payload.get("version"))  # "version": older state-model files
    if found != version:
        raise CheckpointError(f"cannot load model {path}: {what} checkpoint format version {found}, this vidgru "
                              f"reads {version}" + (f"; {hint}" if hint else ""))
    return payload
