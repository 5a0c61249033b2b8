"""`vidgru export`: the ONNX files run in ONNX Runtime and OpenCV's DNN module with PyTorch's results, an exported
classifier classifies as the checkpoint does without importing torch, and bad input leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vidgru.cli import cli
from vidgru.errors import CheckpointError, ConfigError
from vidgru.export import export_model
from vidgru.paths import CLIP_MODEL, STATE_MODEL, shipped_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip_export(tmp_path_factory) -> Path:
    """The shipped camera-motion model, exported once for this module."""
    out = tmp_path_factory.mktemp("export") / "camera_motion"
    export_model(shipped_model(CLIP_MODEL), out)
    return out


@pytest.fixture(scope="module")
def state_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "state"
    export_model(shipped_model(STATE_MODEL), out)
    return out


def _cv2_run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import cv2

    net = cv2.dnn.readNetFromONNX(str(path))
    for name, value in feeds.items():
        net.setInput(np.ascontiguousarray(value, np.float32), name)
    return list(net.forward(net.getUnconnectedOutLayersNames()))


def _onnx_inputs(path: Path) -> set[str]:
    import onnx

    return {i.name for i in onnx.load(str(path)).graph.input}


# ------------------------------------------------------------------------------------------- state model


def test_state_model_step_runs_in_onnxruntime_and_opencv_like_the_tracker(state_export):
    from vidgru.exported import OnnxStateStep
    from vidgru.track.gru_motion import _NumpyNet, load_motion_checkpoint

    manifest = json.loads((state_export / "model.json").read_text())
    assert manifest["kind"] == "state-model" and manifest["files"] == {"step": "state_step.onnx"}
    ckpt = load_motion_checkpoint(shipped_model(STATE_MODEL))
    g = np.random.default_rng(0)
    x = g.normal(size=(7, ckpt.config.input_dim)).astype(np.float32)
    h = (g.normal(size=(7, ckpt.config.hidden_size)) * 0.5).astype(np.float32)
    expected = _NumpyNet(ckpt.state_dict)(x, h)  # what the tracker computes today
    for got in (OnnxStateStep(state_export)(x, h), _cv2_run(state_export / "state_step.onnx", {"x": x, "h": h})):
        for a, b in zip(got, expected):
            np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=1e-4)


def test_tracking_a_real_sequence_with_the_exported_state_model_gives_the_same_tracks(state_export, mot15):
    """TUD-Campus (MOT15, real detections): the tracker with the ONNX step in place of its numpy net."""
    from vidgru.exported import OnnxStateStep
    from vidgru.mot import read_mot_txt
    from vidgru.track.gru_motion import GruBank
    from vidgru.track.tracker import Tracker
    from vidgru.types import Detections

    dets = read_mot_txt(mot15 / "TUD-Campus" / "det" / "det.txt")
    frames = sorted(set(int(f) for f in dets[:, 0]))

    def run(bank) -> list[tuple]:
        tracker = Tracker(motion=bank)
        out = []
        for f in frames:
            rows = dets[dets[:, 0] == f]
            boxes = np.c_[rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]]
            detections = Detections(boxes, np.clip(rows[:, 6], 0, 1), np.full(len(rows), -1))
            tracks = tracker.update(detections, f / 25).tracks
            out += [(f, t.track_id, *t.xyxy) for t in tracks]
        return out

    onnx_bank = GruBank()
    onnx_bank.net = OnnxStateStep(state_export)
    reference = run(GruBank())
    assert len(reference) > 100
    got = run(onnx_bank)
    assert [r[:2] for r in got] == [r[:2] for r in reference]
    np.testing.assert_allclose(np.array([r[2:] for r in got]), np.array([r[2:] for r in reference]), atol=0.05)


# ------------------------------------------------------------------------------------------- clip classifier


@pytest.mark.slow
def test_trunk_runs_in_onnxruntime_and_opencv_like_pytorch(clip_export, shared_data, embedder):
    """Real frames (vtest.avi): the exported trunk's feature maps and pooled features equal PyTorch's."""
    from vidgru.exported import ExportedClipModel
    from vidgru.video import read_frames

    frames = [f.image for f in read_frames(shared_data / "opencv_samples/samples/data/vtest.avi", every_n=40,
                                           max_frames=4)]
    crops = embedder.preprocess.batch(frames)
    with torch.inference_mode():
        x = embedder._to_input(crops)
        fmap = embedder.trunk(x)
    pooled = fmap.mean(dim=(2, 3))
    lean = ExportedClipModel.load(clip_export).embedder()
    np.testing.assert_allclose(lean.appearance(crops), pooled.numpy(), atol=1e-4)
    cv_fmap, cv_pooled = _cv2_run(clip_export / "trunk.onnx", {"x": x.numpy()})
    np.testing.assert_allclose(cv_fmap, fmap.numpy(), atol=1e-3)
    np.testing.assert_allclose(cv_pooled, pooled.numpy(), atol=1e-4)


@pytest.mark.slow
def test_head_streams_in_onnxruntime_and_opencv_like_pytorch(clip_export, shared_data):
    """The GRU head on real embeddings, in two halves with the hidden state passed on: the same logits and
    state as PyTorch's forward_stream, in ONNX Runtime and in cv2.dnn."""
    from vidgru.classify import ClipClassifier, embed_video
    from vidgru.exported import ExportedClipModel

    lean = ExportedClipModel.load(clip_export)
    video = embed_video(str(shared_data / "opencv_samples/samples/data/vtest.avi"), lean.embedder(),
                        sample_fps=lean.sampling.sample_fps, max_frames=32)
    x = torch.from_numpy(video.embeddings)[None]  # (1, 32, D)
    net = ClipClassifier.from_path(None, runtime="torch", device="cpu").net
    with torch.inference_mode():
        ref1, h1 = net.forward_stream(x[:, :16])
        ref2, h2 = net.forward_stream(x[:, 16:], hidden=h1, prev=x[:, 15])
    head = lean.head()
    p1, s1 = head.stream(x[:, :16].numpy(), None, None)
    p2, s2 = head.stream(x[:, 16:].numpy(), s1, x[:, 15].numpy())
    np.testing.assert_allclose(p1, ref1.softmax(dim=1)[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(p2, ref2.softmax(dim=1)[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(s2, h2.numpy(), atol=1e-4)
    path = clip_export / "head.onnx"
    feeds = {"x": x[:, 16:].numpy(), "prev": x[:, 15].numpy(), "h0": h1.numpy()}
    logits, state = _cv2_run(path, {k: v for k, v in feeds.items() if k in _onnx_inputs(path)})
    np.testing.assert_allclose(logits, ref2.numpy(), atol=1e-3)
    np.testing.assert_allclose(state, h2.numpy(), atol=1e-4)


@pytest.mark.slow
def test_classify_with_an_export_runs_without_torch_and_matches_the_checkpoint(clip_export, tmp_path):
    """`vidgru classify --model DIR` in a fresh process: torch never imported, the same windows and segments
    as the .pt model (the golden output of this sample)."""
    sample = REPO / "sample_videos" / "pan_left_then_static.mp4"
    code = ("import sys\nfrom vidgru.cli import cli\n"
            f"try:\n    cli(['classify', {str(sample)!r}, '--model', {str(clip_export)!r}, '--json', "
            f"{str(tmp_path / 'onnx.jsonl')!r}, '-q'], prog_name='vidgru')\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('torch' in sys.modules, 'torchvision' in sys.modules)")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "False False"
    got = json.loads((tmp_path / "onnx.jsonl").read_text().splitlines()[0])
    res = CliRunner().invoke(cli, ["classify", str(sample), "--json", str(tmp_path / "pt.jsonl"), "-q",
                                   "--runtime", "torch"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    ref = json.loads((tmp_path / "pt.jsonl").read_text().splitlines()[0])
    assert [s["label"] for s in got["segments"]] == [s["label"] for s in ref["segments"]]
    assert len(got["windows"]) == len(ref["windows"])
    for a, b in zip(got["windows"], ref["windows"]):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-3)


# ------------------------------------------------------------------------------------------- bad input


def test_export_of_something_that_is_not_a_model_is_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a model")
    res = CliRunner().invoke(cli, ["export", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and res.output.startswith("error: cannot load model")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.pt"]  # no temporary folder left either


def test_export_refuses_a_folder_that_is_not_an_earlier_export_and_replaces_one_that_is(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "thesis.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an earlier export"):
        export_model(shipped_model(STATE_MODEL), taken)
    assert (taken / "thesis.txt").read_text() == "mine"
    out = tmp_path / "state"
    export_model(shipped_model(STATE_MODEL), out)
    first = (out / "state_step.onnx").read_bytes()
    export_model(shipped_model(STATE_MODEL), out)  # again: replaced whole
    assert (out / "state_step.onnx").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state", "taken"]


def test_an_export_with_a_file_missing_or_a_newer_version_is_refused(state_export, tmp_path):
    import shutil

    from vidgru.exported import ExportedClipModel, OnnxStateStep

    broken = tmp_path / "broken"
    shutil.copytree(state_export, broken)
    (broken / "state_step.onnx").unlink()
    with pytest.raises(CheckpointError, match="state_step.onnx' is missing"):
        OnnxStateStep(broken)
    newer = tmp_path / "newer"
    shutil.copytree(state_export, newer)
    manifest = json.loads((newer / "model.json").read_text())
    (newer / "model.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(CheckpointError, match="newer than this vidgru"):
        OnnxStateStep(newer)
    with pytest.raises(CheckpointError, match="'state-model' export, expected a 'clip-classifier'"):
        ExportedClipModel.load(state_export)


def test_batch_settings_hash_an_exported_folder_by_its_files(state_export, tmp_path):
    """`vidgru batch --model DIR`: the settings fingerprint covers every file of the export."""
    import shutil

    from vidgru.batch.manifest import file_digest

    copy = tmp_path / "copy"
    shutil.copytree(state_export, copy)
    assert file_digest(copy) == file_digest(state_export)
    (copy / "model.json").write_text((copy / "model.json").read_text() + " ")
    assert file_digest(copy) != file_digest(state_export)
