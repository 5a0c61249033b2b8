"""The batch's records: ``manifest.jsonl``, fingerprints, the settings hash and the resume rule.

Each input gets one :class:`BatchRecord` per run, appended to ``OUT/manifest.jsonl`` and fsync'ed one at a
time (:class:`Manifest`), only after the input's outputs were renamed into place (:func:`write_atomic`), so a
killed run never leaves a file that a later run trusts.

Resume (:func:`resume_check`): an input is skipped when its latest record is ``ok`` (or ``skipped``), its
fingerprint (size + mtime, or the content's sha256: :func:`file_fingerprint`) and the task-settings fingerprint
(:func:`settings_fingerprint`) match, and every output it lists is still the file that was written: same size
and sha256 as recorded when it was committed (records written before those were recorded: the output exists).
Failed inputs are retried; ``force`` redoes everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidgru.errors import VidgruError
from vidgru.fileio import sha256_file, sha256_json, sha256_update_file, strict_json, write_bytes_atomic

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
RECORD_VERSION = 1

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


# ----------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class BatchRecord:
    """One line of ``manifest.jsonl``: what happened to one input in one run.

    ``outputs`` are paths relative to the output folder; ``output_digests`` maps each of them to its
    ``{"size": bytes, "sha256": hex}`` when it was committed (what resume checks it against); ``frames`` are the
    frames the task used (sampled frames for classify, every frame for track); ``seconds`` is wall time from
    dispatch to the record; ``redo_reason`` says why an input an earlier run had recorded was processed again
    (a changed input or settings, a missing or damaged output, an earlier failure).
    """

    path: str
    relpath: str
    status: str  # ok, failed, skipped
    task: str
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    outputs: tuple[str, ...] = ()
    fingerprint: dict[str, Any] = field(default_factory=dict)
    settings: str = ""
    run: str = ""
    version: int = RECORD_VERSION
    output_digests: dict[str, dict[str, Any]] = field(default_factory=dict)
    redo_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outputs"] = list(self.outputs)
        d["seconds"] = round(self.seconds, 3)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> BatchRecord:
        """A record from a parsed manifest line. Raises ValueError for anything that is not a record: not a JSON
        object, a missing name or status, a field of the wrong type."""
        if not isinstance(d, dict):
            raise ValueError(f"expected a JSON object, got {type(d).__name__}")
        for key in ("path", "relpath", "status", "task"):
            if not isinstance(d.get(key), str):
                raise ValueError(f"{key}: expected a string")
        values = {k: v for k, v in d.items() if k in _FIELD_TYPES}
        for key, value in values.items():
            if not isinstance(value, _FIELD_TYPES[key]) or (isinstance(value, bool) and key in ("frames", "seconds")):
                raise ValueError(f"{key}: unexpected {type(value).__name__}")
        if not all(isinstance(o, str) for o in values.get("outputs", ())):
            raise ValueError("outputs: expected strings")
        digests = values.get("output_digests") or {}
        if not all(isinstance(v, dict) and type(v.get("size")) is int and isinstance(v.get("sha256"), str)
                   for v in digests.values()):
            raise ValueError("output_digests: expected {name: {size, sha256}}")
        values["outputs"] = tuple(values.get("outputs", ()))
        values["output_digests"] = digests
        return cls(**values)


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "path": str, "relpath": str, "status": str, "task": str, "error": (str, type(None)), "frames": int,
    "seconds": (int, float), "outputs": list, "fingerprint": dict, "settings": str, "run": str, "version": int,
    "output_digests": (dict, type(None)), "redo_reason": (str, type(None)),
}


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of a batch run: records of this run (one per input, in input order) and its wall time."""

    records: list[BatchRecord]
    seconds: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.records)

    @property
    def frames(self) -> int:
        """Frames processed in this run (skipped inputs not counted)."""
        return sum(r.frames for r in self.records if r.status == OK)

    @property
    def failures(self) -> list[BatchRecord]:
        return [r for r in self.records if r.status == FAILED]

    @property
    def exit_code(self) -> int:
        """0 when no input failed, 1 when some did (the others were processed)."""
        return 1 if self.failures else 0


class Manifest:
    """``manifest.jsonl`` in the output folder: appended one record at a time, each flushed and fsync'ed, so
    it is readable after a kill (a torn last line is skipped when reading, with a warning)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[BatchRecord]:
        """All records, oldest first. Lines that are not records (torn by a kill, not UTF-8, not JSON, not a
        JSON object, a field of the wrong type) are skipped with one warning for the whole file: they count
        as no record, so an input known only from such a line is not finished.

        Raises:
            VidgruError: the manifest exists but cannot be read (a folder, an I/O error).
        """
        if not self.path.exists():
            return []
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise VidgruError(f"cannot read the batch manifest {self.path}: {exc.strerror or exc}") from None
        out, bad = [], []
        for number, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                out.append(BatchRecord.from_dict(json.loads(raw.decode("utf-8"))))
            except (ValueError, TypeError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError: ValueError
                bad.append((number, str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__))
        if bad:
            where = ", ".join(f"line {n}: {why}" for n, why in bad[:3]) + (", ..." if len(bad) > 3 else "")
            logger.warning("%s: skipped %d line(s) that are not batch records (%s); the inputs they were about "
                           "count as not finished", self.path, len(bad), where)
        return out

    def latest(self) -> dict[str, BatchRecord]:
        """The last record of each input, keyed by ``relpath``."""
        return {r.relpath: r for r in self.read()}

    def append(self, record: BatchRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = strict_json(record.to_dict()) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            if f.tell() > 0 and not _ends_with_newline(self.path):
                line = "\n" + line  # a torn line from a killed run: start on a fresh one
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


# ---------------------------------------------------------------------------------- fingerprints and files


def file_fingerprint(path: str | Path, *, content_hash: bool = False) -> dict[str, Any]:
    """What identifies an input's content: ``size`` (bytes) and ``mtime_ns``, or ``size`` and ``sha256``.
    A folder (an image sequence) is fingerprinted over its files."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    size = sum(f.stat().st_size for f in files)
    if not content_hash:
        return {"size": size, "mtime_ns": max((f.stat().st_mtime_ns for f in files), default=0)}
    h = hashlib.sha256()
    for f in files:
        sha256_update_file(h, f)
    return {"size": size, "sha256": h.hexdigest()}


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of the task settings that change results (not device, runtime or batch size)."""
    return sha256_json(settings, 16)


def file_digest(path: str | Path) -> str:
    """The first 16 hex digits of a file's sha256 (a model or weights file in the settings hash); for a folder (a
    model from `vidgru export`), of its files' names and contents."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path, 16)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        sha256_update_file(h, f)
    return h.hexdigest()[:16]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: through a temporary file in the same folder, fsync'ed,
    then renamed (:func:`vidgru.fileio.write_bytes_atomic`)."""
    write_bytes_atomic(path, data, sync=True)


def output_digest(path: str | Path) -> dict[str, Any]:
    """What a committed output's record says of it: ``{"size": bytes, "sha256": hex}``."""
    return {"size": os.path.getsize(path), "sha256": sha256_file(path)}


def bytes_digest(data: bytes) -> dict[str, Any]:
    """:func:`output_digest` of content about to be written."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ------------------------------------------------------------------------------------------------ resume


def resume_check(previous: BatchRecord | None, *, fingerprint: dict[str, Any], settings: str,
                 outputs: tuple[str, ...], out: Path) -> str | None:
    """The resume rule: None when ``previous`` (an input's latest record) finished this input with these
    settings and its outputs in ``out`` are still the files it wrote (so the input can be skipped), else why
    the input must run (again).

    An output's size is compared first, its sha256 only when the size matches. Records written before digests
    were recorded (no ``output_digests``) only need their outputs to exist."""
    if previous is None:
        return "no earlier record"
    if previous.status not in (OK, SKIPPED):
        return f"the earlier run {previous.status}"
    if previous.fingerprint != fingerprint:
        return "the input changed since the earlier run"
    if previous.settings != settings:
        return "the settings changed since the earlier run"
    if not set(outputs) <= set(previous.outputs):
        return "the earlier run wrote other outputs"
    for name in previous.outputs:
        path = out / name
        if not path.is_file():
            return f"output {name} is {'not a file' if path.exists() else 'missing'}"
        want = previous.output_digests.get(name)
        if want is None:
            continue
        try:
            size = path.stat().st_size
            if size != want["size"]:
                return f"output {name} is damaged: {size} bytes, {want['size']} when it was written"
            if sha256_file(path) != want["sha256"]:
                return f"output {name} is damaged: its content differs from what was written (sha256)"
        except OSError as exc:
            return f"output {name} cannot be read: {exc.strerror or exc}"
    return None


def is_finished(previous: BatchRecord | None, *, fingerprint: dict[str, Any], settings: str,
                outputs: tuple[str, ...], out: Path) -> bool:
    """:func:`resume_check` found nothing to redo: the input can be skipped."""
    return resume_check(previous, fingerprint=fingerprint, settings=settings, outputs=outputs, out=out) is None
