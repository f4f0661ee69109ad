"""Training-step throughput (tiles/s) per experiment, and its ratio to the baseline's.

The step is the trainer's own (:func:`make_train_step`, the one place to swap when the trainer
grows a public step): forward, R-D loss, backward, clipping, Adam, and the auxiliary step, on
random tiles of the configured batch and tile size. To make the ratios robust on a shared CPU,
every model is built and warmed up first, then the repeats go round-robin over the experiments,
so a burst of load from elsewhere hits all of them alike, and ``ratio_to_baseline`` is the median
over rounds of (step time / the baseline's step time in the same round).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig

from sarcomp.bench.measure import peak_bytes, sync
from sarcomp.bench.settings import BASELINE, BenchSettings, compose_experiment, label
from sarcomp.training.trainer import Trainer


def make_train_step(cfg: DictConfig, device: torch.device) -> Callable[[], None]:
    """One optimiser step of ``cfg``'s model on a fixed random batch (the trainer's step)."""
    trainer = Trainer.for_measurement(cfg, device)
    n, t = int(cfg.data.batch_size), int(cfg.data.tile_size)
    batch = {"x": torch.rand(n, 1, t, t), "mask": torch.ones(n, 1, t, t, dtype=torch.bool)}
    micro = [batch] * int(cfg.trainer.accumulate)
    return lambda: trainer._train_step(micro)


def measure_train_steps(settings: BenchSettings, device: torch.device) -> dict[str, Any]:
    """Median step time and tiles/s per experiment, and the paired ratio to the baseline."""
    device_override = ("trainer.device=" + device.type,)
    cfgs = {n: compose_experiment(n, settings.overrides + device_override) for n in settings.experiments}
    steps = {name: make_train_step(cfg, device) for name, cfg in cfgs.items()}
    for step in steps.values():
        for _ in range(settings.warmup):
            step()
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(settings.repeats):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            runs[name].append(time.perf_counter() - start)
    first = next(iter(cfgs.values()))
    tiles = int(first.data.batch_size) * int(first.trainer.accumulate)
    base = runs.get(BASELINE)
    rows = []
    for name, times in runs.items():
        median = statistics.median(times)
        rows.append(
            {
                "experiment": name,
                "label": label(name),
                "median_step_s": median,
                "tiles_per_s": tiles / median,
                "ratio_to_baseline": statistics.median(t / b for t, b in zip(times, base)) if base else None,
                "runs_s": times,
            }
        )
    return {
        "tile_size": int(first.data.tile_size),
        "batch_size": int(first.data.batch_size),
        "accumulate": int(first.trainer.accumulate),
        "rows": rows,
    }


BUDGET_BYTES = 8e9  # the design's GPU memory budget


def measure_train_memory(settings: BenchSettings, device: torch.device) -> dict[str, Any]:
    """On CUDA: peak memory of model creation plus 3 training steps per experiment, against the
    8 GB budget (what ``scripts/memory_check.py`` measures). On the CPU: not run."""
    if device.type != "cuda":
        return {"status": "not run: no CUDA device (scripts/memory_check.py gives a CPU estimate)"}
    rows = []
    for name in settings.experiments:
        cfg = compose_experiment(name, settings.overrides + ("trainer.device=cuda",))

        def steps(cfg: DictConfig = cfg) -> None:
            step = make_train_step(cfg, device)
            for _ in range(3):
                step()

        try:
            peak = peak_bytes(steps, device)
        except torch.cuda.OutOfMemoryError:
            rows.append({"experiment": name, "peak_bytes": None, "within_budget": False})
            continue
        finally:
            torch.cuda.empty_cache()
        rows.append({"experiment": name, "peak_bytes": peak, "within_budget": peak <= BUDGET_BYTES})
    return {"status": "run", "budget_bytes": BUDGET_BYTES, "rows": rows}
