"""Tests for vidgru.train.synth: synthetic camera-motion clips.

Directions are checked with measurements that share no code with the renderer: phase correlation between
consecutive frames (its sign calibrated below against ``np.roll``) for translation, and ORB feature matches
with a RANSAC similarity fit for zoom.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidgru.errors import ConfigError, DatasetError, VideoOpenError, VidgruError
from vidgru.train.synth import (
    CAMERA_MOTION_CLASSES,
    CameraMove,
    Degradations,
    apply_degradations,
    generate_camera_motion_dataset,
    load_source_frames,
    plan_camera_path,
    render_clip,
    render_sequence,
    sample_camera_path,
    sample_degradations,
    sample_move,
    write_clip,
)
from vidgru.video import read_frames

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
VTEST = DATA / "opencv_samples" / "samples" / "data" / "vtest.avi"
SAMPLES = REPO / "sample_videos"

# Expected sign of the CONTENT's motion (x right, y down) for each directional class.
CONTENT_DIRECTION = {
    "pan_left": (1, 0),
    "pan_right": (-1, 0),
    "tilt_up": (0, 1),
    "tilt_down": (0, -1),
}


def _real_file(path: Path) -> Path:
    """Real footage from ../shared/data: skipped when absent, except on CI where it must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"real footage {path} is missing on CI")
        pytest.skip(f"real footage {path} not available")
    return path


def _read_rgb_frames(path: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """A 640x480 random texture, smooth at the pixel scale: (480, 640, 3) uint8 RGB."""
    rng = np.random.default_rng(123)
    return cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3)).astype(np.uint8), (0, 0), 1.5)


def _gray(frame: np.ndarray) -> np.ndarray:
    return np.float32(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))


def _content_shifts(frames: list[np.ndarray]) -> np.ndarray:
    """Content displacement (dx, dy) in output pixels from each frame to the next: (n - 1, 2)."""
    window = cv2.createHanningWindow(frames[0].shape[1::-1], cv2.CV_32F)
    grays = [_gray(f) for f in frames]
    return np.array([cv2.phaseCorrelate(a, b, window)[0] for a, b in zip(grays, grays[1:], strict=False)])


def _similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2x3 similarity transform taking points of frame ``a`` to frame ``b`` (ORB matches + RANSAC)."""
    orb = cv2.ORB_create(1500, edgeThreshold=15, patchSize=15)
    ka, da = orb.detectAndCompute(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), None)
    kb, db = orb.detectAndCompute(cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    pa = np.float32([ka[m.queryIdx].pt for m in matches])
    pb = np.float32([kb[m.trainIdx].pt for m in matches])
    m, inliers = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=1.5)
    assert m is not None and inliers.sum() >= 15, f"too few feature matches ({len(matches)})"
    return m


def test_phase_correlation_sign_convention(texture):
    # The measurement the direction tests rely on: content moved right by 3 px reads as dx = +3.
    a = texture[:240, :320]
    b = np.roll(a, shift=(2, 3), axis=(0, 1))
    dx, dy = _content_shifts([a, b])[0]
    assert dx == pytest.approx(3, abs=0.05) and dy == pytest.approx(2, abs=0.05)


def test_class_names_in_documented_order():
    assert CAMERA_MOTION_CLASSES == (
        "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake",
    )


@pytest.mark.parametrize(
    "src_size", [(768, 576), (640, 272), (176, 144), (300, 600), (1280, 720)],
    ids=["vtest", "bikes-wide", "carphone-tiny", "portrait", "hd"],
)
@pytest.mark.parametrize("label", CAMERA_MOTION_CLASSES)
def test_paths_stay_inside_the_source(label, src_size):
    rng = np.random.default_rng(7)
    for _ in range(12):
        n = int(rng.integers(16, 49))
        fps = float(rng.choice([10, 15, 25, 30]))
        out_size = [(320, 240), (384, 216), (256, 256), (480, 270)][int(rng.integers(4))]
        path = sample_camera_path(label, n_frames=n, fps=fps, src_size=src_size, out_size=out_size, rng=rng)
        assert path.n_frames == n and path.label == label
        assert path.fits(*src_size), f"{label} window leaves the {src_size} source"
        assert np.allclose(path.width / path.height, out_size[0] / out_size[1])
        move = path.moves[0]
        assert move.speed_cw_per_s <= 0.6 + 1e-9
        if label in CONTENT_DIRECTION:
            assert move.speed_cw_per_s > 0
        if label in ("zoom_in", "zoom_out"):
            assert 1.1 - 1e-9 <= max(move.zoom_total, 1 / move.zoom_total) <= 2.5 + 1e-9


@pytest.mark.parametrize("label", list(CONTENT_DIRECTION))
def test_content_moves_the_way_the_class_says(label, texture):
    expected = np.array(CONTENT_DIRECTION[label], dtype=float)
    for seed in range(3):
        path = sample_camera_path(label, n_frames=20, fps=15, src_size=(640, 480), out_size=(192, 144),
                                  rng=np.random.default_rng(seed))
        shifts = _content_shifts(render_clip([texture], path, out_size=(192, 144)))
        along = shifts @ expected
        assert np.all(along > 0), f"{label} seed {seed}: content moved against the class in some frames"
        # The total content displacement is the window's, reversed, in output pixels (phase correlation's
        # sub-pixel errors add up over the 19 steps, hence the absolute slack).
        window_px = np.array(path.moves[0].shift_cw) * 192
        assert shifts.sum(0) == pytest.approx(-window_px, abs=0.05 * np.abs(window_px).max() + 2.0)
        across = np.abs(shifts.sum(0) @ expected[::-1])
        assert across <= 0.15 * along.sum() + 0.5, "perpendicular drift is not small"


@pytest.mark.parametrize("label", ["zoom_in", "zoom_out"])
def test_zoom_scales_content_about_the_centre(label, texture):
    for seed in range(3):
        path = sample_camera_path(label, n_frames=24, fps=15, src_size=(640, 480), out_size=(320, 240),
                                  rng=np.random.default_rng(seed))
        frames = render_clip([texture], path, out_size=(320, 240))
        k = 6  # far enough for a clear scale change, near enough for many feature matches
        m = _similarity(frames[0], frames[k])
        scale = float(np.hypot(m[0, 0], m[1, 0]))
        assert (scale > 1.05) if label == "zoom_in" else (scale < 1 / 1.05)
        assert scale == pytest.approx(path.width[0] / path.width[k], rel=0.01)
        centre = np.array([159.5, 119.5])
        moved = np.linalg.norm(m[:, :2] @ centre + m[:, 2] - centre)
        assert moved < 0.03 * 320, "zoom is not about the centre"


def test_static_camera_does_not_move(texture):
    for seed in range(3):
        path = sample_camera_path("static", n_frames=30, fps=25, src_size=(640, 480), out_size=(256, 256),
                                  rng=np.random.default_rng(seed))
        frames = render_clip([texture], path, out_size=(256, 256))
        shifts = _content_shifts(frames)
        # Sensor jitter is at most 0.3 output px per frame, so at most 0.6 px between two frames (+ the
        # measurement's own ~0.1 px error).
        assert np.abs(shifts).max() <= 0.8
        assert np.abs(_content_shifts([frames[0], frames[-1]])).max() <= 0.8


@pytest.mark.parametrize("n_frames, fps", [(40, 25), (16, 30), (20, 10)], ids=["1.6s", "0.5s", "1.9s-10fps"])
def test_shake_jitters_without_a_net_direction(texture, n_frames, fps):
    for seed in range(3):
        path = sample_camera_path("shake", n_frames=n_frames, fps=fps, src_size=(640, 480),
                                  out_size=(256, 192), rng=np.random.default_rng(seed))
        frames = render_clip([texture], path, out_size=(256, 192))
        shifts = _content_shifts(frames)
        travelled = np.linalg.norm(shifts, axis=1).sum()
        net = np.linalg.norm(_content_shifts([frames[0], frames[-1]])[0])
        assert np.linalg.norm(shifts, axis=1).mean() > 0.5, "shake should move noticeably frame to frame"
        assert net < 0.5, "shake must come back to where it started"
        assert np.linalg.norm(shifts.sum(0)) < 0.25 * travelled, "shake must not drift in one direction"


def test_rendering_is_deterministic_given_the_seed(texture):
    def make(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        path = sample_camera_path("pan_right", n_frames=12, fps=10, src_size=(640, 480), out_size=(128, 96),
                                  rng=rng)
        deg = Degradations(blur_sigma=0.6, brightness=5, contrast=1.1, noise_sigma=3, jpeg_quality=50,
                           noise_seed=int(rng.integers(1000)))
        return render_clip([texture], path, out_size=(128, 96), degradations=deg)

    a, b, c = make(5), make(5), make(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert a[0].shape == (96, 128, 3) and a[0].dtype == np.uint8


def test_degradations_keep_the_input_and_stay_mild(texture):
    frame = texture[:96, :128].copy()
    before = frame.copy()
    for seed in range(20):
        deg = sample_degradations(np.random.default_rng(seed))
        out = apply_degradations(frame, deg, np.random.default_rng(0))
        assert out.shape == frame.shape and out.dtype == np.uint8 and out is not frame
        assert np.abs(out.astype(int) - frame).mean() < 30
    assert np.array_equal(frame, before)


def test_sequence_continues_the_window_across_segments(texture):
    frames, path = render_sequence([texture], [("pan_left", 2.0), ("static", 2.0)], out_size=(192, 144),
                                   fps=10, rng=np.random.default_rng(3), speed_cw_per_s=(0.2, 0.3))
    assert len(frames) == 40
    segs = path.segments()
    assert [(s.label, s.start_s, s.end_s) for s in segs] == [("pan_left", 0.0, 2.0), ("static", 2.0, 4.0)]
    shifts = _content_shifts(frames)
    # Frame 20 (t = 2.0 s) is the end of the pan; the motion from frame 19 to 20 is its last step.
    assert np.all(shifts[:20, 0] > 0.5)
    assert np.abs(shifts[20:]).max() <= 0.8
    assert abs(path.cx[20] - path.cx[19]) > 0 and np.ptp(path.cx[20:]) < 1.0
    assert path.fits(640, 480)


def test_plan_reports_a_path_that_cannot_fit():
    move = CameraMove("pan_right", 2.0, shift_cw=(5.0, 0.0))
    with pytest.raises(ValueError, match="does not fit"):
        plan_camera_path([move], fps=10, n_frames=21, src_size=(320, 240), out_size=(160, 120), crop_frac=0.8,
                         rng=np.random.default_rng(0), min_crop_frac=0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(label="pan_left", duration_s=1.0, shift_cw=(0.3, 0.0)), "must point along"),
        (dict(label="tilt_up", duration_s=1.0, shift_cw=(0.2, -0.3)), "perpendicular drift"),
        (dict(label="zoom_in", duration_s=1.0, zoom_total=0.8), "does not match"),
        (dict(label="static", duration_s=1.0, shift_cw=(0.1, 0.0)), "too large"),
        (dict(label="shake", duration_s=1.0), "jitter_frac must be > 0"),
        (dict(label="walk", duration_s=1.0), "unknown camera-motion class"),
        (dict(label="pan_right", duration_s=0.0, shift_cw=(0.3, 0.0)), "duration_s"),
        (dict(label="pan_right", duration_s=1.0, shift_cw=(0.3, 0.0), easing="bounce"), "unknown easing"),
    ],
    ids=["pan-wrong-way", "tilt-too-diagonal", "zoom-in-shrinks", "static-moves", "shake-still", "bad-label",
         "zero-duration", "bad-easing"],
)
def test_camera_move_rejects_inconsistent_moves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CameraMove(**kwargs)


def test_sample_move_respects_the_class():
    rng = np.random.default_rng(0)
    for label in CAMERA_MOTION_CLASSES:
        for _ in range(20):
            move = sample_move(label, 2.0, rng=rng)  # CameraMove validates the class on construction
            assert move.label == label


# ------------------------------------------------------------------------------------------------ datasets


def _write_sources(root: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
    base = cv2.resize(small, (160, 120), interpolation=cv2.INTER_CUBIC)
    video = write_clip(root / "moving.mp4", [np.roll(base, 2 * i, axis=1) for i in range(30)], fps=10)
    folder = root / "frames"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.roll(base, i, axis=0))
    still = root / "still.jpg"
    cv2.imwrite(str(still), base)
    return [video, folder, still]


def test_dataset_layout_and_manifest(tmp_path):
    sources = _write_sources(tmp_path)
    out = generate_camera_motion_dataset(sources, tmp_path / "ds", clips_per_class=2, n_frames=(6, 8),
                                         fps_choices=(10, 15), out_sizes=((64, 48), (64, 36)), seed=1)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 2 * len(CAMERA_MOTION_CLASSES)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(CAMERA_MOTION_CLASSES)
    for rec in records:
        clip = out / rec["clip"]
        assert clip.parent.name == rec["label"] and clip.suffix == ".mp4"
        cap = cv2.VideoCapture(str(clip))
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (rec["out_size"][1], rec["out_size"][0], 3)
            n += 1
        cap.release()
        assert n == rec["n_frames"] and 6 <= n <= 8
        for key in ("source", "source_start_frame", "seed", "fps", "speed_cw_per_s", "easing", "path",
                    "degradations", "crop_frac_of_largest"):
            assert key in rec
    per_source = {str(s): sum(r["source"] == str(s) for r in records) for s in sources}
    assert min(per_source.values()) >= 5, per_source  # 16 clips spread over 3 sources
    assert not list(out.rglob(".*tmp*")), "temporary files left behind"


def test_dataset_is_reproducible(tmp_path):
    sources = _write_sources(tmp_path)
    kwargs = dict(clips_per_class=1, n_frames=(5, 6), fps_choices=(10,), out_sizes=((48, 48),), seed=9,
                  classes=("pan_left", "shake"))
    a = generate_camera_motion_dataset(sources, tmp_path / "a", **kwargs)
    b = generate_camera_motion_dataset(sources, tmp_path / "b", **kwargs)
    assert (a / "manifest.jsonl").read_text() == (b / "manifest.jsonl").read_text()
    rec = json.loads((a / "manifest.jsonl").read_text().splitlines()[0])
    assert (a / rec["clip"]).read_bytes() == (b / rec["clip"]).read_bytes()


def test_unreadable_sources_are_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [(bad, "broken.mp4"), (tmp_path / "missing.avi", "missing.avi"), (empty, "no images")]
    for source, message in cases:
        with pytest.raises(VideoOpenError, match=message) as info:
            generate_camera_motion_dataset([source], tmp_path / "out", clips_per_class=1)
        assert isinstance(info.value, VidgruError)
        assert str(source) in str(info.value)


def test_load_source_frames_reads_what_video_source_decodes(tmp_path):
    video, folder, still = _write_sources(tmp_path)
    frames, fps = load_source_frames(video, start_frame=3, count=4)
    decoded = read_frames(video)
    assert fps == 10.0 and len(frames) == 4
    assert all(np.array_equal(a, f.image) for a, f in zip(frames, decoded[3:7], strict=True))
    tail, _ = load_source_frames(video, start_frame=28, count=10)  # the source ends first: fewer frames
    assert len(tail) == 2
    images, folder_fps = load_source_frames(folder, image_folder_fps=7.0)
    assert folder_fps == 7.0 and len(images) == 5 and images[0].shape == (120, 160, 3)
    photo, photo_fps = load_source_frames(still)
    assert photo_fps is None and len(photo) == 1


def test_frames_before_the_wanted_ones_are_not_converted(tmp_path, monkeypatch):
    import vidgru.video.file

    video, _, _ = _write_sources(tmp_path)
    converted = []
    to_rgb = vidgru.video.file.to_rgb

    def counting_to_rgb(image, max_size):
        converted.append(1)
        return to_rgb(image, max_size)

    monkeypatch.setattr(vidgru.video.file, "to_rgb", counting_to_rgb)
    frames, _ = load_source_frames(video, start_frame=20, count=4)
    assert len(frames) == 4
    assert len(converted) == 1 + 4  # the probe's first frame, then only the 4 frames asked for


def test_image_folder_sources_play_in_plain_name_order(tmp_path):
    # Name order, as data sets were always made ("f10" before "f2"); VideoSource itself sorts naturally.
    folder = tmp_path / "unpadded"
    folder.mkdir()
    for i in (1, 2, 10):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((8, 8, 3), 10 * i, np.uint8))
    frames, _ = load_source_frames(folder)
    assert [int(f[0, 0, 0]) for f in frames] == [10, 100, 20]


def test_bad_dataset_arguments(tmp_path):
    with pytest.raises(ConfigError, match="unknown camera-motion classes"):
        generate_camera_motion_dataset(["x.mp4"], tmp_path, clips_per_class=1, classes=("dolly",))
    with pytest.raises(DatasetError, match="at least one source"):
        generate_camera_motion_dataset([], tmp_path, clips_per_class=1)


# ------------------------------------------------------------------------------------------- real footage


def test_real_plaza_pan_and_static_with_walking_people():
    frames = _read_rgb_frames(_real_file(VTEST), 25)
    assert len(frames) == 25
    pan_frames, _ = render_sequence(frames, [("pan_right", 2.0)], out_size=(192, 144), fps=10,
                                    rng=np.random.default_rng(0), source_fps=10.0, speed_cw_per_s=(0.3, 0.4))
    assert np.all(_content_shifts(pan_frames)[:, 0] < -0.5)  # pan_right: content moves left
    path = sample_camera_path("static", n_frames=20, fps=10, src_size=(768, 576), out_size=(192, 144),
                              rng=np.random.default_rng(1))
    static = render_clip(frames, path, out_size=(192, 144), source_fps=10.0)
    moved = np.abs(_gray(static[0]) - _gray(static[-1])) > 40
    assert 0.001 < moved.mean() < 0.2, "people should keep walking under a static camera, nothing else moves"
    m = _similarity(static[0], static[-1])  # RANSAC ignores the walkers
    assert np.hypot(m[0, 0], m[1, 0]) == pytest.approx(1.0, abs=0.01)
    assert np.abs(m[:, 2]).max() < 1.0


def test_committed_sample_clips_match_samples_json():
    meta_file = SAMPLES / "samples.json"
    assert meta_file.exists(), "run: .venv/bin/python sample_videos/make_samples.py"
    meta = json.loads(meta_file.read_text())
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total <= 3 * 1024 * 1024
    for clip in meta["clips"]:
        path = SAMPLES / clip["file"]
        assert path.exists(), path
        if path.is_dir():
            assert len(list(path.glob("*.jpg"))) == clip["n_frames"]
            continue
        cap = cv2.VideoCapture(str(path))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
        assert n == clip["n_frames"] and list(size) == clip["size"]
        segs = clip["segments"]
        assert segs[0]["start_s"] == 0 and segs[-1]["end_s"] == pytest.approx(n / clip["fps"])
        assert all(a["end_s"] == b["start_s"] for a, b in zip(segs, segs[1:], strict=False))


def test_committed_pan_then_static_changes_motion_at_the_recorded_boundary():
    meta_file = SAMPLES / "samples.json"
    assert meta_file.exists(), "run: .venv/bin/python sample_videos/make_samples.py"
    clips = json.loads(meta_file.read_text())["clips"]
    clip = next(c for c in clips if c["file"] == "pan_left_then_static.mp4")
    assert [s["label"] for s in clip["segments"]] == ["pan_left", "static"]
    boundary = round(clip["segments"][0]["end_s"] * clip["fps"])  # index of the first frame of "static"
    cap = cv2.VideoCapture(str(SAMPLES / clip["file"]))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    shifts = _content_shifts(frames)  # shifts[i]: frame i -> i + 1
    assert np.median(shifts[:boundary, 0]) > 1.5  # pan_left: content moves right
    assert np.all(shifts[:boundary, 0] > 0.5)
    assert np.median(np.abs(shifts[boundary:]), axis=0).max() < 0.3  # walkers move, the camera does not


def test_synth_command_writes_a_trainable_data_set(tmp_path):
    from click.testing import CliRunner

    from vidgru.cli import cli
    from vidgru.train.dataset import load_labelled_set

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "motion"
    res = CliRunner().invoke(cli, ["synth", "camera-motion", str(root / "sample_videos/static_street.mp4"),
                                   str(root / "sample_videos/frames"), "--out", str(out), "--clips-per-class", "2",
                                   "--classes", "pan_left,zoom_out", "--min-frames", "8", "--max-frames", "10",
                                   "-q"])
    assert res.exit_code == 0, res.output
    data = load_labelled_set(out)
    assert data.counts() == {"pan_left": 2, "zoom_out": 2}
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 4
    bad = CliRunner().invoke(cli, ["synth", "camera-motion", str(tmp_path / "nope.mp4"), "--out", str(out)])
    assert bad.exit_code == 2 and "nope.mp4" in bad.stderr
