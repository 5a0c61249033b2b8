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
# Backbones vidgru.backbone can build (its BACKBONES registry has one entry per name; a test keeps them equal).
BACKBONE_NAMES = ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet50",
                  "efficientnet_b0", "regnet_y_400mf", "convnext_tiny")
CLIP_HEADS = ("gru", "mean")  # clip-model heads (vidgru.temporal)
IMAGE_HEADS = ("gru", "linear", "mlp")  # image-model heads (vidgru.regions)
HEADS = ("gru", "mean", "linear", "mlp")  # what --head may say; which apply depends on the data
DATA_KINDS = ("auto", "clips", "images")  # what `vidgru train` reads from a data set
POOLINGS = ("last", "mean", "attention")  # how the clip GRU's outputs become one vector
# Shot-boundary detectors (vidgru.shots): the shipped GRU when installed, else the parameter-free rules; or
# either one; "none" treats the whole video as one shot.
SHOT_DETECTORS = ("auto", "learned", "rules", "none")
