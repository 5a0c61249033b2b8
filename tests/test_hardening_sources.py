"""Untrusted decoding and live sources that drop: inputs that would crash OpenCV end with one ``error:`` line
(the other inputs of the run are still processed), and streams that drop are reconnected with a capped
back-off, timestamps carrying the outage, until they give up with one line.

The crash cases run the CLI in a subprocess: without the guard they kill the process (SIGSEGV, SIGABRT)."""

from __future__ import annotations

import http.server
import json
import logging
import os
import shutil
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidgru.errors import VideoOpenError
from vidgru.video import VideoSource, expand_inputs, read_frames
from vidgru.video.guard import crash_prone_format

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names, signals and symlinks")


def run_vidgru(*args: str | bytes, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:backslashreplace"}
    return subprocess.run([sys.executable, "-m", "vidgru", *args], capture_output=True, timeout=timeout, env=env,
                          check=False)


def error_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode("utf-8", "replace").splitlines() if line.startswith("error:")]


# ------------------------------------------------------------------------------------------- crash-prone inputs


def write_dib_avi(path: Path, frames: list[np.ndarray], *, fps: int = 10, bottom_up: bool = True) -> Path:
    """An AVI file of uncompressed 24-bit DIB frames (BI_RGB), written byte by byte: OpenCV's writer cannot
    write this format. ``bottom_up`` (positive biHeight, the usual DIB) is the kind OpenCV crashes on."""

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return tag + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")

    height, width = frames[0].shape[:2]
    row = (width * 3 + 3) & ~3  # DIB rows are padded to 4 bytes
    size = row * height
    avih = struct.pack("<10I4I", 1_000_000 // fps, size * fps, 0, 0x10, len(frames), 0, 1, size, width, height,
                       0, 0, 0, 0)
    strh = b"vids" + b"DIB " + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, fps, 0, len(frames), size,
                                           0xFFFFFFFF, 0, 0, 0, width, height)
    strf = struct.pack("<IiiHHIIiiII", 40, width, height if bottom_up else -height, 1, 24, 0, size, 0, 0, 0, 0)
    strl = chunk(b"LIST", b"strl" + chunk(b"strh", strh) + chunk(b"strf", strf))
    hdrl = chunk(b"LIST", b"hdrl" + chunk(b"avih", avih) + strl)
    movi, index, offset = [], [], 4
    for frame in frames:
        rows = np.zeros((height, row), np.uint8)
        rows[:, : width * 3] = (frame[::-1] if bottom_up else frame).reshape(height, width * 3)
        data = chunk(b"00db", rows.tobytes())
        index.append(struct.pack("<4sIII", b"00db", 0x10, offset, size))
        offset += len(data)
        movi.append(data)
    body = b"AVI " + hdrl + chunk(b"LIST", b"movi" + b"".join(movi)) + chunk(b"idx1", b"".join(index))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def solid_frames(n: int = 6) -> list[np.ndarray]:
    return [np.full((48, 64, 3), (0, 30 * i, 200), np.uint8) for i in range(n)]


@pytest.fixture()
def good_clip(tmp_path, repo_root) -> Path:
    return Path(shutil.copy(repo_root / "sample_videos/zoom_in.mp4", tmp_path / "good.mp4"))


def non_utf8_copy(src: Path, folder: Path, name: bytes) -> bytes:
    target = os.fsencode(folder) + b"/" + name
    if src.is_dir():
        os.mkdir(target)
        for f in sorted(src.iterdir())[:6]:
            shutil.copy(f, target + b"/" + os.fsencode(f.name))
    else:
        shutil.copy(src, target)
    return target


def test_the_crashes_are_real(tmp_path, good_clip):
    """Without the guard, OpenCV itself dies on these inputs (if this fails, a newer OpenCV fixed them: the
    guard is then only a cost)."""
    dib = write_dib_avi(tmp_path / "dib.avi", solid_frames())
    bad_name = non_utf8_copy(good_clip, tmp_path, b"clip\xff.mp4")
    for target in (os.fsencode(dib), bad_name):
        code = "import sys, os, cv2; cap = cv2.VideoCapture(os.fsdecode(sys.argv[1])); cap.read(); cap.read()"
        result = subprocess.run([sys.executable, "-c", code, target], capture_output=True, check=False)
        assert result.returncode < 0, target


def make_bad_input(kind: str, folder: Path, clip: Path, frames_dir: Path) -> bytes:
    if kind == "non-utf8-video-name":
        return non_utf8_copy(clip, folder, b"clip\xff.mp4")
    if kind == "non-utf8-image-folder":
        return non_utf8_copy(frames_dir, folder, b"frames\xfe")
    return os.fsencode(write_dib_avi(folder / f"{kind}.avi", solid_frames(), bottom_up=kind == "dib-bottom-up"))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("non-utf8-video-name", None), ("non-utf8-image-folder", None),
     ("dib-bottom-up", "decoder crashed on it (SIGABRT"), pytest.param("dib-top-down", None, marks=pytest.mark.slow)],
    ids=["non-utf8-video-name", "non-utf8-image-folder", "bottom-up-dib-avi", "top-down-dib-avi-decodes"],
)
def test_classify_survives_inputs_that_crash_opencv(tmp_path, good_clip, repo_root, kind, expected):
    """The bad input is either read (a name OpenCV cannot take goes through a link) or reported in one
    `error:` line naming it, exit 1, and the good input of the same run is still classified."""
    bad = make_bad_input(kind, tmp_path, good_clip, repo_root / "sample_videos/frames")
    result = run_vidgru("classify", bad, str(good_clip), "-q")
    stdout, stderr = (result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace"))
    assert "Traceback" not in stderr
    classified = [line.split(": ")[0] for line in stdout.splitlines() if not line.startswith(" ") and ": " in line]
    assert str(good_clip) in classified
    bad_name = os.fsdecode(bad).split("/")[-1].encode("utf-8", "backslashreplace").decode()  # as printed
    if expected is None:
        assert result.returncode == 0, stderr
        assert len(classified) == 2 and bad_name in classified[0]
    else:
        assert result.returncode == 1, stderr
        (line,) = error_lines(result.stderr)
        assert expected in line and bad_name in line
        assert len(classified) == 1


def test_track_reports_a_crashing_file_in_one_line(tmp_path):
    dib = write_dib_avi(tmp_path / "dib.avi", solid_frames())
    result = run_vidgru("track", str(dib), "--detector", "bgsub", "--no-appearance", "--state-model", "kalman",
                        "--mot", str(tmp_path / "out.txt"), "-q")
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "dib.avi" in line and "decoder crashed" in line
    assert "Traceback" not in result.stderr.decode()
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.slow
def test_batch_reads_a_non_utf8_name_and_reports_a_crashing_file(tmp_path, good_clip):
    """In batch the worker no longer dies on a name OpenCV cannot take (the clip is classified), and a file
    whose decoder crashes is one failed item, the rest done."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.move(good_clip, folder / "good.mp4")
    non_utf8_copy(folder / "good.mp4", folder, b"clip\xff.mp4")
    write_dib_avi(folder / "dib.avi", solid_frames())
    out = tmp_path / "out"
    result = run_vidgru("batch", str(folder), "--out", str(out), "-q", timeout=300)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert sorted(os.listdir(os.fsencode(out))) == [b"clip\xff.json", b"good.json", b"manifest.jsonl"]
    assert "dib.avi" in stderr and "decoder crashed" in stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [("dib.avi", "uncompressed bottom-up DIB"), ("dib_td.avi", "uncompressed top-down DIB"),
     ("raw_i420.avi", None), ("clip.mp4", None), ("tiny.avi", None)],
    ids=["bottom-up", "top-down", "opencv-raw-i420", "mp4", "truncated-header"],
)
def test_only_crash_prone_formats_are_probed(tmp_path, good_clip, name, expected):
    path = tmp_path / name
    if name == "dib.avi":
        write_dib_avi(path, solid_frames())
    elif name == "dib_td.avi":
        write_dib_avi(path, solid_frames(), bottom_up=False)
    elif name == "raw_i420.avi":
        writer = cv2.VideoWriter(str(path), 0, 10, (64, 48))  # fourcc 0: what OpenCV writes is raw I420
        for frame in solid_frames():
            writer.write(frame)
        writer.release()
    elif name == "clip.mp4":
        shutil.copy(good_clip, path)
    else:
        path.write_bytes(b"RIFF\x10\x00\x00\x00AVI LIST")
    reason = crash_prone_format(str(path))
    assert reason == (None if expected is None else f"{expected} video in an AVI file")


def test_video_source_reads_a_non_utf8_name_and_removes_its_link(tmp_path, good_clip):
    bad = non_utf8_copy(good_clip, tmp_path, b"clip\xff.mp4")
    links = Path(tempfile.gettempdir())
    before = set(links.glob("vidgru-name-*"))
    with VideoSource(os.fsdecode(bad), max_frames=3) as src:
        assert len(set(links.glob("vidgru-name-*")) - before) == 1
        frames = list(src)
    assert len(frames) == 3 and frames[0].image.shape[2] == 3
    assert set(links.glob("vidgru-name-*")) == before  # the link's folder is gone once the source closed


# --------------------------------------------------------------------------------------------------- messages


def test_image_folder_without_fps_warns_once(repo_root, caplog):
    with caplog.at_level(logging.WARNING, logger="vidgru.video"):
        read_frames(repo_root / "sample_videos/frames", max_frames=2)
    (record,) = [r for r in caplog.records if "frame rate" in r.getMessage()]
    assert "assuming 25 frames/s" in record.getMessage() and "--fps" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vidgru.video"):
        read_frames(repo_root / "sample_videos/frames", max_frames=2, fps=10)
    assert not caplog.records


def test_folder_of_videos_names_the_image_folders_it_leaves_out(repo_root, caplog):
    with caplog.at_level(logging.WARNING, logger="vidgru.video"):
        sources = expand_inputs([repo_root / "sample_videos"])
    assert all(s.endswith(".mp4") for s in sources)
    (record,) = caplog.records
    assert "sample_videos/frames" in record.getMessage() and "input of its own" in record.getMessage()


def test_folder_of_videos_opened_as_images_points_to_batch(tmp_path, good_clip):
    with pytest.raises(VideoOpenError, match=r"holds videos, not images; .*`vidgru batch ") as excinfo:
        VideoSource(str(tmp_path)).open()
    assert "expand_inputs" not in str(excinfo.value)


# ------------------------------------------------------------------------------------ live sources that drop

FPS = 25.0
LEG_FRAMES = 15  # frames each server run sends before it drops
OUTAGE_S = 1.0
RECONNECT = ("0.2", "4")  # attempts 0.2, 0.6, 1.4 and 3.0 s after the drop: the third one finds the server back


class MjpegServer:
    """An HTTP MJPEG stream on loopback (``multipart/x-mixed-replace`` JPEG parts, what many IP cameras
    serve), which OpenCV's FFmpeg backend reads as a live http stream. It sends ``frames`` frames at ``FPS``
    in all, then drops every connection and stops listening (``done`` is set)."""

    def __init__(self, jpegs: list[bytes], frames: int, port: int = 0) -> None:
        self.sent = 0
        self.done = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while server.sent < frames:
                        jpeg = jpegs[server.sent % len(jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpeg) + jpeg + b"\r\n")
                        self.wfile.flush()
                        server.sent += 1
                        time.sleep(1.0 / FPS)
                except OSError:
                    return
                server.done.set()

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._httpd = Server(("127.0.0.1", port), Handler)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def jpegs(repo_root) -> list[bytes]:
    cap = cv2.VideoCapture(str(repo_root / "sample_videos/zoom_in.mp4"))
    out = []
    while len(out) < 30:
        ok, image = cap.read()
        if not ok:
            break
        out.append(cv2.imencode(".jpg", cv2.resize(image, (160, 120)))[1].tobytes())
    cap.release()
    return out


def drop_restart_then_die(first: MjpegServer, jpegs: list[bytes], log: list) -> threading.Thread:
    """In a thread: when ``first`` has sent its frames, stop it; after OUTAGE_S start a second server on the
    same port; when that one has sent its frames, stop it for good. ``log`` gets (event, monotonic time)."""

    def run() -> None:
        first.done.wait(30)
        first.stop()
        log.append(("down", time.monotonic()))
        time.sleep(OUTAGE_S)
        second = MjpegServer(jpegs, LEG_FRAMES, port=first.port)
        log.append(("up", time.monotonic()))
        second.done.wait(30)
        second.stop()
        log.append(("gone", time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_gap_is_the_outage(timestamps: list[float], indices: list[int]) -> None:
    assert all(b > a for a, b in zip(timestamps, timestamps[1:], strict=False))
    assert all(b > a for a, b in zip(indices, indices[1:], strict=False))
    steps = [b - a for a, b in zip(timestamps, timestamps[1:], strict=False)]
    gap = max(steps)
    assert OUTAGE_S * 0.8 < gap < OUTAGE_S + 4.0, steps
    assert sorted(steps)[len(steps) // 2] < 0.2  # frames on both sides of the gap are ~1/25 s apart


@pytest.mark.parametrize("live", [False, True], ids=["http-read-in-order", "http-read-live"])
def test_stream_reconnects_after_a_restart_and_gives_up_when_it_never_returns(jpegs, live):
    server = MjpegServer(jpegs, LEG_FRAMES)
    log: list = []
    driver = drop_restart_then_die(server, jpegs, log)
    frames = []
    started = time.monotonic()
    with pytest.raises(VideoOpenError, match=r"stream stopped delivering frames after frame \d+; gave up after "
                                             r"4 reconnection attempts"):
        with VideoSource(server.url, live=live, reconnect_s=float(RECONNECT[0]), max_reconnects=int(RECONNECT[1]),
                         stall_timeout_s=1.0) as src:
            for frame in src:
                frames.append(frame)
    driver.join(5)
    assert [event for event, _ in log] == ["down", "up", "gone"]
    assert time.monotonic() - started < 15
    # Frames from both server runs arrived (a live reader may skip some), before and after the outage.
    assert len(frames) >= (2 * LEG_FRAMES if not live else LEG_FRAMES)
    assert_gap_is_the_outage([f.timestamp_s for f in frames], [f.index for f in frames])


def test_stream_with_no_reconnects_ends_at_the_first_drop(jpegs):
    server = MjpegServer(jpegs, LEG_FRAMES)
    try:
        with pytest.raises(VideoOpenError, match=r"stream stopped delivering frames after frame \d+$"):
            list(VideoSource(server.url, live=True, stall_timeout_s=0.5))
    finally:
        server.stop()


def test_track_cli_keeps_tracking_across_a_stream_restart(jpegs, tmp_path):
    """`vidgru track URL --json -` in a subprocess: JSON Lines from both server runs, the timestamps jumping
    by the outage; when the stream never comes back, one line saying so, a non-zero exit, and the records so far
    kept."""
    server = MjpegServer(jpegs, LEG_FRAMES)
    log: list = []
    driver = drop_restart_then_die(server, jpegs, log)
    result = run_vidgru("track", server.url, "--json", "-", "--detector", "bgsub", "--no-appearance",
                        "--state-model", "kalman", "--reconnect-s", RECONNECT[0], "--max-reconnects", RECONNECT[1],
                        "-q", timeout=60)
    driver.join(5)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode in (1, 2), stderr  # the track command decides: a source that failed partway
    assert "Traceback" not in stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith(("error:", "warning:"))]
    assert server.url in line and "gave up after 4 reconnection attempts" in line
    records = [json.loads(x) for x in result.stdout.decode().splitlines() if x.startswith("{")]
    assert len(records) >= 2 * LEG_FRAMES - 2
    assert_gap_is_the_outage([r["timestamp_s"] for r in records], [r["frame"] for r in records])
