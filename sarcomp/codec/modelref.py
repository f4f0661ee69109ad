"""Resolving ``--model``: a run folder, a checkpoint file or a shipped model name, and its identity.

The entropy coder's CDF tables are always built by ``update()`` on the CPU, before the model moves
to its device, so that encoder and decoder use the same integer tables whatever their devices.

A model's identity goes into every ``.sarc`` header so that a file is never decoded by another
model: a shipped model is named, any other model is identified by a truncated SHA-256 of its model
config and its parameters (the entropy model's CDF tables are derived from those by ``update()``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from sarcomp.codec.container import ModelId
from sarcomp.errors import SarcompError
from sarcomp.models import zoo
from sarcomp.runs import build_model, config_from_text, load_checkpoint, load_model_state, load_run


@dataclass
class LoadedModel:
    """A codec ready to compress (``update()`` done, eval mode), with where it came from."""

    cfg: DictConfig
    model: torch.nn.Module
    identity: ModelId
    source: str  # what the user gave, resolved (absolute path or shipped name)


def model_hash(cfg: DictConfig | None, model: torch.nn.Module) -> bytes:
    """SHA-256 of the resolved ``model`` config (if given) and every parameter (name, dtype, shape,
    values), by name; a codec's names as its ``identity_parameters`` says (those of before the
    latent-codec seam, so identities and the files that carry them stay valid)."""
    digest = hashlib.sha256(OmegaConf.to_yaml(cfg.model, resolve=True).encode() if cfg is not None else b"")
    named = getattr(model, "identity_parameters", lambda: sorted(model.named_parameters()))()
    for name, p in named:
        t = p.detach().to("cpu", copy=False).contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.digest()


def resolve_model(ref: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Load the codec named by ``ref`` (run folder, checkpoint file, or shipped model name)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        cfg, model, _ = load_run(path, device="cpu")
        source = str(path.resolve())
    elif path.is_file():
        state = load_checkpoint(path)
        if not isinstance(state, dict) or "config" not in state or "model" not in state:
            raise SarcompError(f"{path}: not a sarcomp checkpoint (no config/model entries)")
        cfg = config_from_text(state["config"])
        model = build_model(cfg.model)
        load_model_state(model, state["model"], path)
        model.update(force=True)
        source = str(path.resolve())
    else:
        return _shipped(str(ref), device)
    model = model.to(device).eval()
    return LoadedModel(cfg, model, ModelId.hashed(model_hash(cfg, model)), source)


def _shipped(name: str, device: torch.device | str) -> LoadedModel:
    names = list(zoo.shipped_names())
    if name not in names:
        raise SarcompError(
            f"--model {name}: not a run folder, checkpoint file or shipped model; shipped: "
            + (", ".join(names) or "none")
        )
    cfg, model = zoo.load_pretrained(name, device)  # update() done on the CPU, by contract
    return LoadedModel(cfg, model.to(device).eval(), ModelId.named(name), name)
