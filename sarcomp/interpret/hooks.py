"""Read what the codec's attention modules computed: spatial maps, channel weights, the
query/key maps of self-attention and an STN's θ, through forward hooks on the ``.gate``
convention of :mod:`sarcomp.models.attention` (``forward`` is never touched).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.models.attention import (
    EfficientChannelAttention,
    SelfAttention,
    SpatialAttention,
    SpatialTransformer,
    SqueezeExcitation,
)


@dataclass
class Recording:
    """Gate outputs of one forward pass, keyed by qualified module name.

    ``spatial``: ``[B, 1, h, w]`` gate maps; ``channel``: ``[B, C]`` gate weights (σ, or 2·σ with
    ``unit_start``: :func:`gate_start`);
    ``qk``: (queries, keys) ``[B, c, h, w]`` of self-attention blocks with their head count,
    when they attend globally (not above ``max_tokens``, where they switch to windows); ``theta``: ``[B, 2, 3]`` affine transforms of STN modules.
    """

    spatial: dict[str, Tensor] = field(default_factory=dict)
    channel: dict[str, Tensor] = field(default_factory=dict)
    qk: dict[str, tuple[Tensor, Tensor, int]] = field(default_factory=dict)
    theta: dict[str, Tensor] = field(default_factory=dict)


def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The codec's attention modules (``SARCodec.attention_modules``), or every submodule that
    has a ``gate`` for other models."""
    if hasattr(model, "attention_modules"):
        return dict(model.attention_modules())
    return {n: m for n, m in model.named_modules() if getattr(m, "gate", None) is not None}


def gate_start(model: nn.Module) -> float:
    """The value the model's channel/spatial gates start at (zero logits): 0.5 for σ gates, 1 for
    ``unit_start`` ones; 0.5 if it has none. The gates of one model share the setting."""
    for module in attention_modules(model).values():
        for m in module.modules():
            if isinstance(m, (SqueezeExcitation, EfficientChannelAttention, SpatialAttention)):
                return float(m.gate(torch.zeros(())))
    return 0.5


@contextmanager
def record_gates(model: nn.Module) -> Iterator[Recording]:
    """Hooks on every gate inside the model's attention modules while the block runs."""
    rec = Recording()
    handles = []

    def keep(store: dict, key: str, reshape=lambda t: t):
        return lambda _m, _i, out: store.__setitem__(key, reshape(out.detach()))

    for top, module in attention_modules(model).items():
        for sub, m in module.named_modules():
            name = f"{top}.{sub}" if sub else top
            if isinstance(m, (SqueezeExcitation, EfficientChannelAttention)):
                handles.append(m.gate.register_forward_hook(keep(rec.channel, name, lambda t: t.flatten(1))))
            elif isinstance(m, SpatialAttention):
                handles.append(m.gate.register_forward_hook(keep(rec.spatial, name)))
            elif isinstance(m, SpatialTransformer):
                handles.append(m.gate.register_forward_hook(keep(rec.theta, name)))
            elif isinstance(m, SelfAttention):
                handles += _hook_qk(m, name, rec)
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


def _hook_qk(m: SelfAttention, name: str, rec: Recording) -> list:
    seen: dict[str, Tensor] = {}

    def on_q(_m, _i, out: Tensor) -> None:
        seen["q"] = out.detach()

    def on_k(_m, _i, out: Tensor) -> None:
        q = seen.pop("q")
        if m.max_tokens is None or q.shape[-2] * q.shape[-1] <= m.max_tokens:  # global, not windowed
            rec.qk[name] = (q, out.detach(), m.num_heads)

    return [m.q.register_forward_hook(on_q), m.k.register_forward_hook(on_k)]


def query_attention(q: Tensor, k: Tensor, heads: int, queries: list[tuple[int, int]]) -> Tensor:
    """Softmax attention weights of chosen query positions over all keys, averaged over heads.

    ``q``, ``k``: ``[B, c, h, w]``; ``queries``: (row, col) on the ``h × w`` grid. Returns
    ``[B, len(queries), h, w]``; each map sums to 1 (global attention, as ``self_attention``
    computes it up to ``max_tokens`` positions).
    """
    b, c, h, w = q.shape
    d = c // heads
    qt = q.reshape(b, heads, d, h * w)
    kt = k.reshape(b, heads, d, h * w)
    idx = torch.tensor([r * w + col for r, col in queries], device=q.device)
    logits = torch.einsum("bndq,bndk->bnqk", qt[..., idx], kt) / math.sqrt(d)
    return logits.softmax(-1).mean(1).reshape(b, len(queries), h, w)


def upsample(maps: Tensor, size: tuple[int, int], mode: str = "bilinear") -> Tensor:
    """``[B, K, h, w]`` maps to the input size (bilinear, or ``nearest`` for cell values)."""
    if mode == "nearest":
        return F.interpolate(maps.float(), size=size, mode="nearest")
    return F.interpolate(maps.float(), size=size, mode=mode, align_corners=False)
