"""Files written whole or not at all, output paths checked before any work, and file fingerprints: one
implementation for every writer in vidgru, and the one YAML reader.

A leaf module (standard library and :mod:`vidgru.errors`; PyYAML inside :func:`read_yaml`): any stage may
import it.

Targets that exist and are not regular files (``/dev/null``, a FIFO, a terminal) are written in place: there
is nothing to replace atomically, and replacing such a node with a regular file would break it.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob
import hashlib
import json
import math
import os
import shutil
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vidgru.errors import ConfigError, VidgruError

PARTIAL = ".partial"  # marks a file still being written; never a finished result

# errno values that mean "the bytes could not be stored" (not "the path is wrong"): reported in one line.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT, errno.EROFS})


def is_special_file(path: str | Path) -> bool:
    """True when ``path`` exists and is neither a regular file nor a folder (a device such as ``/dev/null``, a
    FIFO, a socket, a terminal), or is a path under ``/dev`` or ``/proc`` (``/dev/stdout``): written in
    place, never replaced."""
    text = os.path.abspath(str(path))
    if text.startswith(("/dev/", "/proc/")):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def write_error(target: str | Path, exc: OSError) -> VidgruError:
    """The one-line error for bytes that could not be written to ``target`` (disk full, file too large, I/O
    error, read-only file system)."""
    reason = exc.strerror or str(exc)
    hint = " (disk full?)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    hint = " (the file size limit was reached)" if exc.errno == errno.EFBIG else hint
    return VidgruError(f"cannot write {target}: {reason}{hint}")


def partial_path(target: str | Path) -> Path:
    """Where ``target`` is written before it is complete: ``dir/.name.<pid>.partial.ext`` (same folder, so the
    rename is atomic; the extension kept, for writers that choose the format from it; the process id, so two
    processes writing the same target do not share a temporary file). A target that is not a regular file
    (:func:`is_special_file`) is its own partial path: it is written in place."""
    target = Path(target)
    if is_special_file(target):
        return target
    suffix = target.suffix
    stem = target.name[: -len(suffix)] if suffix else target.name
    return target.with_name(f".{stem}.{os.getpid()}{PARTIAL}{suffix}")


def commit(tmp: str | Path, target: str | Path, *, sync: bool = False) -> None:
    """Move a finished temporary file onto ``target`` (atomic on one file system); ``sync`` flushes it to disk
    first (records that must survive a power cut). Nothing to do when ``tmp`` is ``target`` (written in place);
    a ``tmp`` elsewhere for a target that is not a regular file is copied into it, then removed.

    Raises:
        VidgruError: the bytes could not be stored (:data:`WRITE_ERRNOS`).
    """
    if Path(tmp) == Path(target):
        return
    try:
        if is_special_file(target):
            with open(tmp, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            Path(tmp).unlink(missing_ok=True)
            return
        if sync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            Path(tmp).unlink(missing_ok=True)
            raise write_error(target, exc) from exc
        raise


def discard(tmp: str | Path, target: str | Path) -> None:
    """Remove an unfinished temporary file (never ``target`` itself: a node written in place stays)."""
    if Path(tmp) != Path(target):
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, sync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s content to; on a normal exit it replaces ``target``, on an
    exception it is removed and ``target`` is left as it was. The parent folder is created.

    Example::

        with atomic_path(out) as tmp:
            torch.save(payload, tmp)
    """
    target = Path(target)
    special = is_special_file(target)
    if not special:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(target)
    try:
        yield tmp
    except OSError as exc:
        discard(tmp, target)
        if exc.errno in WRITE_ERRNOS:
            raise write_error(target, exc) from exc
        raise
    except BaseException:
        discard(tmp, target)
        raise
    try:
        commit(tmp, target, sync=sync and not special)
    except BaseException:
        discard(tmp, target)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, replace_if: str | None = None) -> Iterator[Path]:
    """Like :func:`atomic_path`, for a folder: yield an empty temporary folder beside ``target``; on a normal exit
    it becomes ``target``, on an exception it is removed and ``target`` is left as it was. An existing ``target``
    is replaced only when it holds the file ``replace_if`` (a folder this writer made before); anything else
    there is refused before any work.

    Raises:
        ConfigError: ``target`` exists and is not a folder that may be replaced.
        VidgruError: the files could not be stored (:data:`WRITE_ERRNOS`).
    """
    target = Path(target)
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or
                                                    (replace_if and (target / replace_if).is_file()))):
        raise ConfigError(f"{target} exists and is not an earlier export; remove it or choose another folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{PARTIAL}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in WRITE_ERRNOS:
            raise write_error(target, exc) from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def strict_json(value, **kwargs) -> str:
    """``json.dumps(value, **kwargs)`` as strict JSON: NaN and infinities (which ``json.dumps`` writes as the
    bare ``NaN``/``Infinity`` strict parsers reject) become ``null``. Costs nothing extra for finite values."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except (ValueError, TypeError):  # non-finite numbers, or numpy values
        return json.dumps(_finite_or_none(value), allow_nan=False, **kwargs)


def _finite_or_none(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalars and arrays
        return _finite_or_none(value.tolist())
    return value


# ------------------------------------------------------------------------------ output paths, checked up front


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_outputs(outputs: Sequence[tuple[str, str | Path | None, str]], *,
                  inputs: Iterable[str | Path | None] = ()) -> None:
    """Refuse, before any work, output paths that cannot be written or would destroy something.

    Args:
        outputs: ``(flag, path, kind)`` for each output; ``kind`` is ``"file"`` (one file) or ``"folder"`` (a
            folder of per-input files). ``None`` and ``"-"`` (stdout) are skipped.
        inputs: what the command reads: files (video, det.txt, model, weights...), folders (an image folder or
            a sequence: nothing inside may be written) and globs (a matching file may not be written).

    Raises:
        ConfigError: naming the flag and the path: its parent is a file (or not a folder), a file output is an
            existing folder, a folder output is an existing file, it is one of the inputs or inside an input
            folder, or two outputs name the same file.
    """
    input_files: list[Path] = []
    input_dirs: list[Path] = []
    input_globs: list[str] = []
    for item in inputs:
        if item is None or isinstance(item, int) or "://" in str(item):
            continue
        text = os.path.expanduser(str(item))
        if glob.has_magic(text) and not os.path.exists(text):
            input_globs.append(os.path.realpath(text))
        elif os.path.isdir(text):
            input_dirs.append(_resolved(text))
        elif os.path.exists(text):
            input_files.append(_resolved(text))
    seen: dict[Path, str] = {}
    for flag, path, kind in outputs:
        if path is None or str(path) == "-":
            continue
        text = os.path.expanduser(str(path))
        if kind == "file" and is_special_file(text):
            continue  # /dev/null, a FIFO: written in place
        if kind == "file" and (os.path.isdir(text) or text.endswith(("/", os.sep))):
            raise ConfigError(f"{flag} {path}: is a folder; give a file name")
        if os.path.exists(text) and not os.path.isdir(text) and kind == "folder":
            raise ConfigError(f"{flag} {path}: is a file, but with several inputs {flag} names a folder")
        _check_parent(flag, path)
        real = _resolved(text)
        for f in input_files:
            if real == f:
                raise ConfigError(f"{flag} {path}: is one of the inputs; writing it would overwrite it")
        for d in input_dirs:
            if _is_within(real, d):
                raise ConfigError(f"{flag} {path}: is inside the input folder {d}; write it elsewhere")
        for pattern in input_globs:
            if kind == "file" and fnmatch.fnmatch(str(real), pattern):
                raise ConfigError(f"{flag} {path}: matches the input pattern {pattern}; writing it would "
                                  "change the input")
        if kind == "file":
            if real in seen:
                raise ConfigError(f"{flag} {path}: {seen[real]} writes the same file")
            seen[real] = flag


def _check_parent(flag: str, path: str | Path) -> None:
    """The folder ``path`` goes in exists and is writable, or can be created (its first existing ancestor is a
    writable folder)."""
    parent = Path(os.path.abspath(os.path.expanduser(str(path)))).parent
    for folder in (parent, *parent.parents):
        if not os.path.exists(folder):
            continue
        if not os.path.isdir(folder):
            raise ConfigError(f"{flag} {path}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag} {path}: the folder {folder} is not writable")
        return


def distinct_names(paths: Sequence[str | Path], names: Sequence[str] | None = None) -> list[str]:
    """One output name per input, none shared: ``names`` (default: each file's stem) where unique; inputs whose
    names collide get their whole file name (``clip.avi``), then their parent folders' names as a prefix
    (``a_clip.mp4``, ``b_clip.mp4``).

    Raises:
        ConfigError: two inputs are the same path.
    """
    out = [str(n) for n in names] if names is not None else [Path(str(p)).stem for p in paths]
    parts = [Path(os.path.abspath(str(p))).parts for p in paths]
    depth = 0
    while True:
        keys = [n.casefold() for n in out]  # case-insensitive file systems
        clash = [i for i, k in enumerate(keys) if keys.count(k) > 1]
        if not clash:
            return out
        depth += 1
        if all(depth > len(parts[i]) for i in clash):
            raise ConfigError(f"{paths[clash[0]]} is given more than once")
        for i in clash:
            out[i] = "_".join(parts[i][-depth:]) if depth <= len(parts[i]) else out[i]


def read_yaml(path: str | Path, *, what: str = "config") -> dict[str, Any]:
    """The mapping in a YAML config file (``yaml.safe_load``: tags that would build Python objects are refused).

    Raises:
        ConfigError: naming the file: missing, a folder, unreadable, not UTF-8 text, empty, not valid YAML, or
            not a mapping.
    """
    import yaml  # imported here: only the commands that read YAML need it

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {path}: is a directory, expected a YAML file")
    if not p.is_file():
        raise ConfigError(f"{what} {path}: no such file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not UTF-8 text (byte {exc.start}); expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if not text.strip():
        raise ConfigError(f"{what} {path}: file is empty; expected 'key: value' lines")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path}: not valid YAML{where} ({' '.join(str(problem).split())})") from None
    if data is None:  # only comments
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data
