"""GRU clip models and self-describing checkpoints."""

from __future__ import annotations

import pytest
import torch

from vidgru.errors import CheckpointError, ConfigError
from vidgru.temporal import (
    ClipCheckpoint,
    ClipGRU,
    ClipModelConfig,
    MeanHead,
    build_model,
    load_checkpoint,
    save_checkpoint,
)


@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_gru_handles_variable_lengths(pooling, bidirectional):
    torch.manual_seed(0)
    cfg = ClipModelConfig(embed_dim=8, num_classes=3, pooling=pooling, bidirectional=bidirectional, num_layers=2,
                          hidden_size=16, proj_dim=12)
    net = ClipGRU(cfg).eval()
    x = torch.randn(3, 7, 8)
    lengths = torch.tensor([7, 4, 1])
    logits = net(x, lengths)
    assert logits.shape == (3, 3)
    # Padding after a clip's length must not change its output.
    x2 = x.clone()
    x2[1, 4:] = 100.0
    x2[2, 1:] = -100.0
    torch.testing.assert_close(net(x2, lengths), logits)
    # A clip alone equals the same clip in a padded batch.
    torch.testing.assert_close(net(x[1:2, :4]), logits[1:2], atol=1e-5, rtol=1e-5)


def test_gru_is_order_sensitive_and_mean_head_is_not():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8)
    rev = x.flip(1)
    gru = ClipGRU(ClipModelConfig(embed_dim=8, num_classes=2, hidden_size=8, proj_dim=8)).eval()
    mean = MeanHead(ClipModelConfig(embed_dim=8, num_classes=2, head="mean")).eval()
    assert not torch.allclose(gru(x), gru(rev))
    torch.testing.assert_close(mean(x), mean(rev))


def test_streaming_carries_hidden_state_like_one_long_sequence():
    torch.manual_seed(0)
    net = ClipGRU(ClipModelConfig(embed_dim=4, num_classes=2, hidden_size=6, proj_dim=5, pooling="last")).eval()
    x = torch.randn(1, 10, 4)
    whole, h_whole = net.forward_stream(x)
    _, h = net.forward_stream(x[:, :6])
    second, h2 = net.forward_stream(x[:, 6:], hidden=h, prev=x[:, 5])
    torch.testing.assert_close(second, whole)
    torch.testing.assert_close(h2, h_whole)


def test_checkpoint_round_trip(tmp_path):
    cfg = ClipModelConfig(embed_dim=8, num_classes=2, hidden_size=8, proj_dim=8)
    net = build_model(cfg)
    ckpt = ClipCheckpoint(model=cfg, class_names=["a", "b"],
                          backbone={"name": "mobilenet_v2", "weights": "IMAGENET1K_V1", "embed_dim": 8,
                                    "spatial_grid": 1},
                          sampling={"sample_fps": 8.0, "window_s": 2.0, "stride_s": 1.0},
                          state_dict=net.state_dict(), extra={"val_accuracy": 0.9})
    path = tmp_path / "m.pt"
    save_checkpoint(path, ckpt)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "vidgru.clip-classifier" and raw["format_version"] == 1
    loaded = load_checkpoint(path)
    assert loaded.class_names == ["a", "b"] and loaded.model == cfg and loaded.sampling.window_s == 2.0
    x = torch.randn(1, 5, 8)
    torch.testing.assert_close(loaded.build()(x), net.eval()(x))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a vidgru checkpoint"),
        (b"hello, I am text", "not a vidgru checkpoint"),
        ("state_dict_only", "not a vidgru clip-classifier checkpoint"),
        ("future_version", "format version 99"),
    ],
    ids=["empty", "text", "plain-state-dict", "future"],
)
def test_bad_checkpoints_raise_checkpoint_error(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content == "state_dict_only":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif content == "future_version":
        torch.save({"format": "vidgru.clip-classifier", "format_version": 99}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_bad_hyper_parameters():
    with pytest.raises(ConfigError, match="pooling"):
        ClipModelConfig(embed_dim=4, num_classes=2, pooling="max")
    with pytest.raises(ConfigError, match="hidden_size"):
        ClipModelConfig(embed_dim=4, num_classes=2, hidden_size=0)
