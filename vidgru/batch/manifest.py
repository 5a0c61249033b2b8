"""The batch's records: ``manifest.jsonl``, fingerprints, the settings hash and the resume rule.

Each input gets one :class:`BatchRecord` per run, appended to ``OUT/manifest.jsonl`` and fsync'ed one at a
time (:class:`Manifest`), only after the input's outputs were renamed into place (:func:`write_atomic`), so a
killed run never leaves a file that a later run trusts.

Resume (:func:`is_finished`): an input is skipped when its latest record is ``ok`` (or ``skipped``), its
fingerprint (size + mtime, or the content's sha256: :func:`file_fingerprint`) and the task-settings fingerprint
(:func:`settings_fingerprint`) match, and every output it lists exists. Failed inputs are retried; ``force``
redoes everything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidgru.fileio import sha256_file, sha256_json, sha256_update_file, write_bytes_atomic

MANIFEST_NAME = "manifest.jsonl"
RECORD_VERSION = 1

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


# ----------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class BatchRecord:
    """One line of ``manifest.jsonl``: what happened to one input in one run.

    ``outputs`` are paths relative to the output folder; ``frames`` are the frames the task used (sampled
    frames for classify, every frame for track); ``seconds`` is wall time from dispatch to the record.
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

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["outputs"] = list(self.outputs)
        d["seconds"] = round(self.seconds, 3)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["outputs"] = tuple(values.get("outputs", ()))
        return cls(**values)


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
    it is readable after a kill (a torn last line is ignored when reading)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[BatchRecord]:
        """All records, oldest first (lines that do not parse, e.g. torn by a kill, are skipped)."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(BatchRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out

    def latest(self) -> dict[str, BatchRecord]:
        """The last record of each input, keyed by ``relpath``."""
        return {r.relpath: r for r in self.read()}

    def append(self, record: BatchRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.to_dict()) + "\n"
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
    """The first 16 hex digits of a file's sha256 (a model or weights file in the settings hash)."""
    return sha256_file(path, 16)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: through a temporary file in the same folder, fsync'ed,
    then renamed (:func:`vidgru.fileio.write_bytes_atomic`)."""
    write_bytes_atomic(path, data, sync=True)


# ------------------------------------------------------------------------------------------------ resume


def is_finished(previous: BatchRecord | None, *, fingerprint: dict[str, Any], settings: str,
                outputs: tuple[str, ...], out: Path) -> bool:
    """The resume rule: ``previous`` (an input's latest record) finished this input with these settings, and
    its outputs are still in ``out``, so it can be skipped."""
    return (previous is not None and previous.status in (OK, SKIPPED) and previous.fingerprint == fingerprint
            and previous.settings == settings and set(outputs) <= set(previous.outputs)
            and all((out / o).is_file() for o in previous.outputs))
