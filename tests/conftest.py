"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real footage and annotations described in ``../shared/data`` (see DATA.md), read in place.

    Skipped when the folder is absent on a developer machine; on CI (``CI=true``) its absence is a failure.
    """
    root = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not root.is_dir():
        message = f"real test data not found at {root} (see DATA.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def mot15(shared_data) -> Path:
    """The MOT15 training split (detections and ground truth, no images)."""
    return shared_data / "mot15" / "train"


@pytest.fixture(scope="session")
def nanodet(shared_data) -> Path:
    """The COCO NanoDet ONNX model shipped beside the data."""
    return shared_data.parent / "models" / "nanodet-m-416-coco.onnx"


@pytest.fixture(scope="session")
def embedder():
    """The default backbone (MobileNetV2, ImageNet weights), on the CPU, built once per test session."""
    from vidgru.backbone import TorchEmbedder

    return TorchEmbedder("mobilenet_v2", device="cpu", batch_size=32)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """A real clip-model checkpoint on the default backbone with random GRU weights: for testing the
    classify pipeline and its outputs, not accuracy."""
    import torch

    from vidgru.temporal import ClipCheckpoint, ClipModelConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    cfg = ClipModelConfig(embed_dim=1280, num_classes=3, hidden_size=32, proj_dim=32)
    path = tmp_path_factory.mktemp("models") / "untrained.pt"
    save_checkpoint(path, ClipCheckpoint(
        model=cfg, class_names=["alpha", "beta", "gamma"],
        backbone={"name": "mobilenet_v2", "weights": "IMAGENET1K_V1", "embed_dim": 1280, "spatial_grid": 1},
        sampling={"sample_fps": 4.0, "window_s": 2.0, "stride_s": 1.0},
        state_dict=build_model(cfg).state_dict(), extra={},
    ))
    return path
