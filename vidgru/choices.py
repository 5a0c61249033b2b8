"""Names a setting may take, shared by the stages that use them and the config that checks them.

A leaf module (no imports): the config layer can validate against these without loading any stage.
"""

from __future__ import annotations

DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
RUNTIMES = ("auto", "torch", "onnx")  # backbone runtimes (vidgru.backbone.create_embedder)
STATE_MODELS = ("gru", "kalman")  # the tracker's state model (vidgru.track)
BATCH_TASKS = ("classify", "track")
EXECUTORS = ("local", "ray")
