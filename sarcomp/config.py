"""Hydra/OmegaConf helpers shared by the entry points and the tests: resolvers and typed schemas.

The ``trainer`` group and ``eval.yaml`` are checked against the dataclasses below (registered in
Hydra's ConfigStore, named first in their defaults lists), so a mistyped key or a wrong type fails
at composition with Hydra's own message. The schemas hold no defaults: values live in the YAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID")


def env_rank() -> int:
    """This process's global rank as the launcher announced it (0 when not distributed)."""
    for key in RANK_VARIABLES:
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


@dataclass
class TrainerSchema:
    """``configs/trainer/default.yaml`` (meanings there)."""

    max_steps: int = MISSING
    lr: float = MISSING
    aux_lr: float = MISSING
    entropy_lr_scale: float = MISSING
    lr_schedule: str = MISSING
    min_lr_ratio: float = MISSING
    grad_clip: float | None = MISSING
    accumulate: int = MISSING
    device: str = MISSING
    precision: str = MISSING
    channels_last: bool = MISSING
    compile: bool = MISSING
    log_every: int = MISSING
    val_every: int = MISSING
    val_max_tiles: int | None = MISSING
    checkpoint_every: int = MISSING
    explain_at_val: bool = MISSING
    max_nonfinite_streak: int = MISSING
    resume: bool = MISSING


@dataclass
class ClassicSchema:
    """``classic`` of ``configs/eval.yaml``: the classic codecs beside a learned run."""

    codecs: list[str] = MISSING
    bits: int = MISSING
    sweep: bool = MISSING
    match_rates: bool = MISSING
    match_codecs: list[str] | None = MISSING
    tol: float = MISSING


@dataclass
class EvalSchema:
    """``configs/eval.yaml``; ``data`` and ``paths`` are the (untyped) config groups."""

    run_dir: str = MISSING
    out: str | None = MISSING
    checkpoint: str = MISSING
    device: str = MISSING
    classic: ClassicSchema = field(default_factory=ClassicSchema)
    data: Any = None
    paths: Any = None


def register_resolvers() -> None:
    """Resolvers the configs use, and the schemas (``trainer/schema``, ``eval_schema``).

    ``${or_default:value,fallback}``: the fallback when value is empty (run folder names);
    ``${rank_zero:value}``: the value on rank 0, null on other ranks (only rank 0 writes .hydra/);
    ``${data_root_suffix:root}``: ``_data-<8 hex>`` naming the resolved data folder (empty when unset), so two
    data folders never share a run folder.
    """
    store = ConfigStore.instance()
    store.store(group="trainer", name="schema", node=TrainerSchema)
    store.store(name="eval_schema", node=EvalSchema)
    if not OmegaConf.has_resolver("data_root_suffix"):
        OmegaConf.register_new_resolver("data_root_suffix", data_root_suffix)
    if not OmegaConf.has_resolver("or_default"):
        OmegaConf.register_new_resolver("or_default", lambda value, fallback: value or fallback)
    if not OmegaConf.has_resolver("rank_zero"):
        OmegaConf.register_new_resolver("rank_zero", lambda value: value if env_rank() == 0 else None)


def data_root_suffix(root: str | Path | None) -> str:
    """The run-folder suffix for a data folder (``${data_root_suffix:...}`` in configs/hydra/default.yaml)."""
    from sarcomp.data.identity import root_tag

    return f"_data-{root_tag(root)}" if root else ""


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def classic_defaults() -> dict:
    """The classic-codec settings of ``configs/eval.yaml`` (their one home), as a plain dict."""
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "eval.yaml").classic, resolve=True)
