"""``vidgru export``: a clip classifier or a tracking state model as ONNX files plus a JSON manifest
(the folder layout is described in :mod:`vidgru.exported`, which runs them without PyTorch).

The export is checked before it is kept: every ONNX file is run by ONNX Runtime on a real-sized input and its
outputs compared with PyTorch's (a mismatch is an error, and no folder is written). The folder appears whole or
not at all (:func:`vidgru.fileio.atomic_dir`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidgru.checkpoint import read_torch_file
from vidgru.errors import CheckpointError, ConfigError
from vidgru.exported import (
    CLIP_KIND,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    MANIFEST,
    STATE_KIND,
    OnnxStateStep,
    onnx_session,
)
from vidgru.fileio import atomic_dir, sha256_file, strict_json

EXPORT_FORMATS = ("onnx",)
OPSET = 17
TOLERANCE = 1e-3  # largest |onnx - torch| accepted on logits, feature maps and state-model outputs


def export_model(model: str | Path, out: str | Path, *, fmt: str = "onnx") -> dict[str, Any]:
    """Export ``model`` (a clip classifier or a state model written by vidgru) to the folder ``out``.

    Returns:
        the manifest written to ``out/model.json``.
    Raises:
        ConfigError: an unknown format, or ``out`` exists and is not an earlier export.
        CheckpointError: ``model`` is not a vidgru model, or is one that cannot be exported (a mean head, a
            backbone other than those with one feature map and global pooling); the exported files do not
            reproduce PyTorch.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    model = Path(model)
    payload = read_torch_file(model, f"cannot load model {model}", expected="a vidgru checkpoint")
    kind = payload.get("format") if isinstance(payload, dict) else None
    from vidgru.temporal import CHECKPOINT_FORMAT
    from vidgru.track.gru_motion import FORMAT as STATE_FORMAT

    if kind == CHECKPOINT_FORMAT:
        return _export_clip(model, Path(out))
    if kind == STATE_FORMAT:
        return _export_state_model(model, Path(out))
    raise CheckpointError(f"cannot export {model}: not a vidgru clip classifier or state model")


def _onnx_export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
                 axes: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)


def _check_close(what: str, got: np.ndarray, expected: torch.Tensor) -> float:
    err = float(np.abs(got - expected.detach().numpy()).max()) if got.size else 0.0
    if not err <= TOLERANCE:
        raise CheckpointError(f"export check failed: {what} differs from PyTorch by {err:.2g} (> {TOLERANCE})")
    return err


def _manifest(kind: str, model: Path, files: dict[str, str], **body: Any) -> dict[str, Any]:
    from vidgru import __version__

    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "kind": kind, "vidgru_version": __version__,
            "source": {"file": model.name, "sha256": sha256_file(model)}, "files": files, **body}


# ----------------------------------------------------------------------------------- the clip classifier


class _TrunkWithPooling(nn.Module):
    """The backbone trunk and its pooling: x (N, 3, s, s) -> (fmap (N, C, h, w), pooled (N, C))."""

    def __init__(self, embedder) -> None:
        super().__init__()
        self.model = embedder.model
        self.trunk = embedder.trunk

    def forward(self, x):
        fmap = self.trunk(x)
        return fmap, fmap.mean(dim=(2, 3))


class _StreamingHead(nn.Module):
    """ClipGRU over a run of T frames from a given hidden state (every clip of the batch has all T frames):
    x (B, T, D), prev (B, D), h0 (L*dirs, B, H) -> logits (B, C), h_n. The same as ``forward_stream`` with full
    lengths, written without the packing and masks that ONNX cannot express."""

    def __init__(self, net) -> None:
        super().__init__()
        self.net = net

    def forward(self, x, prev, h0):
        net = self.net
        out, h_n = net.gru(net._inputs(x, prev), h0)  # (B, T, H*dirs)
        if net.cfg.pooling == "attention":
            pooled = (net.attn(out).softmax(dim=1) * out).sum(dim=1)
        elif net.cfg.pooling == "mean":
            pooled = out.mean(dim=1)
        elif net.cfg.bidirectional:
            h = net.cfg.hidden_size
            pooled = torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)
        else:
            pooled = out[:, -1]
        return net.classifier(net.norm(pooled)), h_n


def _export_clip(model: Path, out: Path) -> dict[str, Any]:
    from vidgru.backbone import BackboneEmbedder
    from vidgru.motion_features import MotionSpec
    from vidgru.temporal import load_checkpoint

    ckpt = load_checkpoint(model)
    bb = ckpt.backbone
    if ckpt.model.head != "gru":
        raise CheckpointError(f"cannot export {model}: only GRU heads are exported (this one is {ckpt.model.head!r})")
    if bb.spatial_grid != 1:
        raise CheckpointError(f"cannot export {model}: only global pooling (spatial grid 1) is exported")
    if bb.weights.startswith("custom-"):
        raise CheckpointError(f"cannot export {model}: it was trained on custom backbone weights")
    embedder = BackboneEmbedder(bb.name, weights=bb.weights, device="cpu", runtime="torch",
                                motion=MotionSpec.from_dict(bb.motion) if bb.motion else None)
    if embedder.spec.family == "convnext":
        raise CheckpointError(f"cannot export {model}: convnext's pooling is not exported")
    net = ckpt.build("cpu")
    pre = embedder.preprocess
    size = pre.crop_size
    cfg = ckpt.model
    state_shape = [cfg.num_layers * (2 if cfg.bidirectional else 1), cfg.hidden_size]

    # A real-looking input for the checks: a smooth gradient image (any image gives the same code path).
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, size, size, generator=g) * 4 - 2
    windows = torch.randn(3, 16, cfg.embed_dim, generator=g)
    h0 = torch.randn(state_shape[0], 3, state_shape[1], generator=g) * 0.1
    trunk, head = _TrunkWithPooling(embedder).eval(), _StreamingHead(net).eval()
    files = {"trunk": "trunk.onnx", "head": "head.onnx"}
    manifest = _manifest(
        CLIP_KIND, model, files,
        class_names=list(ckpt.class_names), backbone=bb.to_dict(), sampling=ckpt.sampling.to_dict(),
        preprocess={"resize_size": pre.resize_size, "crop_size": size, "mean": list(pre.mean), "std": list(pre.std),
                    "interpolation": pre.interpolation, "colour": "RGB",
                    "input": "x (N, 3, crop, crop) float32 = (pixel / 255 - mean) / std of the centre crop"},
        head={"state_shape": state_shape, "inputs": {"x": "(B, T, D) embeddings", "prev": "(B, D) the embedding "
              "before x[:, 0] (x[:, 0] itself at a window's start; absent when the model ignores it)",
              "h0": "(layers*dirs, B, H) GRU state, zeros at a window's start"},
              "outputs": {"logits": "(B, C)", "h_n": "(layers*dirs, B, H)"}},
        motion_descriptors="computed between trunk and head by vidgru.motion_features (no weights)",
    )
    with atomic_dir(out, replace_if=MANIFEST) as tmp, torch.inference_mode():
        _onnx_export(trunk, (x,), tmp / files["trunk"], ["x"], ["fmap", "pooled"],
                     {"x": {0: "n"}, "fmap": {0: "n"}, "pooled": {0: "n"}})
        _onnx_export(head, (windows, windows[:, 0], h0), tmp / files["head"], ["x", "prev", "h0"], ["logits", "h_n"],
                     {"x": {0: "b", 1: "t"}, "prev": {0: "b"}, "h0": {1: "b"}, "logits": {0: "b"}, "h_n": {1: "b"}})
        fmap, pooled = onnx_session(tmp / files["trunk"]).run(None, {"x": x.numpy()})
        ref_fmap, ref_pooled = trunk(x)
        _check_close("the trunk's feature map", fmap, ref_fmap)
        _check_close("the trunk's pooled features", pooled, ref_pooled)
        session = onnx_session(tmp / files["head"])
        names = {i.name for i in session.get_inputs()}
        feeds = {"x": windows.numpy(), "prev": windows[:, 0].numpy(), "h0": h0.numpy()}
        logits, h_n = session.run(None, {k: v for k, v in feeds.items() if k in names})
        ref_logits, ref_h = net.forward_stream(windows, hidden=h0)
        _check_close("the head's logits", logits, ref_logits)
        _check_close("the head's hidden state", h_n, ref_h)
        (tmp / MANIFEST).write_text(strict_json(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


# ------------------------------------------------------------------------------- the tracking state model


def _export_state_model(model: Path, out: Path) -> dict[str, Any]:
    from vidgru.track.gru_motion import (
        MAX_GAP_S,
        MAX_INNOVATION,
        MAX_RESIDUAL,
        OUTPUT_DIM,
        build_net,
        load_motion_checkpoint,
    )

    ckpt = load_motion_checkpoint(model)
    cfg = ckpt.config
    net = build_net(cfg)
    net.load_state_dict({k: torch.as_tensor(v) for k, v in ckpt.state_dict.items()})
    net.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, cfg.input_dim, generator=g)
    h = torch.randn(5, cfg.hidden_size, generator=g) * 0.5
    files = {"step": "state_step.onnx"}
    manifest = _manifest(
        STATE_KIND, model, files, config=asdict(cfg),
        constants={"max_innovation": MAX_INNOVATION, "max_residual": MAX_RESIDUAL, "max_gap_s": MAX_GAP_S,
                   "output_dim": OUTPUT_DIM},
        step={"inputs": {"x": f"(N, {cfg.input_dim}) vidgru.track.gru_motion.step_inputs (+ crowding)",
                         "h": f"(N, {cfg.hidden_size}) GRU state, zeros for a new track"},
              "outputs": {"residual": "(N, 8) position and velocity corrections in box sizes",
                          "log_scale": "(N, 4) log error scale of the next prediction", "h_next": "(N, H)"}},
    )
    with atomic_dir(out, replace_if=MANIFEST) as tmp, torch.inference_mode():
        _onnx_export(net, (x, h), tmp / files["step"], ["x", "h"], ["residual", "log_scale", "h_next"],
                     {"x": {0: "n"}, "h": {0: "n"}, "residual": {0: "n"}, "log_scale": {0: "n"}, "h_next": {0: "n"}})
        (tmp / MANIFEST).write_text(strict_json(manifest, indent=2) + "\n", encoding="utf-8")
        residual, log_scale, h_next = OnnxStateStep(tmp)(x.numpy(), h.numpy())
        ref = net(x, h)
        for what, got, expected in zip(("residuals", "error scales", "hidden state"), (residual, log_scale, h_next),
                                       ref):
            _check_close(f"the state model's {what}", got.astype(np.float32), expected)
    return manifest

