"""A long live run keeps its memory flat: tracks come and go, every output is written, nothing accumulates."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from vidgru.cli import cli

FRAMES = 4000


class EndlessCamera:
    """A camera that never runs dry: people-sized blocks cross a noisy street at their own speeds, entering and
    leaving the view, so tracks are born and removed all the time."""

    def __init__(self, *_args) -> None:
        self.t = 0
        self.rng = np.random.default_rng(0)
        self.bg = self.rng.integers(40, 60, (120, 160, 3), dtype=np.uint8)

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return True

    def read(self):
        import time

        time.sleep(0.001)
        self.t += 1
        img = self.bg.copy()
        for k, speed in enumerate((1.0, 1.7, 2.3)):
            x = int((self.t * speed + 60 * k) % 220) - 30
            y = 20 + 30 * k
            img[y : y + 28, max(0, x) : max(0, x + 14)] = 230
        return True, img

    def grab(self):
        return True

    def retrieve(self):
        return self.read()

    def get(self, prop):
        import cv2

        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 160, cv2.CAP_PROP_FRAME_HEIGHT: 120}.get(prop, 0.0)

    def set(self, prop, value):
        return True

    def release(self):
        pass


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident set size from /proc")
def test_memory_stays_flat_over_a_long_live_run(monkeypatch, tmp_path):
    import cv2

    import vidgru.sinks

    real_capture = cv2.VideoCapture
    monkeypatch.setattr(cv2, "VideoCapture", lambda source, *a: EndlessCamera() if isinstance(source, int)
                        else real_capture(source, *a))
    samples: dict[int, float] = {}
    write = vidgru.sinks.MotSink.write

    def sampling_write(self, frame_tracks):
        n = len(samples) and max(samples) or 0
        if frame_tracks.frame_index in (500, FRAMES - 100) or (frame_tracks.frame_index > n + 999):
            samples[frame_tracks.frame_index] = _rss_mb()
        write(self, frame_tracks)

    monkeypatch.setattr(vidgru.sinks.MotSink, "write", sampling_write)
    res = CliRunner().invoke(cli, ["track", "--webcam", "0", "--no-show", "--detector", "bgsub", "--no-appearance",
                                   "--max-frames", str(FRAMES), "--mot", str(tmp_path / "cam.txt"),
                                   "--json", str(tmp_path / "cam.jsonl"), "--out-video", str(tmp_path / "cam.mp4"),
                                   "-q"])
    assert res.exit_code == 0, res.output
    rows = np.loadtxt(tmp_path / "cam.txt", delimiter=",", ndmin=2)
    assert len(np.unique(rows[:, 1])) >= 10  # tracks came and went
    assert sum(1 for _ in open(tmp_path / "cam.jsonl")) == FRAMES
    first, last = samples[min(samples)], samples[max(samples)]
    assert max(samples) >= FRAMES - 200
    assert last - first < 40, samples  # MB: no frame, track or trail kept beyond its time
