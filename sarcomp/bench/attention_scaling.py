"""Self-attention as the map grows (side² tokens): forward time and peak memory of

- ``fused``: global attention through ``F.scaled_dot_product_attention`` (one head);
- ``explicit``: the formula ``softmax(Q Kᵀ / √d) V``, which materialises the tokens² matrix;
- ``module``: the codec's ``self_attention`` block as configured by default (global up to
  ``max_tokens`` positions with queries in blocks of ``query_chunk``, local windows above; the
  settings are recorded with the rows), including its projections.

Inference (``torch.no_grad``), batch 1, ``attention_channels`` channels (the latent width),
Q/K of ``channels // 8``. Peak memory as :mod:`sarcomp.bench.measure` describes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from sarcomp.bench.measure import median_seconds, peak_bytes
from sarcomp.models.attention import build_attention

METHODS = ("fused", "explicit", "module")


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(Q Kᵀ / sqrt(d)) V`` written out."""
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


def _callables(side: int, channels: int, device: torch.device) -> dict[str, Callable[[], Any]]:
    gen = torch.Generator().manual_seed(side)
    module = build_attention("self_attention", channels).to(device).eval()
    x = torch.randn(1, channels, side, side, generator=gen).to(device)
    qk = module.q.out_channels
    q, k = (torch.randn(1, 1, side * side, qk, generator=gen).to(device) for _ in range(2))
    v = torch.randn(1, 1, side * side, channels, generator=gen).to(device)
    return {
        "fused": lambda: F.scaled_dot_product_attention(q, k, v),
        "explicit": lambda: explicit_attention(q, k, v),
        "module": lambda: module(x),
    }


def measure_attention(
    sides: tuple[int, ...], channels: int, repeats: int, device: torch.device
) -> dict[str, Any]:
    """One row per (side, method): seconds (median) and peak bytes above the inputs."""
    defaults = build_attention("self_attention", channels)
    settings = {key: getattr(defaults, key) for key in ("max_tokens", "query_chunk", "window_size")}
    rows = []
    with torch.no_grad():
        for side in sides:
            for method, fn in _callables(side, channels, device).items():
                timing = median_seconds(fn, repeats, warmup=1, device=device)
                rows.append(
                    {
                        "side": side,
                        "tokens": side * side,
                        "method": method,
                        "median_s": timing["median_s"],
                        "peak_bytes": peak_bytes(fn, device),
                    }
                )
    return {"channels": channels, "batch": 1, "mode": "inference (no_grad)", "module": settings, "rows": rows}


def growth_exponents(rows: list[dict[str, Any]], method: str) -> list[float]:
    """``log(peak ratio) / log(token ratio)`` between consecutive sizes: 1 is linear, 2 quadratic."""
    points = sorted((r["tokens"], r["peak_bytes"]) for r in rows if r["method"] == method)
    return [
        math.log(max(b2, 1) / max(b1, 1)) / math.log(t2 / t1)
        for (t1, b1), (t2, b2) in zip(points, points[1:])
    ]
