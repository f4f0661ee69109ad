"""Choosing the torch device from a config value: one rule for training, evaluation and tools."""

from __future__ import annotations

import torch

from sarcomp.errors import SarcompError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str, key: str = "device", local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    ``key`` names the setting in errors (``trainer.device``); ``local_rank`` picks the GPU of a
    DDP rank when ``name`` does not say which.
    """
    name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return torch.device("cpu")
    if kind != "cuda" or (index and not index.isdigit()):
        raise SarcompError(f"{key}: unknown device {name!r}; valid: {', '.join(DEVICES)}, cuda:N")
    if not torch.cuda.is_available():
        raise SarcompError(f"{key}={name}, but no CUDA device is available")
    device = torch.device("cuda", int(index) if index else local_rank)
    torch.cuda.set_device(device)
    return device
