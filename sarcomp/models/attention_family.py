"""The attention family: ``x + gamma * proj(attention(q, k, v))`` with ``gamma`` starting at 0.

``self_attention`` (global), ``local_attention`` (windows), ``axial_attention`` (rows, then
columns) and ``linear_attention`` (kernelised); registered for
:func:`~sarcomp.models.attention.build_attention`.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.models.attention_registry import register_attention

logger = logging.getLogger("sarcomp.models.attention")  # where these messages were always logged


def _split_heads(t: Tensor, heads: int) -> Tensor:
    """``[B, c, H, W] -> [B, heads, c / heads, H, W]``."""
    b, c, h, w = t.shape
    return t.reshape(b, heads, c // heads, h, w)


def _global_attention(q: Tensor, k: Tensor, v: Tensor, heads: int, query_chunk: int | None = None) -> Tensor:
    """Softmax attention over all ``H·W`` positions; ``[B, c, H, W]`` in, ``[B, C, H, W]`` out.

    With ``query_chunk``, queries are attended in blocks of that many positions: each query's
    softmax is its own, so the result is the same, and the scores held at once are
    ``query_chunk × H·W`` instead of ``(H·W)²`` (memory linear in positions, without autograd;
    in training autograd still keeps every block's probabilities).
    """
    b, c, h, w = v.shape

    def tokens(t: Tensor) -> Tensor:  # [B, heads, H·W, d]
        return _split_heads(t, heads).flatten(3).transpose(2, 3)

    tq, tk, tv = tokens(q), tokens(k), tokens(v)
    n = tq.shape[2]
    if query_chunk is None or n <= query_chunk:
        out = F.scaled_dot_product_attention(tq, tk, tv)
    else:
        blocks = [
            F.scaled_dot_product_attention(tq[:, :, i : i + query_chunk], tk, tv)
            for i in range(0, n, query_chunk)
        ]
        out = torch.cat(blocks, dim=2)
    return out.transpose(2, 3).reshape(b, c, h, w)


def _window_attention(q: Tensor, k: Tensor, v: Tensor, heads: int, window: int) -> Tensor:
    """Softmax attention within non-overlapping ``window × window`` tiles.

    The window is clipped to the image (a window covering it is global attention). When H or
    W is not a multiple of it, the maps are zero-padded and padded keys are masked out, so
    edge tiles attend over their real positions only; padded outputs are cropped.
    """
    b, c, h, w = v.shape
    wh, ww = min(window, h), min(window, w)
    ph, pw = -h % wh, -w % ww
    nh, nw = (h + ph) // wh, (w + pw) // ww

    def windows(t: Tensor) -> Tensor:  # [B·nh·nw, heads, wh·ww, d]
        t = _split_heads(F.pad(t, (0, pw, 0, ph)), heads)
        t = t.reshape(b, heads, -1, nh, wh, nw, ww).permute(0, 3, 5, 1, 4, 6, 2)
        return t.reshape(b * nh * nw, heads, wh * ww, -1)

    mask = None
    if ph or pw:
        valid = torch.zeros(h + ph, w + pw, dtype=torch.bool, device=v.device)
        valid[:h, :w] = True
        valid = valid.reshape(nh, wh, nw, ww).transpose(1, 2).reshape(1, nh * nw, 1, 1, wh * ww)
        mask = valid.expand(b, -1, -1, -1, -1).reshape(b * nh * nw, 1, 1, wh * ww)
    out = F.scaled_dot_product_attention(windows(q), windows(k), windows(v), attn_mask=mask)
    out = out.reshape(b, nh, nw, heads, wh, ww, -1).permute(0, 3, 6, 1, 4, 2, 5)
    return out.reshape(b, c, h + ph, w + pw)[:, :, :h, :w]


def _axial_attention(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    """Attention along each row, then along each column of the row pass's output.

    Both passes use the same queries and keys; the column pass's values are the row pass's
    output, so every position receives from the whole image at ``O(H·W·(H+W))`` cost.
    """
    b, c, h, w = v.shape
    q, k, v = (_split_heads(t, heads) for t in (q, k, v))  # [B, heads, d, H, W]
    rows = (0, 3, 1, 4, 2)  # -> [B, H, heads, W, d]
    cols = (0, 4, 1, 3, 2)  # -> [B, W, heads, H, d]
    y = F.scaled_dot_product_attention(q.permute(rows), k.permute(rows), v.permute(rows))
    y = y.permute(0, 2, 4, 1, 3)  # back to [B, heads, d, H, W]
    y = F.scaled_dot_product_attention(q.permute(cols), k.permute(cols), y.permute(cols))
    return y.permute(0, 2, 4, 3, 1).reshape(b, c, h, w)


def _linear_attention(q: Tensor, k: Tensor, v: Tensor, heads: int, eps: float = 1e-6) -> Tensor:
    """Linear attention, feature map ``phi = elu + 1``: ``phi(Q)(phi(K)ᵀV) / (phi(Q)·Σ phi(K))``.

    ``O(H·W)`` time and memory; computed in float32 because the sums run over all positions.
    """
    b, c, h, w = v.shape

    def tokens(t: Tensor) -> Tensor:  # [B, heads, H·W, d], float32
        return _split_heads(t.float(), heads).flatten(3).transpose(2, 3)

    with torch.autocast(device_type=v.device.type, enabled=False):
        fq, fk, vt = F.elu(tokens(q)) + 1, F.elu(tokens(k)) + 1, tokens(v)
        kv = fk.transpose(2, 3) @ vt  # [B, heads, d_qk, d_v]
        norm = fq @ fk.sum(2).unsqueeze(-1)  # [B, heads, H·W, 1]
        out = (fq @ kv) / (norm + eps)
    return out.transpose(2, 3).reshape(b, c, h, w).to(v.dtype)


class ResidualAttention(nn.Module):
    """``x + gamma * proj(attend(q, k, v))`` with 1×1 Q/K/V projections (SAGAN-style).

    Q/K have ``qk_channels`` (default ``max(channels // qk_reduction, 8)``), V and the output
    projection ``channels``; both must divide by ``num_heads``. ``gamma`` starts at
    ``gamma_init`` (default 0: the block starts as the identity exactly). ``layer_scale=True``
    makes ``gamma`` one value per channel (LayerScale, Touvron et al. 2021), e.g. with
    ``gamma_init=0.1``: a scalar γ that starts at 0 gets no useful gradient while the attention
    path it scales is random, and was seen to stay at 0 (issue 22). ``gate`` is an identity
    through which the attention output ``[B, C, H, W]`` (before ``proj``) passes, for hooks.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        qk_reduction: int = 8,
        qk_channels: int | None = None,
        gamma_init: float = 0.0,
        layer_scale: bool = False,
    ):
        super().__init__()
        qk = qk_channels if qk_channels is not None else max(channels // qk_reduction, 8)
        if num_heads < 1 or channels % num_heads or qk % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide channels={channels} and qk_channels={qk}")
        self.num_heads = num_heads
        self.q = nn.Conv2d(channels, qk, 1)
        self.k = nn.Conv2d(channels, qk, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        self.gate = nn.Identity()
        self.gamma = nn.Parameter(torch.full((channels, 1, 1) if layer_scale else (1,), float(gamma_init)))

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Mix values by attention; ``[B, c, H, W]`` maps in, ``[B, C, H, W]`` out."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        out = self.gate(self.attend(self.q(x), self.k(x), self.v(x)))
        return x + self.gamma * self.proj(out)


@register_attention("self_attention")
class SelfAttention(ResidualAttention):
    """Global multi-head self-attention (SAGAN) via ``scaled_dot_product_attention``.

    kwargs: ``num_heads=1``, ``qk_reduction=8``, ``qk_channels=None`` (see the base class),
    ``gamma_init``/``layer_scale`` (see the base class), ``max_tokens=4096`` (64×64) and ``window_size=8``: above ``max_tokens`` positions the
    block switches to local attention in ``window_size`` windows (as ``local_attention``),
    logged once per module; ``max_tokens=None`` never switches. ``query_chunk=128``: global
    attention takes the queries in blocks of that many positions (same result, memory linear in
    positions at inference; ``None``: all at once).
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        qk_reduction: int = 8,
        qk_channels: int | None = None,
        max_tokens: int | None = 4096,
        window_size: int = 8,
        query_chunk: int | None = 128,
        gamma_init: float = 0.0,
        layer_scale: bool = False,
    ):
        super().__init__(channels, num_heads, qk_reduction, qk_channels, gamma_init, layer_scale)
        if query_chunk is not None and query_chunk < 1:
            raise ValueError(f"query_chunk must be positive or None, got {query_chunk}")
        self.max_tokens, self.window_size, self.query_chunk = max_tokens, window_size, query_chunk
        self._switch_logged = False

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        tokens = v.shape[-2] * v.shape[-1]
        if self.max_tokens is None or tokens <= self.max_tokens:
            return _global_attention(q, k, v, self.num_heads, self.query_chunk)
        if not self._switch_logged:
            logger.info(
                "self_attention: %d positions > max_tokens=%d, using local %dx%d windows",
                tokens,
                self.max_tokens,
                self.window_size,
                self.window_size,
            )
            self._switch_logged = True
        return _window_attention(q, k, v, self.num_heads, self.window_size)


@register_attention("local_attention")
class LocalAttention(ResidualAttention):
    """Self-attention within non-overlapping ``window_size × window_size`` windows (default 8).

    Ragged edges are padded and masked (see ``_window_attention``). Other kwargs as
    ``self_attention``.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        qk_reduction: int = 8,
        qk_channels: int | None = None,
        window_size: int = 8,
        gamma_init: float = 0.0,
        layer_scale: bool = False,
    ):
        super().__init__(channels, num_heads, qk_reduction, qk_channels, gamma_init, layer_scale)
        self.window_size = window_size

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return _window_attention(q, k, v, self.num_heads, self.window_size)


@register_attention("axial_attention")
class AxialAttention(ResidualAttention):
    """Row attention then column attention (see ``_axial_attention``); kwargs as the base."""

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return _axial_attention(q, k, v, self.num_heads)


@register_attention("linear_attention")
class LinearAttention(ResidualAttention):
    """Linear (elu + 1 kernel) attention, ``O(H·W)`` (see ``_linear_attention``); kwargs as the base."""

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return _linear_attention(q, k, v, self.num_heads)
