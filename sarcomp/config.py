"""Hydra/OmegaConf helpers shared by the entry points and the tests."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID")


def env_rank() -> int:
    """This process's global rank as the launcher announced it (0 when not distributed)."""
    for key in RANK_VARIABLES:
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def register_resolvers() -> None:
    """Resolvers the configs use.

    ``${or_default:value,fallback}``: the fallback when value is empty (run folder names);
    ``${rank_zero:value}``: the value on rank 0, null on other ranks (only rank 0 writes .hydra/);
    ``${data_tag:root}``: ``_data-<8 hex>`` naming the resolved data folder (empty when unset), so two
    data folders never share a run folder.
    """
    if not OmegaConf.has_resolver("data_tag"):
        OmegaConf.register_new_resolver("data_tag", data_tag)
    if not OmegaConf.has_resolver("or_default"):
        OmegaConf.register_new_resolver("or_default", lambda value, fallback: value or fallback)
    if not OmegaConf.has_resolver("rank_zero"):
        OmegaConf.register_new_resolver("rank_zero", lambda value: value if env_rank() == 0 else None)


def data_tag(root: str | Path | None) -> str:
    """The run-folder suffix for a data folder (``${data_tag:...}`` in configs/hydra/default.yaml)."""
    from sarcomp.data.identity import root_tag

    return f"_data-{root_tag(root)}" if root else ""


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
