"""Data loading: training tiles/s from GeoTIFF through the project's pipeline (rasterio windows,
representation, augmentation: ``sarcomp.data.loaders.train_loader``) with 0, 1, 2 workers.

Each pass makes a fresh loader iterator, drops its first batch (worker start-up, file opening)
and times the next ``loader_batches`` batches; the median of ``repeats`` passes is reported.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from sarcomp.bench.settings import BenchSettings, compose_experiment
from sarcomp.bench.synthetic_data import data_config
from sarcomp.data.loaders import load_split, train_loader
from sarcomp.data.tiles import RandomTiles
from sarcomp.training.distributed import ShardSampler


def measure_loading(settings: BenchSettings, root: Path) -> dict[str, Any]:
    cfg = compose_experiment(settings.experiments[0], settings.overrides)
    batch = int(cfg.data.batch_size)
    samples = batch * (settings.loader_batches + 1)
    rows = []
    for workers in settings.loader_workers:
        data = data_config(cfg, root, num_workers=workers, train_samples=samples)
        dataset = RandomTiles(load_split(data, "train"), int(data.tile_size), samples, seed=0)
        loader = train_loader(data, dataset, ShardSampler(len(dataset)), 0, torch.device("cpu"))
        runs = [_timed_pass(loader) for _ in range(max(settings.repeats // 2, 1))]
        median = statistics.median(runs)
        rows.append(
            {"workers": workers, "tiles_per_s": settings.loader_batches * batch / median, "runs_s": runs}
        )
    return {"tile_size": int(cfg.data.tile_size), "batch_size": batch, "rows": rows}


def _timed_pass(loader) -> float:
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in it:
        pass
    return time.perf_counter() - start
