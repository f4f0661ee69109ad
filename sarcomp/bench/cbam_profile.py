"""Where CBAM-everywhere's time goes, and what the fused CBAM path saves.

- ``modules``: forward + backward of one CBAM at each shape it has in ``cbam_everywhere`` (at the
  configured tile and batch), through ``CBAM.forward`` (``sarcomp.models.cbam_ops``) and through
  the formula ``spatial(channel(x))`` with autograd's generic ops; medians, interleaved.
- ``profile``: ``torch.profiler``'s top operators by self CPU time in one training step of the
  baseline and of ``cbam_everywhere``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

from sarcomp.bench.measure import sync
from sarcomp.bench.settings import BenchSettings, compose_experiment
from sarcomp.bench.train_step import make_train_step
from sarcomp.models.attention import CBAM
from sarcomp.runs import build_model

TOP_OPS = 10


def cbam_shapes(cfg) -> list[tuple[int, int, int, int]]:
    """Input shapes of every CBAM in ``cfg``'s model for a training batch (distinct, in order)."""
    model = build_model(cfg.model)
    shapes: list[tuple[int, int, int, int]] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        shape = tuple(inputs[0].shape)
        if shape not in shapes:
            shapes.append(shape)

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, CBAM)]
    t = int(cfg.data.tile_size)
    with torch.no_grad():
        model(torch.rand(int(cfg.data.batch_size), 1, t, t))
    for hook in hooks:
        hook.remove()
    return shapes


def _fwd_bwd(fn, x: torch.Tensor) -> None:
    out = fn(x)
    out.backward(torch.ones_like(out))


def measure_cbam_modules(settings: BenchSettings, device: torch.device) -> list[dict[str, Any]]:
    cfg = compose_experiment("cbam_everywhere", settings.overrides)
    rows = []
    for shape in cbam_shapes(cfg):
        module = CBAM(shape[1]).to(device)
        x = torch.randn(shape, device=device, requires_grad=True)
        paths = {"fused": module, "formula": lambda t, m=module: m.spatial(m.channel(t))}
        runs: dict[str, list[float]] = {name: [] for name in paths}
        for fn in paths.values():
            _fwd_bwd(fn, x)
        for _ in range(settings.repeats):
            for name, fn in paths.items():
                sync(device)
                start = time.perf_counter()
                _fwd_bwd(fn, x)
                sync(device)
                runs[name].append(time.perf_counter() - start)
        fused, formula = statistics.median(runs["fused"]), statistics.median(runs["formula"])
        rows.append(
            {"shape": list(shape), "fused_s": fused, "formula_s": formula, "speedup": formula / fused}
        )
    return rows


def profile_steps(settings: BenchSettings, device: torch.device) -> dict[str, list[dict[str, Any]]]:
    """Top operators (self CPU time, ms) of one training step per experiment."""
    from torch.profiler import profile

    out = {}
    for name in ("baseline", "cbam_everywhere"):
        step, _ = make_train_step(compose_experiment(name, settings.overrides), device)
        step()
        with profile() as prof:
            step()
            sync(device)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        out[name] = [{"op": "total", "self_cpu_ms": total / 1e3, "calls": None}] + [
            {"op": e.key, "self_cpu_ms": e.self_cpu_time_total / 1e3, "calls": e.count}
            for e in events[:TOP_OPS]
        ]
    return out


def measure_cbam(settings: BenchSettings, device: torch.device) -> dict[str, Any]:
    return {"modules": measure_cbam_modules(settings, device), "profile": profile_steps(settings, device)}
