"""Training windows that change content part-way (``--transition-prob``): spliced windows and their labels."""

from __future__ import annotations

import numpy as np
import pytest

from vidgru.config import TrainConfig
from vidgru.errors import ConfigError
from vidgru.train.loop import splice_windows


def test_splice_keeps_order_and_reports_the_share_of_the_first_clip():
    first = np.zeros((16, 3), np.float32)
    second = np.ones((12, 3), np.float32)
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(200):
        window, share = splice_windows(first, second, rng)
        assert len(window) == 12  # the shorter window's length
        cut = int((window[:, 0] == 0).sum())
        assert 1 <= cut < 12 and np.all(window[:cut] == 0) and np.all(window[cut:] == 1)
        assert share == pytest.approx(cut / 12)
        shares.append(share)
    assert min(shares) < 0.2 and max(shares) > 0.8  # cuts spread over the window


def test_splice_of_a_one_step_window_is_the_first_window():
    first = np.zeros((1, 3), np.float32)
    window, share = splice_windows(first, np.ones((8, 3), np.float32), np.random.default_rng(0))
    assert share == 1.0 and window is first


@pytest.mark.parametrize("value", [-0.1, 1.5], ids=["negative", "above-one"])
def test_transition_prob_is_validated(value):
    with pytest.raises(ConfigError, match="transition_prob"):
        TrainConfig(data="x", transition_prob=value)


def test_motion_augmenter_swaps_the_labels_with_the_motion():
    from vidgru.motion_features import MotionSpec
    from vidgru.train.loop import MotionAugmenter

    names = ["pan_left", "pan_right", "shake", "static", "tilt_down", "tilt_up", "zoom_in", "zoom_out"]
    aug = MotionAugmenter(MotionSpec(), 0, names)
    lr, tb, rev = (True, False, False), (False, True, False), (False, False, True)
    assert [names[i] for i in aug.labels[lr]] == ["pan_right", "pan_left", "shake", "static", "tilt_down",
                                                   "tilt_up", "zoom_in", "zoom_out"]
    assert [names[i] for i in aug.labels[tb]][4:6] == ["tilt_up", "tilt_down"]
    assert [names[i] for i in aug.labels[rev]] == ["pan_right", "pan_left", "shake", "static", "tilt_up",
                                                    "tilt_down", "zoom_out", "zoom_in"]
    emb = np.random.default_rng(0).normal(size=(20, MotionSpec().dim)).astype(np.float32)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(40):
        out, label = aug(emb, 0, rng)
        assert out.shape == emb.shape and names[label] in ("pan_left", "pan_right")
        seen.add(names[label])
    assert seen == {"pan_left", "pan_right"}


def test_motion_augmenter_refuses_classes_without_their_mirror():
    from vidgru.motion_features import MotionSpec
    from vidgru.train.loop import MotionAugmenter

    with pytest.raises(ConfigError, match="'pan_right'.*not a class"):
        MotionAugmenter(MotionSpec(), 0, ["pan_left", "static"])


def test_motion_augment_needs_motion_only_models():
    with pytest.raises(ConfigError, match="motion_augment"):
        TrainConfig(data="x", motion_augment=True)  # appearance is on by default
    assert TrainConfig(data="x", motion_augment=True, appearance=False).motion_augment
