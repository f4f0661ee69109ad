"""The run folder, the one place that knows its layout; checkpoints and rebuilding a model.

    <run>/.hydra/config.yaml            resolved config (Hydra writes it)
    <run>/checkpoints/last.pt           latest state (model, optimisers, scheduler, step, RNG, config)
    <run>/checkpoints/best.pt           best validation loss so far
    <run>/scenes.json                   the scenes of each split used for training (no test leakage)
    <run>/tensorboard/                  event files
    <run>/eval/metrics[_<tag>].json     the learned codec on the test scenes (one payload)
    <run>/eval/matched[_<tag>].json     classic codecs at this run's per-scene rates ({"results": [...]})
    <sweep or run>/eval/classic[_<tag>].json   the classic rate sweep ({"results": [...]})

``<tag>`` is ``_<data folder name>`` for results on other data than the run's own (``data_tag``).

Checkpoints hold only tensors and plain Python values (the config as YAML text), so they load
with ``torch.load(weights_only=True)``: opening a checkpoint cannot run code. All writes are
atomic (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sarcomp.config import project_root
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write

CHECKPOINTS = "checkpoints"
# model keys added after runs were saved, with the value that such runs effectively used
ADDED_MODEL_DEFAULTS = {"entropy": "factorized", "hyper_channels": None, "lmbdas": None}
SCENES_FILE = "scenes.json"
TENSORBOARD = "tensorboard"
ATTENTION_LOG = "attention.jsonl"
HYDRA_FILES = {".hydra", "train.log"}  # what Hydra writes into a run folder before training starts
EVAL = "eval"
EXPLAIN = "explain"
PRETRAINED = "pretrained"


# --------------------------------------------------------------------------------------------
# Layout


def scenes_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / SCENES_FILE


def attention_log_path(run_dir: str | Path) -> Path:
    """Attention statistics per validation (sarcomp.training.attention_log)."""
    return Path(run_dir) / ATTENTION_LOG


def tensorboard_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / TENSORBOARD


def explain_dir(run_dir: str | Path) -> Path:
    """Where ``scripts/explain.py`` writes a run's figures (one folder per image)."""
    return Path(run_dir) / EXPLAIN


def shipped_explain_dir(name: str) -> Path:
    """Where ``scripts/explain.py`` writes a shipped model's figures: it has no run folder."""
    return project_root() / "outputs" / EXPLAIN / name


def pretrained_dir(log_dir: str | Path, name: str) -> Path:
    """The stand-in run folder of the shipped model ``name`` under ``paths.log_dir``: its ``eval/``."""
    return Path(log_dir) / PRETRAINED / name


def data_tag(data_root: str | None) -> str:
    """File-name suffix for results on other data than the run's own ('' or '_<folder name>')."""
    return "" if data_root is None else "_" + Path(data_root).resolve().name


def metrics_path(run_dir: str | Path, tag: str = "") -> Path:
    return Path(run_dir) / EVAL / f"metrics{tag}.json"


def recon_folder(run_dir: str | Path, tag: str = "") -> Path:
    """Where ``save_recon=true`` writes a run's decoded scenes: ``<run>/eval/recon[_<tag>]/``."""
    return Path(run_dir) / EVAL / f"recon{tag}"


def matched_path(metrics: str | Path, tag: str = "") -> Path:
    """Where the rate-matched classic results go: ``matched[_<tag>].json`` beside the default
    ``metrics[_<tag>].json``, else ``<out stem>.matched.json`` beside a custom metrics file."""
    metrics = Path(metrics)
    if metrics.name == f"metrics{tag}.json":
        return metrics.with_name(f"matched{tag}.json")
    return metrics.with_name(f"{metrics.stem}.matched.json")


def classic_path(folder: str | Path, tag: str = "") -> Path:
    """The classic rate sweep of a run or sweep folder."""
    return Path(folder) / EVAL / f"classic{tag}.json"


def has_metrics(folder: str | Path) -> bool:
    return any((Path(folder) / EVAL).glob("metrics*.json"))


def is_run_dir(path: str | Path) -> bool:
    checkpoints = Path(path) / CHECKPOINTS
    return checkpoints.is_dir() and any(checkpoints.glob("*.pt"))


def find_runs(folder: str | Path) -> list[Path]:
    """The run folder itself, or every run folder (one with checkpoints/*.pt) below a sweep folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SarcompError(f"{folder}: folder not found")
    if is_run_dir(folder):
        return [folder]
    runs = sorted({p.parent.parent for p in folder.rglob(f"{CHECKPOINTS}/*.pt")})
    if not runs:
        raise SarcompError(f"{folder}: no run folders (with {CHECKPOINTS}/*.pt) found")
    return runs


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Payloads from a results file: one payload, or ``{"results": [payloads]}``.

    Metrics written as ``null`` (N/A: strict JSON has no NaN) come back as NaN, as they were
    computed, in the means and in every scene row; other ``null`` values stay ``None``.
    """
    data = json.loads(Path(path).read_text())
    return [_na_as_nan(p) for p in (data["results"] if "results" in data else [data])]


def _na_as_nan(payload: dict[str, Any]) -> dict[str, Any]:
    mean = payload.get("mean")
    if not isinstance(mean, dict):
        return payload
    metrics = {k for k in mean if not k.endswith("_n")}
    nan = float("nan")
    rows = [{k: nan if v is None and k in metrics else v for k, v in r.items()} for r in payload["images"]]
    return {**payload, "mean": {k: nan if v is None else v for k, v in mean.items()}, "images": rows}


def read_scenes(run_dir: str | Path) -> dict[str, list[dict]]:
    path = scenes_path(run_dir)
    return json.loads(path.read_text()) if path.is_file() else {}


def used_scene_paths(run_dirs: list[Path] | tuple[Path, ...]) -> set[str]:
    """Resolved paths of every scene the runs trained or validated on."""
    return {
        e["path"] for run in run_dirs for split in ("train", "val") for e in read_scenes(run).get(split, [])
    }


def used_scene_hashes(run_dirs: list[Path] | tuple[Path, ...]) -> set[str]:
    """SHA-256 of every scene the runs trained or validated on (copies and links have the same)."""
    return {
        e["sha256"]
        for run in run_dirs
        for split in ("train", "val")
        for e in read_scenes(run).get(split, [])
        if e.get("sha256")
    }


# --------------------------------------------------------------------------------------------
# Checkpoints and models


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def checkpoint_path(run_dir: str | Path, name: str = "last") -> Path:
    return checkpoints_dir(run_dir) / f"{name}.pt"


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


def build_model(model_cfg: DictConfig) -> torch.nn.Module:
    """Instantiate the codec from its ``model`` config node (a bad config, e.g. an unknown attention
    name, is a one-line error naming what is valid)."""
    try:
        return instantiate(model_cfg, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if re.match(r"^[\w.]+: ", detail):  # the model names the setting: model.<setting>: ...
            raise SarcompError(f"model.{detail}") from None
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


def run_config(run_dir: str | Path, checkpoint: str = "best") -> DictConfig:
    """The config a run was trained with (from its checkpoint: ``best``, else ``last``)."""
    path = checkpoint_path(run_dir, checkpoint)
    return config_from_text(
        load_checkpoint(path if path.is_file() else checkpoint_path(run_dir, "last"))["config"]
    )


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
