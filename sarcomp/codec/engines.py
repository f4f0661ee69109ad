"""Faster engines for a codec's g_a and g_s, opt in (issue 27, part 2; measured by
``experiments/fast_engines.py``, results in ``experiments/benchmarks/fast_engines.md``).

Only the float transforms change: g_s makes pixels only, so a g_s engine leaves every byte as it
is; h_s, whose outputs select the coder's tables, always runs as the exact integer network
(:mod:`sarcomp.models.intnet`). g_a's output is quantised into the bytes, so a g_a engine may
write (slightly) different bytes than float32 eager does: still valid files, decodable by any
engine, but not byte-identical to the reference encoder.

Engines (:data:`ENGINES`):
- ``fp32``: the reference, eager float32 (g_s with channels_last blocks, as ``decompress`` runs it);
- ``compile``: ``torch.compile`` (inductor), float32: the same map up to float rounding, a one-off
  compile of about a minute per input shape on this VM (cached on disk by inductor);
- ``bf16``: bfloat16 autocast (fast where the CPU has avx512_bf16 / AMX); changes pixels by up to
  about 1 % of the range.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sarcomp.models.blocks import run_channels_last

ENGINES: tuple[str, ...] = ("fp32", "compile", "bf16")
Transform = Callable[[Tensor], Tensor]


def _check(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine: unknown engine {engine!r}; valid: {', '.join(ENGINES)}")


def analysis_engine(g_a: nn.Module, engine: str) -> Transform:
    """g_a on ``engine``: a function of x returning float32 y."""
    _check(engine)
    if engine == "compile":
        return torch.compile(g_a, dynamic=False)
    if engine == "bf16":
        return lambda x: _bf16(g_a, x)
    return g_a


def synthesis_engine(g_s: nn.Sequential, engine: str) -> Transform:
    """g_s on ``engine``: a function of ŷ returning float32 x̂ (before ``decompress``'s clamp)."""
    _check(engine)
    if engine == "compile":
        return torch.compile(g_s, dynamic=False)
    if engine == "bf16":
        return lambda y: _bf16(lambda t: run_channels_last(g_s, t), y)
    return lambda y: run_channels_last(g_s, y)


def _bf16(transform: Transform, x: Tensor) -> Tensor:
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
        return transform(x).float()


class EngineTransform(nn.Module):
    """A transform run by an engine, callable where the model calls g_a / g_s (``decompress``
    calls g_s through :func:`~sarcomp.models.blocks.run_channels_last`, which hands this module
    its input as is)."""

    def __init__(self, fn: Transform, engine: str):
        super().__init__()
        self.fn, self.engine = fn, engine

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def with_engines(model: nn.Module, synthesis: str = "fp32", analysis: str = "fp32") -> nn.Module:
    """A copy of ``model`` whose g_s (and g_a) run on the given engines; ``model`` is unchanged.
    Coding is the copy's as the model's: only g_a may change the bytes (module docstring)."""
    _check(synthesis)
    _check(analysis)
    fast = copy.deepcopy(model)
    if synthesis != "fp32":
        fast.g_s = nn.Sequential(EngineTransform(synthesis_engine(fast.g_s, synthesis), synthesis))
    if analysis != "fp32":
        fast.g_a = EngineTransform(analysis_engine(fast.g_a, analysis), analysis)
    return fast
