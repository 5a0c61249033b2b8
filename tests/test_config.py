"""Configs: YAML files into frozen dataclasses, flag overrides, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from vidgru.config import ClassifyConfig, TrainConfig, build_config
from vidgru.errors import ConfigError


def test_shipped_configs_load_and_equal_the_defaults(repo_root):
    assert build_config(ClassifyConfig, repo_root / "configs/classify.yaml") == ClassifyConfig()
    assert build_config(TrainConfig, repo_root / "configs/train.yaml") == TrainConfig()


def test_flags_override_file_values(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("epochs: 5\nhidden-size: 64\nhead: mean\n")
    cfg = build_config(TrainConfig, path, epochs=7, head=None)
    assert (cfg.epochs, cfg.hidden_size, cfg.head) == (7, 64, "mean")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch: 5\n", "unknown key 'epoch'; allowed keys: data, out"),
        ("epochs: five\n", "epochs: expected an integer"),
        ("lr: -1\n", "lr: must be > 0"),
        ("head: lstm\n", "head: 'lstm' is not one of gru, mean"),
        ("backbone: vgg\n", "backbone: 'vgg' is not one of mobilenet_v2"),
        ("bidirectional: maybe\n", "bidirectional: expected true or false"),
        ("val_fraction: 1.5\n", "val_fraction"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [\n", "not valid YAML"),
        ("motion_gaps: 1,x\n", "motion_gaps: expected comma-separated integers"),
        ("motion_gaps: 0,2\n", "motion_gaps: every gap must be a positive integer"),
        ("motion_gaps: 1,4,2\n", "motion_gaps: gaps must be strictly increasing"),
        ("motion_gaps: 1,2,2\n", "motion_gaps: gaps must be strictly increasing"),
    ],
    ids=["unknown-key", "type", "range", "head", "backbone", "bool", "fraction", "list", "syntax", "gaps-int",
         "gaps-positive", "gaps-order", "gaps-repeat"],
)
def test_bad_train_configs(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        build_config(TrainConfig, path)


def test_bad_classify_values():
    with pytest.raises(ConfigError, match="window_s: must be > 0"):
        build_config(ClassifyConfig, window_s=-2.0)
    with pytest.raises(ConfigError, match="precision"):
        build_config(ClassifyConfig, precision="fp8")
    with pytest.raises(ConfigError, match="no such file"):
        build_config(ClassifyConfig, "missing.yaml")


def test_motion_gaps():
    assert TrainConfig().motion_gap_tuple() == (1, 2, 4)
    assert build_config(TrainConfig, motion_gaps="1, 2,4,8").motion_gap_tuple() == (1, 2, 4, 8)
    assert build_config(TrainConfig, motion_gaps="16").motion_gap_tuple() == (16,)
    with pytest.raises(ConfigError, match="motion_gaps"):
        build_config(TrainConfig, motion_gaps="")
