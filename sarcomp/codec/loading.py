"""Models loaded once per process: every file a ``sarcomp compress`` or the Python API codes with
the same model (and device) reuses it.

The cache key is what ``--model`` names: a shipped model's name, or a run folder or checkpoint
file with the modification time and size of the checkpoint it loads, so a checkpoint rewritten
by training is loaded anew. Coding never changes a loaded model: the operating point of a
variable-rate model is passed to every ``compress``/``decompress`` call (``lmbda=``), never set.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sarcomp.codec import modelref
from sarcomp.codec.modelref import LoadedModel
from sarcomp.runs import checkpoints_dir

_LOADED: dict[tuple, LoadedModel] = {}


def _key(ref: str | Path, device: torch.device) -> tuple:
    path = Path(ref).expanduser()
    if path.is_dir():
        checkpoints = sorted(checkpoints_dir(path).glob("*.pt"))
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in checkpoints)
        return str(path.resolve()), stamp, str(device)
    if path.is_file():
        st = path.stat()
        return str(path.resolve()), st.st_mtime_ns, st.st_size, str(device)
    return str(ref), str(device)


def cached_model(ref: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """:func:`~sarcomp.codec.modelref.resolve_model`, loaded once per process and device."""
    device = torch.device(device)
    key = _key(ref, device)
    if key not in _LOADED:
        _LOADED[key] = modelref.resolve_model(ref, device)
    return _LOADED[key]
