"""Training data from several sources with weights (``data=mix``): e.g. synthetic scenes and a
folder of real rasters.

Each entry of ``data.sources`` is a partial ``data`` config (``root``, and optionally ``bands``,
``iq``, ``complex_to``, ``representation``, ``exclude``) merged over the top-level ``data``
config, plus a ``weight``. A training crop first draws its source with probability proportional
to the weights, then a scene of that source (by area) and a window, all deterministic per
(seed, epoch, index) like :class:`~sarcomp.data.tiles.RandomTiles`. Validation uses every
source's val split. A run's own test split (evaluation without ``data=``) is the top-level
``data.root``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from sarcomp.data.loaders import load_split
from sarcomp.data.tiles import RandomTiles, Scene
from sarcomp.errors import SarcompError


def source_configs(cfg: Mapping[str, Any]) -> list[tuple[Any, float]]:
    """``(data config, weight)`` per source: ``data.sources``, or the config itself with weight 1."""
    sources = cfg.get("sources")
    if not sources:
        return [(cfg, 1.0)]
    base = OmegaConf.create(
        {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k != "sources"}
    )
    out = []
    for i, source in enumerate(sources):
        source = OmegaConf.to_container(source, resolve=True) if OmegaConf.is_config(source) else dict(source)
        weight = float(source.pop("weight", 1.0))
        if "root" not in source or not (weight > 0):
            raise SarcompError(
                f"data.sources[{i}]: needs a root and a weight > 0, got {source | {'weight': weight}}"
            )
        out.append((OmegaConf.merge(base, source), weight))
    return out


class MixedTiles(Dataset):
    """Random crops from several :class:`RandomTiles`, each drawn with its source's weight."""

    def __init__(self, sources: Sequence[RandomTiles], weights: Sequence[float], seed: int = 0):
        if len(sources) != len(weights) or not sources:
            raise ValueError("MixedTiles needs one weight per source")
        self.sources = list(sources)
        w = np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        self.seed, self.samples = seed, sources[0].samples
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._epoch = value
        for source in self.sources:
            source.epoch = value

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self._epoch, index, 1))  # not RandomTiles' stream
        return self.sources[int(rng.choice(len(self.sources), p=self.weights))][index]


def training_data(cfg: Mapping[str, Any], seed: int) -> tuple[Dataset, list[Scene], list[Scene]]:
    """(training crops, train scenes, val scenes) for a ``data`` config, mixed or not."""
    sources = source_configs(cfg)
    train = [load_split(source, "train") for source, _ in sources]
    val = [scene for source, _ in sources for scene in load_split(source, "val")]
    tiles = [RandomTiles(scenes, cfg["tile_size"], cfg["train_samples"], seed=seed) for scenes in train]
    dataset = tiles[0] if len(tiles) == 1 else MixedTiles(tiles, [w for _, w in sources], seed)
    return dataset, [s for scenes in train for s in scenes], val
