"""The one convention for vidgru's model files: a dict saved with ``torch.save``, tagged with its format name and
format version (and the vidgru version that wrote it), written atomically and read with ``weights_only=True``.

Clip classifiers (:mod:`vidgru.temporal`) and track-state models (:mod:`vidgru.track.gru_motion`) both use it, so
both fail the same way: one :class:`~vidgru.errors.CheckpointError` line naming the file and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    path = Path(path)
    payload = read_torch_file(path, f"cannot load model {path}", expected="a vidgru checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise CheckpointError(f"cannot load model {path}: not a vidgru {what} checkpoint")
    found = payload.get("format_version", payload.get("version"))  # "version": older state-model files
    if found != version:
        raise CheckpointError(f"cannot load model {path}: {what} checkpoint format version {found}, this vidgru "
                              f"reads {version}" + (f"; {hint}" if hint else ""))
    return payload


KINDS = {"vidgru.clip-classifier": "clip", "vidgru.image-classifier": "image"}


def model_kind(path: str | Path) -> str:
    """What a classifier file is for: ``"clip"`` (videos, :mod:`vidgru.temporal`) or ``"image"`` (still
    images, :mod:`vidgru.regions`), from its ``kind`` field (or, for files written before it, its format).

    Raises:
        CheckpointError: not a vidgru classifier checkpoint (or unreadable; see :func:`read_torch_file`).
    """
    path = Path(path)
    payload = read_torch_file(path, f"cannot load model {path}", expected="a vidgru checkpoint")
    kind = payload.get("kind", KINDS.get(payload.get("format"))) if isinstance(payload, dict) else None
    if kind not in ("clip", "image"):
        raise CheckpointError(f"cannot load model {path}: not a vidgru clip- or image-classifier checkpoint")
    return kind


def read_torch_file(path: str | Path, context: str, *, expected: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; any failure is one :class:`CheckpointError` line
    ``"<context>: ..."`` saying what the file is not (``expected``, e.g. "a vidgru checkpoint").

    A file whose pickle would build Python objects (code) is refused, never run; torch's multi-paragraph advice
    to load it with ``weights_only=False`` is not passed on.
    """
    import pickle

    import torch

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{context}: is a directory, expected {expected}")
    if not path.is_file():
        raise CheckpointError(f"{context}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{context}: not {expected}: the file is empty (0 bytes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            raise CheckpointError(f"{context}: not {expected}: it holds Python objects other than tensors and "
                                  "plain values (refused unread: loading them could run code)") from None
        raise CheckpointError(f"{context}: not {expected} (unreadable as a torch file: {_first_line(exc)})"
                              ) from None
    except Exception as exc:  # zip errors, truncated files, text files: all mean "not a torch file"
        raise CheckpointError(f"{context}: not {expected} (unreadable as a torch file: {_first_line(exc)})"
                              ) from None


def _first_line(exc: BaseException) -> str:
    line = " ".join((str(exc).strip().splitlines() or [""])[0].split())[:200]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in value.shape)


def check_tensors(path: str | Path, state_dict: Any, expected: Mapping[str, tuple[int, ...]], *,
                  what: str = "model", context: str | None = None) -> None:
    """Check a checkpoint's ``state_dict`` against the tensor names and shapes a model expects (``context``
    starts the message; default "cannot load model <path>").

    Raises:
        CheckpointError: one line naming the file and the first mismatching tensor: not a mapping, a value
            that is not a tensor, a missing or unexpected tensor, or another shape.
    """
    where = context or f"cannot load model {path}"
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"{where}: state_dict is a {type(state_dict).__name__}, expected a mapping of "
                              "tensor names to tensors")
    for name, value in state_dict.items():
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            raise CheckpointError(f"{where}: state_dict[{name!r}] is a {type(value).__name__}, expected a tensor")
    missing = [k for k in expected if k not in state_dict]
    if missing:
        raise CheckpointError(f"{where}: the {what} needs tensor {missing[0]!r}, missing from the file"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    extra = [k for k in state_dict if k not in expected]
    if extra:
        raise CheckpointError(f"{where}: unexpected tensor {extra[0]!r} for this {what}"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for name, shape in expected.items():
        found = _shape(state_dict[name])
        if found != tuple(shape):
            raise CheckpointError(f"{where}: tensor {name!r} has shape {found}, the {what} "
                                  f"expects {tuple(shape)}")
