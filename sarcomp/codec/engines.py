"""Faster engines for a codec's g_a and g_s, opt in (issue 27, part 2; measured by
``experiments/fast_engines.py``, results in ``experiments/benchmarks/fast_engines*.md``).

Only the float transforms change: g_s makes pixels only, so a g_s engine leaves every byte as it
is; h_s, whose outputs select the coder's tables, always runs as the exact integer network
(:mod:`sarcomp.models.intnet`). g_a's output is quantised into the bytes, so a g_a engine writes
slightly different bytes than float32 eager does: valid files, decodable by any engine, but not
byte-identical to the reference encoder's.

Engines (:data:`ENGINES`), those that paid (≥ 1.2× and ≤ 0.05 dB) on this CPU (avx512_bf16, AMX):
- ``fp32``: the reference, eager float32 (g_s with channels_last blocks, as ``decompress`` runs it);
- ``bf16``: bfloat16 autocast. Stride-8 shipped models, 4 × 256² tiles, one thread, six runs on
  the loaded VM: g_s 2.3–2.9× faster at -0.002 (λ 0.003) and -0.009 dB (λ 0.03) with equal bytes;
  g_a 1.3–1.7× faster, bytes -0.03 to -0.04 %, -0.001 and -0.017 dB. Where the CPU lacks native
  bfloat16 it may be slower: measure before opting in. The linear-path codec's linear path runs in
  bfloat16 too under ``bf16``; its cost there was not measured.
``torch.compile`` (0.9–1.4× between runs, and a compile per input shape), int8 static
quantisation (0.7–0.9×, -0.05 to -0.56 dB) and channels_last for g_a (0.8–1.2×) did not pay and
are built only there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sarcomp.errors import SarcompError
from sarcomp.models.blocks import run_channels_last

ENGINES: tuple[str, ...] = ("fp32", "bf16")
Transform = Callable[[Tensor], Tensor]


def check_engine(engine: str) -> None:
    """An unknown engine is a one-line error listing the valid ones."""
    if engine not in ENGINES:
        raise SarcompError(f"--engine {engine}: unknown engine; valid: {', '.join(ENGINES)}")


def analysis_engine(g_a: nn.Module, engine: str) -> Transform:
    """g_a on ``engine``: a function of x returning float32 y."""
    check_engine(engine)
    if engine == "bf16":
        return lambda x: _bf16(g_a, x)
    return g_a


def synthesis_engine(g_s: nn.Module, engine: str) -> Transform:
    """g_s on ``engine``: a function of ŷ returning float32 x̂ (before ``decompress``'s clamp)."""
    check_engine(engine)
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
    check_engine(synthesis)
    check_engine(analysis)
    fast = copy.deepcopy(model)
    if synthesis != "fp32":
        fast.g_s = nn.Sequential(EngineTransform(synthesis_engine(fast.g_s, synthesis), synthesis))
    if analysis != "fp32":
        fast.g_a = EngineTransform(analysis_engine(fast.g_a, analysis), analysis)
    return fast
