"""The run folder: checkpoints, saved config and scene lists, and rebuilding a model from them.

    <run>/.hydra/config.yaml     resolved config (Hydra writes it)
    <run>/checkpoints/last.pt    latest state (model, optimisers, scheduler, step, RNG, config)
    <run>/checkpoints/best.pt    best validation loss so far
    <run>/scenes.json            the scenes of each split used for training (no test leakage)
    <run>/tensorboard/           event files
    <run>/eval/metrics.json      evaluation results

Checkpoints hold only tensors and plain Python values (the config as YAML text), so they load
with ``torch.load(weights_only=True)``: opening a checkpoint cannot run code. All writes are
atomic (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write

CHECKPOINTS = "checkpoints"
# model keys added after runs were saved, with the value that such runs effectively used
ADDED_MODEL_DEFAULTS = {"entropy": "factorized", "hyper_channels": None, "lmbdas": None}
SCENES_FILE = "scenes.json"


def checkpoint_path(run_dir: str | Path, name: str = "last") -> Path:
    return Path(run_dir) / CHECKPOINTS / f"{name}.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically; a kill mid-save leaves the previous file intact."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``), with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SarcompError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise SarcompError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0]})") from None


def config_to_text(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


def config_from_text(text: str) -> DictConfig:
    return OmegaConf.create(text)


def validate_model_config(model_cfg: DictConfig) -> None:
    """Refuse unknown attention types, placements and entropy models with the valid names, before building."""
    from sarcomp.models import PLACEMENTS
    from sarcomp.models.attention import attention_names
    from sarcomp.models.entropy import ENTROPY_MODELS

    entropy = model_cfg.get("entropy", "factorized")
    if entropy not in ENTROPY_MODELS:
        raise SarcompError(
            f"model.entropy: unknown entropy model {entropy!r}; valid: {', '.join(ENTROPY_MODELS)}"
        )

    attention = model_cfg.get("attention") or {}
    kind, placement = attention.get("type", "none"), attention.get("placement", "none")
    if kind not in attention_names():
        raise SarcompError(
            f"model.attention.type: unknown attention {kind!r}; valid: {', '.join(attention_names())}"
        )
    if placement not in PLACEMENTS:
        raise SarcompError(
            f"model.attention.placement: unknown placement {placement!r}; valid: {', '.join(PLACEMENTS)}"
        )


def build_model(model_cfg: DictConfig) -> torch.nn.Module:
    """Instantiate the codec from its ``model`` config node (a bad config is a one-line error)."""
    validate_model_config(model_cfg)
    try:
        return instantiate(model_cfg, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise SarcompError(
            f"model: cannot build {model_cfg.get('_target_', 'the model')} ({detail})"
        ) from None


def model_config_changes(saved_text: str, model_cfg: DictConfig) -> list[str]:
    """``key: saved -> current`` for each ``model`` setting that differs from a saved config."""
    saved = config_from_text(saved_text).get("model") or {}
    a = _flatten(OmegaConf.to_container(saved, resolve=True) if OmegaConf.is_config(saved) else saved)
    a = {**ADDED_MODEL_DEFAULTS, **a}  # runs saved before these keys existed had their defaults
    b = _flatten(OmegaConf.to_container(model_cfg, resolve=True))
    return [
        f"model.{k}: {a.get(k, '<unset>')} -> {b.get(k, '<unset>')}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load weights, turning a shape or key mismatch into a one-line error naming the source."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        detail = str(exc).replace("\n", " ").replace("\t", "")[:300]
        raise SarcompError(f"{source}: checkpoint from another model configuration ({detail})") from None


def load_run(
    run_dir: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu"
) -> tuple[DictConfig, torch.nn.Module, dict[str, Any]]:
    """Rebuild a run's model from its saved config and checkpoint (``best``, else ``last``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SarcompError(f"{run_dir}: run folder not found")
    path = checkpoint_path(run_dir, checkpoint)
    if not path.is_file():
        path = checkpoint_path(run_dir, "last")
    state = load_checkpoint(path)
    cfg = config_from_text(state["config"])
    model = build_model(cfg.model)
    load_model_state(model, state["model"], path)
    model.update(force=True)
    return cfg, model.to(device).eval(), state


def read_scenes(run_dir: str | Path) -> dict[str, list[dict]]:
    path = Path(run_dir) / SCENES_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
