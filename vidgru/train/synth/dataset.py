"""Camera-motion data sets on disk: read real footage through :class:`~vidgru.video.VideoSource`, render clips
(:mod:`vidgru.train.synth.render`) and write them with :class:`~vidgru.sinks.VideoSink` plus a manifest."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidgru.errors import ConfigError, DatasetError, VideoOpenError
from vidgru.fileio import write_text_atomic
from vidgru.sinks import VideoSink
from vidgru.train.synth.camera import CAMERA_MOTION_CLASSES, largest_width, sample_camera_path
from vidgru.train.synth.render import render_clip, sample_degradations, source_index
from vidgru.video import IMAGE_EXTENSIONS, VideoSource, read_frames

logger = logging.getLogger(__name__)

DEFAULT_OUT_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (384, 216), (256, 256), (480, 270))
DEFAULT_FPS_CHOICES: tuple[float, ...] = (10.0, 15.0, 25.0, 30.0)

# Counting a video's frames: keep only frame 0 so the others are grabbed (decoded) but never converted.
_COUNT_ONLY_EVERY_N = sys.maxsize


# ----------------------------------------------------------------------------------------- sources on disk


@dataclass(frozen=True)
class _SourceInfo:
    """A probed source: ``kind`` is "video", "images" (a folder, played at ``fps``) or "still"."""

    path: Path
    kind: str
    width: int
    height: int
    fps: float | None
    frame_count: int
    image_files: tuple[Path, ...] = ()


def _read_image(path: Path) -> np.ndarray:
    """One image file as (H, W, 3) uint8 RGB."""
    try:
        # fps is meaningless for one image; giving one keeps VideoSource from logging the rate it assumes.
        return read_frames(path, fps=1.0)[0].image
    except VideoOpenError as err:
        raise VideoOpenError(f"cannot read camera-motion source image {path}") from err


def _probe_source(path: Path, image_folder_fps: float) -> _SourceInfo:
    """Open ``path`` once to learn its kind, size, frame rate and exact frame count (by decoding)."""
    if not path.exists():
        raise VideoOpenError(f"camera-motion source {path} does not exist")
    if path.is_dir():
        # Plain name order (not VideoSource's natural order), so existing data sets are reproduced exactly.
        files = tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS))
        if not files:
            kinds = ", ".join(IMAGE_EXTENSIONS)
            raise VideoOpenError(f"camera-motion source folder {path} holds no images ({kinds})")
        h, w = _read_image(files[0]).shape[:2]
        return _SourceInfo(path, "images", w, h, image_folder_fps, len(files), files)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        image = _read_image(path)
        return _SourceInfo(path, "still", image.shape[1], image.shape[0], None, 1)
    try:
        # The container's frame count is unreliable (tree.avi says 444, has 68): count by decoding.
        with VideoSource(path, every_n=_COUNT_ONLY_EVERY_N, strict=False) as src:
            info = src.info
            for _ in src:
                pass
            count = src.decoded_frames
    except VideoOpenError as err:
        raise VideoOpenError(f"camera-motion source video: {err}") from err
    if info.fps_source != "container":
        raise VideoOpenError(
            f"camera-motion source video {path} reports an implausible frame rate (not in (0, 240] fps)"
        )
    return _SourceInfo(path, "video", info.width, info.height, info.fps, count)


def _read_video_frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """Frames ``wanted`` (sorted indices) of a video, decoded in order from the start (seeking is inexact for
    some codecs); the frames before the first wanted one are only grabbed, never converted."""
    out: dict[int, np.ndarray] = {}
    keep, first, last = set(wanted), wanted[0], wanted[-1]
    with VideoSource(path, start_frame=first, max_frames=last - first + 1, strict=False) as src:
        for frame in src:
            if frame.index in keep:
                out[frame.index] = frame.image
            if frame.index >= last:
                break
        decoded = src.decoded_frames
    missing = [i for i in wanted if i not in out]
    if missing:
        raise VideoOpenError(f"{path} ended at frame {decoded}, before frame {missing[0]}")
    return out


def _read_frames(info: _SourceInfo, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The requested source frames ((H, W, 3) uint8 RGB) by index; only these are kept in memory."""
    wanted = sorted(set(indices))
    if info.kind == "still":
        image = _read_image(info.path)
        return {i: image for i in wanted}
    if info.kind == "images":
        out = {}
        for i in wanted:
            image = _read_image(info.image_files[i])
            if image.shape[:2] != (info.height, info.width):
                raise VideoOpenError(f"{info.image_files[i]} is {image.shape[1]}x{image.shape[0]}, the other "
                                     f"images of {info.path} are {info.width}x{info.height}")
            out[i] = image
        return out
    return _read_video_frames(info.path, wanted)


def load_source_frames(
    path: str | Path, *, start_frame: int = 0, count: int | None = None, image_folder_fps: float = 10.0,
) -> tuple[list[np.ndarray], float | None]:
    """Read ``count`` consecutive frames of a camera-motion source (a video, image folder or still photo).

    A small reader for building clips; fewer frames come back when the source ends first. Returns the
    frames ((H, W, 3) uint8 RGB) and the source frame rate (``None`` for a still photo: one frame).

    Raises:
        VideoOpenError: the source cannot be read (the message names it).
    """
    info = _probe_source(Path(path), image_folder_fps)
    last = info.frame_count if count is None else min(info.frame_count, start_frame + count)
    frames = _read_frames(info, range(start_frame, last))
    return [frames[i] for i in sorted(frames)], info.fps


def write_clip(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write (H, W, 3) uint8 RGB frames to ``path`` as an mp4v ``.mp4`` (atomically); returns the path."""
    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    with VideoSink(path, fps) as sink:
        for frame in frames:
            sink.write(frame)
    return path


# ---------------------------------------------------------------------------------------------- data sets


def _clip_seed(seed: int, label: str, k: int) -> int:
    # Keyed on the class's place in CAMERA_MOTION_CLASSES, so a subset of classes reproduces the same clips.
    seq = np.random.SeedSequence([seed, CAMERA_MOTION_CLASSES.index(label), k])
    return int(seq.generate_state(1)[0])


def _make_clip(
    info: _SourceInfo,
    label: str,
    clip_seed: int,
    *,
    n_frames: tuple[int, int],
    fps_choices: Sequence[float],
    out_sizes: Sequence[tuple[int, int]],
    degrade: bool,
    crop_frac: tuple[float, float],
) -> tuple[list[np.ndarray], dict]:
    """Render one clip; every random choice derives from ``clip_seed``. Returns frames and manifest fields."""
    rng = np.random.default_rng(clip_seed)
    n = int(rng.integers(n_frames[0], n_frames[1] + 1))
    fps = float(fps_choices[int(rng.integers(len(fps_choices)))])
    out_size = tuple(int(v) for v in out_sizes[int(rng.integers(len(out_sizes)))])
    path = sample_camera_path(label, n_frames=n, fps=fps, src_size=(info.width, info.height),
                              out_size=out_size, rng=rng, crop_frac=crop_frac)
    degradations = sample_degradations(rng) if degrade else None
    if info.fps is None:
        start, needed = 0, [0]
    else:
        span = source_index(n - 1, fps, info.fps, 0)
        start = int(rng.integers(0, max(0, info.frame_count - 1 - span) + 1))
        needed = [min(source_index(i, fps, info.fps, start), info.frame_count - 1) for i in range(n)]
    cache = _read_frames(info, needed)
    last = max(cache)
    frames = render_clip(lambda i: cache[min(i, last)], path, out_size=out_size, source_fps=info.fps,
                         start_frame=start, degradations=degradations)
    record = {
        "n_frames": n,
        "fps": fps,
        "out_size": list(out_size),
        "source_start_frame": start,
        "source_fps": info.fps,
        "source_kind": info.kind,
        "speed_cw_per_s": path.moves[0].speed_cw_per_s,
        "zoom_total": path.moves[0].zoom_total,
        "easing": path.moves[0].easing,
        "crop_frac_of_largest": float(path.width.max() / largest_width(info.width, info.height,
                                                                        out_size[0] / out_size[1])),
        "path": path.to_dict(),
        "degradations": asdict(degradations) if degradations else None,
    }
    return frames, record


def generate_camera_motion_dataset(
    sources: Sequence[str | Path],
    out_dir: str | Path,
    *,
    clips_per_class: int,
    n_frames: tuple[int, int] = (16, 48),
    fps_choices: Sequence[float] = DEFAULT_FPS_CHOICES,
    out_sizes: Sequence[tuple[int, int]] = DEFAULT_OUT_SIZES,
    seed: int = 0,
    classes: Sequence[str] = CAMERA_MOTION_CLASSES,
    crop_frac: tuple[float, float] = (0.45, 0.85),
    degrade: bool = True,
    image_folder_fps: float = 10.0,
    progress: bool = False,
) -> Path:
    """Write a folder-of-classes camera-motion data set rendered from real footage.

    Layout: ``out_dir/<class>/<class>_<k:05d>.mp4`` (mp4v) and ``out_dir/manifest.jsonl`` with one JSON record
    per clip: the clip's relative path, class, source, start frame, seeds, frame count, fps, size, the camera
    path (moves with speed, easing, zoom, jitter; first and last window) and the degradations. Every random
    choice of a clip derives from its own ``seed`` alone, so the same call rewrites identical clips.
    Clip ``k`` of class number ``c`` (in ``classes``) is cut from source ``(c + k) mod len(sources)``, so
    clips are spread evenly over sources and classes.

    Args:
        sources: video files, folders of images (played at ``image_folder_fps`` in name order) or still
            photos (jpg/png/...). Moving content in videos keeps moving under the virtual camera.
        out_dir: created if missing; an existing manifest is replaced.
        clips_per_class: clips to write per class (>= 1).
        n_frames: inclusive range of clip lengths in frames.
        fps_choices: output frame rates to choose from.
        out_sizes: output ``(width, height)`` sizes to choose from.
        seed: data set seed; clip seeds derive from it, the class and the clip number.
        classes: a subset of :data:`CAMERA_MOTION_CLASSES`.
        crop_frac: range of the window size relative to the largest window that fits the source.
        degrade: apply random mild degradations (noise, blur, JPEG, brightness/contrast) per clip.
        image_folder_fps: frame rate given to image-folder sources.
        progress: show a tqdm progress bar.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: an unknown class or a bad range.
        DatasetError: no sources.
        VideoOpenError: a source cannot be read (the message names it).

    Example:
        >>> generate_camera_motion_dataset(["plaza.avi", "photos/cat.jpg"], "data/motion", clips_per_class=50)
        ... # doctest: +SKIP
    """
    unknown = [c for c in classes if c not in CAMERA_MOTION_CLASSES]
    if unknown or not classes:
        valid = ", ".join(CAMERA_MOTION_CLASSES)
        raise ConfigError(f"unknown camera-motion classes {unknown}; expected some of {valid}")
    if clips_per_class < 1:
        raise ConfigError(f"clips_per_class must be >= 1, got {clips_per_class}")
    if not 2 <= n_frames[0] <= n_frames[1]:
        raise ConfigError(f"n_frames must be a range (lo, hi) with 2 <= lo <= hi, got {n_frames}")
    if not fps_choices or not out_sizes:
        raise ConfigError("fps_choices and out_sizes must not be empty")
    if not sources:
        raise DatasetError("generate_camera_motion_dataset needs at least one source")
    infos = [_probe_source(Path(s), image_folder_fps) for s in sources]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(c, label, k) for k in range(clips_per_class) for c, label in enumerate(classes)]
    records = []
    for c, label, k in _progress(jobs, progress, desc="camera-motion clips"):
        info = infos[(c + k) % len(infos)]
        clip_seed = _clip_seed(seed, label, k)
        try:
            frames, fields = _make_clip(info, label, clip_seed, n_frames=n_frames, fps_choices=fps_choices,
                                        out_sizes=out_sizes, degrade=degrade, crop_frac=crop_frac)
        except ValueError as err:
            raise DatasetError(f"cannot make a {label} clip from {info.path}: {err}") from err
        clip_rel = Path(label) / f"{label}_{k:05d}.mp4"
        write_clip(out_dir / clip_rel, frames, fields["fps"])
        records.append({"clip": clip_rel.as_posix(), "label": label, "source": str(info.path),
                        "seed": clip_seed, "dataset_seed": seed, **fields})
    write_text_atomic(out_dir / "manifest.jsonl", "".join(json.dumps(rec) + "\n" for rec in records))
    logger.info("wrote %d camera-motion clips from %d sources to %s", len(records), len(infos), out_dir)
    return out_dir


def _progress(items: list, enabled: bool, desc: str) -> Iterator:
    if not enabled:
        return iter(items)
    from tqdm import tqdm  # only the commands that drive work show progress

    return iter(tqdm(items, desc=desc, unit="clip"))
