"""Choosing the torch device a network runs on."""

from __future__ import annotations

from vidgru.errors import ConfigError


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` if available, else ``mps``, else ``cpu``. Explicit names are checked."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} requested but CUDA is not available here; use auto or cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device: 'mps' requested but MPS is not available here; use auto or cpu")
    if device != "cpu" and not device.startswith(("cuda", "mps")):
        raise ConfigError(f"device: unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return device
