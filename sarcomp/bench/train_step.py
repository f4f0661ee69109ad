"""Training-step throughput (tiles/s) per experiment, and its ratio to the baseline's.

The step is the trainer's own (:class:`~sarcomp.training.step.TrainStep`): forward, R-D loss,
backward, clipping, Adam, and the auxiliary step, on random tiles of the configured batch and tile
size. ``cbam_everywhere`` is measured a second time with CBAM as its formula (the module before
:mod:`sarcomp.models.cbam_ops`), so the run shows what the fused path changes. To make the ratios robust on a shared CPU,
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
from torch import nn

from sarcomp.bench.measure import sync
from sarcomp.bench.settings import BASELINE, BenchSettings, compose_experiment, label
from sarcomp.host_memory import retain_freed_memory
from sarcomp.models.attention import CBAM
from sarcomp.training.memory import measure_cuda
from sarcomp.training.step import TrainStep

FORMULA_OF = "cbam_everywhere"
FORMULA_ROW = "cbam_everywhere_formula"


def make_train_step(cfg: DictConfig, device: torch.device) -> tuple[Callable[[], object], nn.Module]:
    """One optimiser step of ``cfg``'s model on a fixed random batch (the trainer's
    :class:`~sarcomp.training.step.TrainStep`), and the model it trains."""
    step = TrainStep(cfg.model, cfg.trainer, device)
    n, t = int(cfg.data.batch_size), int(cfg.data.tile_size)
    batch = {"x": torch.rand(n, 1, t, t), "mask": torch.ones(n, 1, t, t, dtype=torch.bool)}
    micro = [batch] * int(cfg.trainer.accumulate)
    return lambda: step(micro), step.model


def use_cbam_formula(model: nn.Module) -> int:
    """Make every CBAM in ``model`` run ``spatial(channel(x))`` through autograd's generic ops (the
    module as it was before :mod:`sarcomp.models.cbam_ops`), for a before/after row; returns how many."""
    cbams = [m for m in model.modules() if isinstance(m, CBAM)]
    for m in cbams:
        m.forward = lambda x, m=m: m.spatial(m.channel(x))
    return len(cbams)


def measure_train_steps(settings: BenchSettings, device: torch.device) -> dict[str, Any]:
    """Median step time and tiles/s per experiment, and the paired ratio to the baseline."""
    device_override = ("trainer.device=" + device.type,)
    cfgs = {n: compose_experiment(n, settings.overrides + device_override) for n in settings.experiments}
    first = next(iter(cfgs.values()))
    # as the trainer does (sarcomp.training.trainer): process-wide, before the first big tensor
    retained = device.type == "cpu" and bool(first.trainer.retain_host_memory) and retain_freed_memory()
    steps = {name: make_train_step(cfg, device)[0] for name, cfg in cfgs.items()}
    if FORMULA_OF in cfgs:  # the same experiment with CBAM as its formula: the fused path's effect
        step, model = make_train_step(cfgs[FORMULA_OF], device)
        use_cbam_formula(model)
        steps[FORMULA_ROW] = step
    for step in steps.values():
        for _ in range(settings.warmup):
            step()
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(settings.train_repeats):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            runs[name].append(time.perf_counter() - start)
    tiles = int(first.data.batch_size) * int(first.trainer.accumulate)
    base = runs.get(BASELINE)
    rows = []
    for name, times in runs.items():
        median = statistics.median(times)
        ratios = [t / b for t, b in zip(times, base)] if base else []
        rows.append(
            {
                "experiment": name,
                "label": label(FORMULA_OF) + " (CBAM as the formula)" if name == FORMULA_ROW else label(name),
                "median_step_s": median,
                "tiles_per_s": tiles / median,
                "ratio_to_baseline": statistics.median(ratios) if ratios else None,
                "ratio_range": [min(ratios), max(ratios)] if ratios else None,
                "runs_s": times,
            }
        )
    return {
        "tile_size": int(first.data.tile_size),
        "batch_size": int(first.data.batch_size),
        "accumulate": int(first.trainer.accumulate),
        "host_memory_retained": retained,
        "rows": rows,
    }


BUDGET_BYTES = 8e9  # the design's GPU memory budget


def measure_train_memory(settings: BenchSettings, device: torch.device) -> dict[str, Any]:
    """On CUDA: ``sarcomp.training.memory.measure_cuda`` (model creation plus 3 training steps)
    per experiment, against the 8 GB budget. On the CPU: not run."""
    if device.type != "cuda":
        return {"status": "not run: no CUDA device (scripts/memory_check.py gives a CPU estimate)"}
    rows = []
    for name in settings.experiments:
        cfg = compose_experiment(name, settings.overrides + ("trainer.device=cuda",))
        try:
            peak = int(measure_cuda(cfg, 3)["peak"])
        except torch.cuda.OutOfMemoryError:
            rows.append({"experiment": name, "peak_bytes": None, "within_budget": False})
            continue
        rows.append({"experiment": name, "peak_bytes": peak, "within_budget": peak <= BUDGET_BYTES})
    return {"status": "run", "budget_bytes": BUDGET_BYTES, "rows": rows}
