"""Evaluation with attention switched off (``scripts/evaluate.py ablate=[all]``): what the modules
were worth. Gates are held at their mean over the run's validation probe tiles, the same tiles the
trainer measures the attention on (sarcomp.models.attention_probe explains the choice)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from sarcomp.data.loaders import load_split
from sarcomp.data.mix import source_configs
from sarcomp.data.tiles import GridTiles, spread_sample
from sarcomp.errors import SarcompError
from sarcomp.models.attention_probe import ablated, attention_modules, gate_means

PROBE_TILES = 16  # as sarcomp.training.attention_log measures them


def validation_probe(cfg: Any) -> torch.Tensor:
    """The run's validation probe: ``PROBE_TILES`` tiles spread over its capped validation grid."""
    scenes = [scene for source, _ in source_configs(cfg.data) for scene in load_split(source, "val")]
    grid = GridTiles(scenes, int(cfg.data.tile_size), int(cfg.data.stride), cfg.trainer.get("val_max_tiles"))
    return spread_sample(grid, PROBE_TILES)


def resolve_names(model: nn.Module, names: Sequence[str]) -> list[str]:
    """``["all"]`` or module names -> the model's attention modules to switch off (checked)."""
    modules = list(attention_modules(model))
    if not modules:
        raise SarcompError("ablate: the model has no attention modules to switch off")
    chosen = modules if list(names) == ["all"] else list(names)
    unknown = [n for n in chosen if n not in modules]
    if unknown:
        raise SarcompError(f"ablate: {unknown} are not attention modules of this model; it has {modules}")
    return chosen


@contextmanager
def switched_off(
    model: nn.Module, cfg: Any, names: Sequence[str], device: torch.device
) -> Iterator[list[str]]:
    """Within the block, ``names`` (``["all"]`` for every module) are off; yields the names."""
    chosen = resolve_names(model, names)
    probe = validation_probe(cfg).to(device)
    with torch.no_grad():
        means = gate_means(model, lambda: model(probe), chosen)
    with ablated(model, chosen, means):
        yield chosen
