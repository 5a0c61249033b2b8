"""The join between the batch runner and its executors: the work to run, and what came of it.

The runner (:mod:`vidgru.batch.runner`) plans a batch into :class:`WorkItem` s and hands them to an
:class:`Executor` (:mod:`vidgru.batch.local`, :mod:`vidgru.batch.ray_executor`). The executor runs them and
yields one outcome per item as it ends: :class:`ItemDone` with the job's complete files, or
:class:`ItemFailed` with the reason. The runner alone moves files into place and writes the manifest.

Of the batch's modules this one needs only :mod:`vidgru.batch.jobs` (for :class:`~vidgru.batch.jobs.BatchInput`),
so executors depend on it and never on the runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from vidgru.batch.jobs import BatchInput


@dataclass(frozen=True)
class WorkItem:
    """One input to process.

    ``index`` is its place in the batch's input list (the key of its outcome); ``outputs`` are its output
    paths relative to the output folder (:func:`~vidgru.batch.jobs.output_names`).
    """

    index: int
    inp: BatchInput
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ItemDone:
    """An item's job finished.

    ``files`` are keyed by kind (``json``, ``mot.txt``, ``jsonl``, ``annotated.mp4``: an output name ends with
    ``.<kind>``), each the file's content (bytes) or the path of a complete file in the run's staging folder
    (str); the runner moves them into place. ``frames`` are the frames the task used; ``started`` is the
    :func:`time.perf_counter` reading when the item was dispatched.
    """

    item: WorkItem
    frames: int
    files: dict[str, bytes | str]
    started: float


@dataclass(frozen=True)
class ItemFailed:
    """An item failed: ``error`` is one line for its record (the input's own error, a crashed worker, the time
    limit); ``started`` as in :class:`ItemDone`."""

    item: WorkItem
    error: str
    started: float


Outcome = ItemDone | ItemFailed


class Executor(Protocol):
    """Runs a batch's work items somewhere (worker processes, a Ray cluster) and reports their outcomes."""

    def run(self, items: Sequence[WorkItem], *, on_frames: Callable[[int], None]) -> Iterator[Outcome]:
        """Run ``items``; yield exactly one outcome per item, as each ends (in any order).

        ``on_frames(n)`` reports progress: ``n`` more frames processed. Closing the iterator early (an error
        or Ctrl-C while the caller handles an outcome) stops the work and releases its workers.
        """
        ...
