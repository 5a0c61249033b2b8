"""Files written whole or not at all, and file fingerprints: one implementation for every writer in vidgru.

A leaf module (standard library only): any stage may import it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

PARTIAL = ".partial"  # marks a file still being written; never a finished result


def partial_path(target: str | Path) -> Path:
    """Where ``target`` is written before it is complete: ``dir/.name.<pid>.partial.ext`` (same folder, so the
    rename is atomic; the extension kept, for writers that choose the format from it; the process id, so two
    processes writing the same target do not share a temporary file)."""
    target = Path(target)
    suffix = target.suffix
    stem = target.name[: -len(suffix)] if suffix else target.name
    return target.with_name(f".{stem}.{os.getpid()}{PARTIAL}{suffix}")


def commit(tmp: str | Path, target: str | Path, *, sync: bool = False) -> None:
    """Move a finished temporary file onto ``target`` (atomic on one file system); ``sync`` flushes it to disk
    first (records that must survive a power cut)."""
    if sync:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, sync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s content to; on a normal exit it replaces ``target``, on an
    exception it is removed and ``target`` is left as it was. The parent folder is created.

    Example::

        with atomic_path(out) as tmp:
            torch.save(payload, tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(target)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit(tmp, target, sync=sync)


def write_bytes_atomic(path: str | Path, data: bytes, *, sync: bool = False) -> None:
    with atomic_path(path, sync=sync) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str, *, sync: bool = False) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), sync=sync)


def sha256_update_file(h, path: str | Path) -> None:
    """Feed a file's bytes to the hash ``h`` in 1 MiB chunks (bounded memory)."""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def sha256_file(path: str | Path, length: int | None = None) -> str:
    """Hex sha256 of a file's bytes, cut to ``length`` digits when given."""
    h = hashlib.sha256()
    sha256_update_file(h, path)
    return h.hexdigest()[:length] if length else h.hexdigest()


def sha256_json(value, length: int | None = None) -> str:
    """Hex sha256 of ``value`` as canonical JSON (sorted keys; other objects by ``str``): a fingerprint of
    settings, cut to ``length`` digits when given."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:length] if length else digest
