"""Writers for results: JSON Lines, CSV, MOTChallenge text, annotated video and a live window.

Every file sink is a context manager that writes to a temporary name next to the target and renames it on
a clean close, so a crash never leaves a half-written file under the final name. On Ctrl-C or a vidgru error
(a source failing part-way) the results written so far are kept, unless there are none: a run that fails
before its first result leaves no file. A write that fails (disk full, file too large, I/O error) raises
one-line :class:`~vidgru.errors.VidgruError` naming the file, and that file is not kept. ``-`` means standard
output for the text sinks (written through, line by line); a target that is not a regular file
(``/dev/null``, a FIFO) is written in place.
"""

from __future__ import annotations

import colorsys
import csv
import io
import os
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from vidgru.errors import DisplayUnavailableError, VidgruError
from vidgru.fileio import commit, discard, is_special_file, partial_path, strict_json, write_error
from vidgru.types import FrameTracks
from vidgru.video.guard import opencv_can_take


class AtomicTextFile:
    """A text file written to a partial name (:func:`vidgru.fileio.partial_path`) and renamed to its own on a
    clean exit. On Ctrl-C and vidgru errors the results so far are kept when there are any (:attr:`has_results`);
    otherwise, and on any other exception, the partial file is removed. A failed write raises a one-line
    VidgruError naming the file, which is then not kept."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stdout = str(path) == "-"
        self._tmp = None if self._stdout else partial_path(self.path)
        self.handle: IO[str] | None = None
        self.writes = 0  # write() calls: results written
        self.failed = False  # a write failed: the file is incomplete
        self.kept = False  # the file is under its final name after the exit

    @property
    def has_results(self) -> bool:
        """Whether the file holds results worth keeping after an interruption."""
        return self.writes > 0

    def __enter__(self) -> AtomicTextFile:
        if self._stdout:
            self.handle = sys.stdout
            return self
        try:
            if not is_special_file(self.path):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self._tmp, "w", newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise VidgruError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return self

    def write(self, text: str) -> None:
        try:
            self.handle.write(text)
            if self._stdout:
                self.handle.flush()
        except OSError as exc:
            self.failed = True
            raise write_error(self.path, exc) from exc
        self.writes += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._stdout:
            self.handle.flush()
            return
        try:
            self.handle.close()  # flushes: a full disk may show only here
        except OSError as close_exc:
            self.failed = True
            discard(self._tmp, self.path)
            if exc_type is None:
                raise write_error(self.path, close_exc) from close_exc
            return
        clean = exc_type is None
        interrupted = exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, VidgruError))
        if not self.failed and (clean or (interrupted and self.has_results)):
            # Results finished before an interruption or a failing input are kept.
            commit(self._tmp, self.path)
            self.kept = True
        else:
            discard(self._tmp, self.path)


class JsonlSink(AtomicTextFile):
    """One JSON object per line."""

    def write_record(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line of strict JSON (NaN and infinities written as ``null``)."""
        self.write(strict_json(record, ensure_ascii=False) + "\n")


class CsvSink(AtomicTextFile):
    """CSV rows with a fixed header."""

    def __init__(self, path: str | Path, header: list[str]) -> None:
        super().__init__(path)
        self.header = header

    def __enter__(self) -> CsvSink:
        super().__enter__()
        self.write_row(self.header)
        self.writes = 0  # the header alone is no result
        return self

    def write_row(self, row: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow(row)
        self.write(buf.getvalue())


CLASSIFY_CSV_HEADER = ["video", "kind", "start_s", "end_s", "label", "score", "tags"]
SHOTS_CSV_HEADER = ["video", "shot", "start_s", "end_s", "kind", "score", "tags"]


def tags_text(tags) -> str:
    """Content tags in one CSV cell: ``label score; label score`` (labels may hold commas, never semicolons)."""
    return "; ".join(f"{t.label} {t.score:.4f}" for t in tags)


def classify_csv_rows(result) -> list[list[Any]]:
    """Rows of a :class:`~vidgru.types.ClipResult`: one ``clip`` row, then ``shot`` rows (label: how the shot
    begins; tags), ``segment`` and ``window`` rows."""
    rows = [[result.video, "clip", 0.0, round(result.duration_s, 3), result.label, round(result.score, 6), ""]]
    rows += [[result.video, "shot", round(s.start_s, 3), round(s.end_s, 3), s.kind, round(s.score, 4),
              tags_text(s.tags)] for s in result.shots]
    rows += [[result.video, "segment", round(s.start_s, 3), round(s.end_s, 3), s.label, round(s.score, 6), ""]
             for s in result.segments]
    rows += [[result.video, "window", round(w.start_s, 3), round(w.end_s, 3), w.label, round(w.score, 6), ""]
             for w in result.windows]
    return rows


def shots_csv_rows(result) -> list[list[Any]]:
    """Rows of a :class:`~vidgru.types.ShotList`: one per shot, numbered from 1."""
    return [[result.video, k, round(s.start_s, 3), round(s.end_s, 3), s.kind, round(s.score, 4), tags_text(s.tags)]
            for k, s in enumerate(result.shots, 1)]


class VideoSink:
    """Writes RGB frames to an mp4 (MPEG-4 Part 2, ``mp4v``, which OpenCV's pip wheels always have).

    Frames are (H, W, 3) uint8 RGB, all the same size. The file appears under its final name on close (on
    Ctrl-C or a vidgru error too, when frames were written). A target that is not a regular file (a FIFO,
    ``/dev/null``) gets the finished file's bytes (the encoder needs a seekable file to write to).
    """

    def __init__(self, path: str | Path, fps: float, *, fourcc: str = "mp4v") -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.fourcc = fourcc
        self._spool: str | None = None
        if is_special_file(self.path):
            import tempfile

            self._spool = tempfile.mkdtemp(prefix="vidgru-video-")
            self._tmp = Path(self._spool) / "video.mp4"  # a device's name says nothing of the format
        else:
            self._tmp = partial_path(self.path)
            if not opencv_can_take(str(self._tmp)):  # a name that is not UTF-8 would crash OpenCV's writer
                self._tmp = self._tmp.with_name(f".vidgru-{os.getpid()}-{id(self)}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self.frames_written = 0
        self.kept = False  # the file is under its final name after the exit

    @property
    def has_results(self) -> bool:
        return self.frames_written > 0

    def __enter__(self) -> VideoSink:
        if self._spool is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise VidgruError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return self

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise VidgruError(f"cannot write video {self.path}: OpenCV has no {self.fourcc} encoder")
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._writer is not None:
                self._writer.release()
            keep = self.frames_written and (exc_type is None or issubclass(exc_type, (KeyboardInterrupt, VidgruError)))
            if keep and not self._complete():
                discard(self._tmp, self.path)
                if exc_type is None:
                    raise VidgruError(f"cannot write {self.path}: the encoder could not finish the file "
                                      "(disk full, or the file size limit reached?)")
            elif keep:
                commit(self._tmp, self.path)
                self.kept = True
            else:
                discard(self._tmp, self.path)
        finally:
            if self._spool is not None:
                import shutil

                shutil.rmtree(self._spool, ignore_errors=True)

    def _complete(self) -> bool:
        """Whether the encoder finished the file: it opens and its header counts frames (a full disk leaves
        an mp4 without its index, which OpenCV writes without a word)."""
        cap = cv2.VideoCapture(str(self._tmp))
        try:
            return bool(cap.isOpened()) and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0
        finally:
            cap.release()


def draw_label(image: np.ndarray, text: str, *, progress: float | None = None, color=(255, 255, 255)) -> np.ndarray:
    """Return a copy of ``image`` (H, W, 3) uint8 RGB with ``text`` in a dark banner at the top and, when
    ``progress`` in [0, 1] is given, a thin position bar at the bottom."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 600)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(4, th // 3)
    cv2.rectangle(out, (0, 0), (min(w, tw + 2 * pad), th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(out, text, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
    if progress is not None:
        bar = max(2, h // 100)
        cv2.rectangle(out, (0, h - bar), (int(w * min(max(progress, 0.0), 1.0)), h), (255, 200, 0), -1)
    return out


class _FrameTracksSink:
    """Shared context-manager plumbing of the tracking text sinks: a wrapped atomic file."""

    def __init__(self, file: AtomicTextFile) -> None:
        self._file = file
        self.frames_written = 0

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def kept(self) -> bool:
        return self._file.kept

    @property
    def has_results(self) -> bool:
        return self.frames_written > 0

    def __enter__(self):
        self._file.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Frames without tracks write no MOT row but are results: the file's rule counts frames here.
        self._file.writes = max(self._file.writes, self.frames_written)
        self._file.__exit__(exc_type, exc, tb)


class MotSink(_FrameTracksSink):
    """Tracks in MOTChallenge text format, the input of MOTChallenge/TrackEval evaluation.

    One row per track and frame: ``frame,id,x,y,w,h,score,-1,-1,-1`` with 1-based frames, top-left corner
    and size in pixels (2 decimals). Every track of a :class:`~vidgru.types.FrameTracks` is written,
    including predicted (coasting) ones: which tracks to report is the tracker's choice. Atomic like
    :class:`AtomicTextFile`; ``-`` writes to standard output.

    Example::

        with MotSink("results/TUD-Campus.txt") as sink:
            for frame_tracks in tracker_output:
                sink.write(frame_tracks)
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(AtomicTextFile(path))
        self.rows_written = 0

    def write(self, frame_tracks: FrameTracks) -> None:
        """Append the rows of one :class:`~vidgru.types.FrameTracks`."""
        frame = frame_tracks.frame_index + 1
        lines = []
        for t in frame_tracks.tracks:
            x1, y1, x2, y2 = (float(v) for v in t.xyxy)
            lines.append(f"{frame},{t.track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                         f"{float(t.score):.4g},-1,-1,-1\n")
        if lines:
            self._file.write("".join(lines))
        self.rows_written += len(lines)
        self.frames_written += 1


class TrackJsonlSink(_FrameTracksSink):
    """One JSON object per frame (:meth:`~vidgru.types.FrameTracks.to_dict`: 1-based ``frame``,
    ``timestamp_s``, ``tracks``), frames without tracks included. ``-`` writes to standard output."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(JsonlSink(path))

    def write(self, frame_tracks: FrameTracks) -> None:
        """Append the record of one :class:`~vidgru.types.FrameTracks`."""
        self._file.write_record(frame_tracks.to_dict())
        self.frames_written += 1


class TrailHistory(Mapping):
    """Recent bottom-centre points of each track, for drawing trails: a read-only mapping
    ``track_id -> [(x, y), ...]`` (pixels, oldest first).

    Points older than ``max_age_s`` (in the frames' own timestamps) are dropped, so a lost track's trail
    fades out within ``max_age_s`` whatever the frame rate.

    Example::

        trails = TrailHistory(max_age_s=1.5)
        for frame, frame_tracks in ...:
            trails.update(frame_tracks)
            image = draw_tracks(frame.image, frame_tracks, trails)
    """

    def __init__(self, *, max_age_s: float = 1.5) -> None:
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s}")
        self.max_age_s = float(max_age_s)
        self._points: dict[int, deque[tuple[float, float, float]]] = {}  # id -> (timestamp_s, x, y)

    def update(self, frame_tracks: FrameTracks) -> None:
        """Add the bottom-centre point of every track in this frame and forget points older than
        ``max_age_s`` before its timestamp."""
        now = frame_tracks.timestamp_s
        for t in frame_tracks.tracks:
            x1, _, x2, y2 = (float(v) for v in t.xyxy)
            self._points.setdefault(t.track_id, deque()).append((now, (x1 + x2) / 2, y2))
        for track_id in list(self._points):
            points = self._points[track_id]
            while points and now - points[0][0] > self.max_age_s:
                points.popleft()
            if not points:
                del self._points[track_id]

    def reset(self) -> None:
        self._points.clear()

    def __getitem__(self, track_id: int) -> list[tuple[float, float]]:
        return [(x, y) for _, x, y in self._points[track_id]]

    def __iter__(self) -> Iterator[int]:
        return iter(self._points)

    def __len__(self) -> int:
        return len(self._points)


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour for a track id (golden-ratio steps around the hue circle)."""
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.8, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def draw_tracks(
    image: np.ndarray,
    frame_tracks: FrameTracks,
    trails: Mapping[int, Sequence[tuple[float, float]]] | None = None,
    *,
    fps: float | None = None,
) -> np.ndarray:
    """Return a copy of ``image`` (H, W, 3) uint8 RGB with the tracks of one frame drawn on it.

    Each track gets a box in its :func:`track_color` and an ``"<id> <class> <score>"`` label; predicted
    (coasting) tracks get a thin box and no score. ``trails`` maps a track id to recent (x, y) points in pixels,
    oldest first (a :class:`TrailHistory`, updated by the caller with this frame first); they are drawn as
    polylines. ``fps`` (processing speed, frames per second) is written in a banner at the top when given.
    """
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 360))
    scale = max(0.35, min(h, w) / 1400)
    for track_id, points in (trails or {}).items():
        if len(points) > 1:
            pts = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], False, track_color(track_id), thick, cv2.LINE_AA)
    for t in frame_tracks.tracks:
        color = track_color(t.track_id)
        x1, y1, x2, y2 = (round(float(v)) for v in t.xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 1 if t.is_predicted else thick + 1)
        parts = [str(t.track_id)] + ([t.class_name] if t.class_name else [])
        if not t.is_predicted:
            parts.append(f"{t.score:.2f}")
        text = " ".join(parts)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1  # above the box, or inside at the top edge
        cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 2), color, -1)
        cv2.putText(out, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    if fps is not None:
        out = draw_label(out, f"{fps:.1f} fps")
    return out


class LiveWindow:
    """An OpenCV window showing frames as they are processed.

    ``show`` returns False once the user pressed ``q`` or Esc or closed the window. Entering raises
    :class:`~vidgru.errors.DisplayUnavailableError` on Linux without ``DISPLAY``/``WAYLAND_DISPLAY``, and
    ``show`` raises it when OpenCV was built without GUI support (``opencv-python-headless``).

    Example::

        with LiveWindow("vidgru track") as window:
            for image in annotated_frames:
                if not window.show(image):
                    break
    """

    def __init__(self, title: str = "vidgru", *, wait_ms: int = 1) -> None:
        self.title = title
        self.wait_ms = max(1, int(wait_ms))
        self._shown = False

    def __enter__(self) -> LiveWindow:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DisplayUnavailableError(
                "no display to show a window on (DISPLAY and WAYLAND_DISPLAY are unset): "
                "use --no-show, and --out-video to save the annotated video")
        return self

    def show(self, image: np.ndarray) -> bool:
        """Show one (H, W, 3) uint8 RGB frame; False when the user asked to stop (q, Esc, window closed)."""
        if self._shown and _window_closed(self.title):
            return False
        try:
            cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(self.wait_ms)
        except cv2.error as e:
            first_line = next((line for line in str(e).splitlines() if line.strip()), "")
            raise DisplayUnavailableError(
                f"cannot open a window ({first_line.strip()[:120]}): this OpenCV build may have no GUI support; "
                "use --no-show, and --out-video to save the annotated video") from e
        self._shown = True
        if key != -1 and (key & 0xFF) in (ord("q"), ord("Q"), 27):
            return False
        return not _window_closed(self.title)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._shown:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI thread process the close
            except cv2.error:
                pass


def _window_closed(title: str) -> bool:
    try:
        return cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:  # some backends raise for a window that no longer exists
        return True
