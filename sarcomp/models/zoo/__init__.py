"""Shipped pretrained codecs: a manifest and weight files inside the package.

``manifest.json`` lists one entry per model::

    {"name", "file", "sha256", "half", "config" (the run's resolved config: model, data, trainer),
     "command" (the exact command that trained it), "data" (scene records with sha256),
     "metrics" (evaluation results, with the command and data that produced them)}

Weight files hold ``{"model": state_dict}`` only (tensors), loaded with ``weights_only=True``;
with ``half`` the floating tensors are stored in float16 and restored to float32 on load (the
entropy coder's tables are then rebuilt from the restored weights by ``update()``, so a loaded
model always decodes its own bitstreams). A file whose SHA-256 differs from the manifest's is
refused. :func:`export_run` writes an entry from a trained run folder. The environment variable
``SARCOMP_ZOO`` points at another zoo folder (staging models before shipping them; tests). The
manifest itself is read by :mod:`sarcomp.catalog` (no torch: ``sarcomp info`` reads it too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from sarcomp.catalog import MANIFEST, curve_of, zoo_root
from sarcomp.catalog import read_manifest as _manifest
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write, write_json
from sarcomp.runs import build_model, load_model_state, load_run, read_scenes

__all__ = [
    "MANIFEST",
    "curve_of",
    "entry",
    "export_run",
    "load_pretrained",
    "sha256",
    "shipped_names",
    "zoo_root",
]


def shipped_names(zoo_dir: str | Path | None = None, complex: bool | None = None) -> list[str]:
    """Names of the models in the zoo (the package's, or ``zoo_dir``'s); ``complex=False`` keeps
    the models of real bands (intensity, amplitude, dB), ``True`` those of complex (I/Q) samples."""
    return [
        item["name"]
        for item in _manifest(zoo_dir)[1]
        if complex is None or bool((item["config"].get("data") or {}).get("complex")) == complex
    ]


def entry(name: str, zoo_dir: str | Path | None = None) -> dict[str, Any]:
    """A model's manifest entry; an unknown name is a one-line error listing the shipped names."""
    _, entries = _manifest(zoo_dir)
    for item in entries:
        if item["name"] == name:
            return item
    names = ", ".join(e["name"] for e in entries) or "none shipped yet"
    raise SarcompError(f"unknown pretrained model {name!r}; shipped: {names}")


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_pretrained(
    name: str, device: str | torch.device = "cpu", zoo_dir: str | Path | None = None
) -> tuple[DictConfig, torch.nn.Module]:
    """``(config, model)`` of a shipped model, ready to compress (``update()`` done, eval mode)."""
    item = entry(name, zoo_dir)
    root, _ = _manifest(zoo_dir)
    path = root / item["file"]
    if not path.is_file():
        raise SarcompError(f"{path}: weights of pretrained model {name!r} are missing")
    actual = sha256(path)
    if actual != item["sha256"]:
        raise SarcompError(
            f"{path}: SHA-256 {actual[:16]}... differs from the manifest's {item['sha256'][:16]}...; refused"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    except Exception as exc:  # torch raises many types for foreign files
        raise SarcompError(f"{path}: unreadable weights ({str(exc).splitlines()[0]})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    cfg = OmegaConf.create(item["config"])
    model = build_model(cfg.model)
    load_model_state(model, state, path)
    model.update(force=True)
    return cfg, model.to(device).eval()


def export_run(
    run_dir: str | Path,
    name: str,
    command: str,
    metrics: Mapping[str, Any],
    zoo_dir: str | Path | None = None,
    checkpoint: str = "best",
    half: bool = True,
    curve: str | None = None,
) -> Path:
    """Add (or replace) ``name`` in the zoo from a trained run; returns the weight file.

    ``metrics`` should be an evaluation on scenes the run did not train on, with the command
    that produced it; the run's scene records (``scenes.json``) become the entry's ``data``.
    ``curve`` names the RD curve a single-λ model is one point of (models trained alike but for
    λ); the report fits and judges that curve as one (default: the model alone).
    """
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise SarcompError(f"pretrained model name {name!r}: use letters, digits, '-' and '_' only")
    cfg, model, _ = load_run(run_dir, checkpoint)
    state = {k: v.half() if half and v.is_floating_point() else v for k, v in model.state_dict().items()}
    root, entries = _manifest(zoo_dir)
    weights = root / f"{name}.pt"
    atomic_write(weights, lambda tmp: torch.save({"model": state}, tmp))
    item = {
        "name": name,
        "file": weights.name,
        "sha256": sha256(weights),
        "half": half,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "command": command,
        "data": read_scenes(run_dir),
        "metrics": dict(metrics),
        "curve": curve or name,
    }
    at = next((i for i, e in enumerate(entries) if e["name"] == name), len(entries))
    entries[at : at + 1] = [item]  # a re-exported model keeps its place in the manifest
    write_json(root / MANIFEST, {"models": entries})
    return weights
