"""Attention modules for the codec, built by name: ``build_attention(name, channels, **kwargs)``.

Every module maps ``[B, C, H, W] -> [B, C, H, W]`` and takes ``channels`` as its first argument
(the convention of timm's ``create_attn``). Each one exposes its gate as ``module.gate`` so a
forward hook can read the map without touching ``forward``:

- ``none``: no gate (``gate is None``); output ``x``.
- ``se``, ``eca``: sigmoid channel map ``[B, C, 1, 1]``; output at init ``0.5 * x``.
- ``spatial``: sigmoid spatial map ``[B, 1, H, W]``; output at init ``0.5 * x``.
- ``cbam``: the spatial sigmoid ``[B, 1, H, W]`` (the channel one is ``channel.gate``);
  output at init ``0.25 * x``.
- ``cbam_residual``: the inner CBAM's spatial sigmoid; output at init ``x + 0.25 * f(x)``.
- attention family: an identity over the attention output ``[B, C, H, W]`` (before the
  output projection); output at init ``x`` exactly.
- ``stn``: an identity over the affine transform θ ``[B, 2, 3]``; output at init ``x`` (to
  float tolerance: bilinear resampling on the identity grid).

The attention family is ``self_attention``, ``local_attention``, ``axial_attention`` and
``linear_attention``: ``x + gamma * proj(attention(q, k, v))`` with a learnable scalar
``gamma`` initialised to 0, so each block starts as the identity exactly.

Initialisation is near identity as the design prescribes: the last layer before each sigmoid
gate is zero-initialised (weights and bias), so every gate starts at exactly 0.5 and a gated
module starts as ``0.5 * x`` (``0.25 * x`` for CBAM's two gates in series).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.models.cbam_ops import ChannelPool, DoubleGate, GatedSpatialPool

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, type[nn.Module]] = {}
_M = TypeVar("_M", bound=type[nn.Module])


def register_attention(name: str) -> Callable[[_M], _M]:
    """Class decorator: make ``build_attention(name, channels, ...)`` construct the class."""

    def register(cls: _M) -> _M:
        if name in _REGISTRY:
            raise ValueError(f"attention {name!r} is already registered ({_REGISTRY[name].__name__})")
        _REGISTRY[name] = cls
        return cls

    return register


def attention_names() -> tuple[str, ...]:
    """Registered attention names, sorted."""
    return tuple(sorted(_REGISTRY))


def attention_classes() -> dict[str, type[nn.Module]]:
    """Registered attention classes by name."""
    return dict(_REGISTRY)


def check_attention_name(name: str) -> None:
    """Raise ``ValueError`` listing the valid names if ``name`` is not registered."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown attention {name!r}; valid: {', '.join(attention_names())}")


def build_attention(name: str, channels: int, **kwargs) -> nn.Module:
    """Build the attention module registered as ``name`` for ``channels`` input channels.

    ``kwargs`` go to the module's constructor. Raises ``ValueError`` for an unknown name
    (the message lists the valid ones) or a non-positive channel count.
    """
    check_attention_name(name)
    if channels < 1:
        raise ValueError(f"attention {name!r} needs channels >= 1, got {channels}")
    return _REGISTRY[name](channels, **kwargs)


def _zero_(layer: nn.Module) -> None:
    """Zero a layer's weight and bias (if any): the gate it feeds starts at sigmoid(0) = 0.5."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


# --------------------------------------------------------------------------- gated (sigmoid)


@register_attention("none")
class NoAttention(nn.Module):
    """Identity; accepts ``channels`` for the uniform signature. ``gate`` is ``None``."""

    def __init__(self, channels: int):
        super().__init__()
        self.gate = None

    def forward(self, x: Tensor) -> Tensor:
        return x


@register_attention("se")
class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: pool, FC C→hidden, ReLU, FC hidden→C, sigmoid, scale.

    ``hidden = min(max(channels // reduction, min_hidden), channels)``: the floor keeps small
    layers from collapsing (C=64, r=16 gives 8, i.e. an effective r of 8).
    ``pool="avg"`` is the original SE; ``pool="avgmax"`` passes the average- and max-pooled
    vectors through the shared MLP and sums the logits (CBAM's channel attention).
    ``fc2`` is zero-initialised: the gate starts at 0.5 and the output at ``0.5 * x``.
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8, pool: str = "avg"):
        super().__init__()
        if pool not in ("avg", "avgmax"):
            raise ValueError(f"se pool must be 'avg' or 'avgmax', got {pool!r}")
        hidden = min(max(channels // reduction, min_hidden), channels)
        self.pool = pool
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = nn.Sigmoid()
        _zero_(self.fc2)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.fc2(self.act(self.fc1(x.mean((2, 3)))))
        if self.pool == "avgmax":
            logits = logits + self.fc2(self.act(self.fc1(x.amax((2, 3)))))
        return x * self.gate(logits[:, :, None, None])


def eca_kernel_size(channels: int, gamma: float = 2.0, b: float = 1.0) -> int:
    """ECA-Net's adaptive kernel size ``|log2(C)/gamma + b/gamma|``, truncated, made odd."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@register_attention("eca")
class EfficientChannelAttention(nn.Module):
    """ECA: global average pool, 1-D conv across channels (no bias), sigmoid, scale.

    ``kernel_size`` defaults to :func:`eca_kernel_size` (``gamma=2, b=1``; e.g. 3 for
    C in [8, 128), 5 for [128, 2048); 1 for C < 8, where timm clamps to 3); it must be odd.
    The conv is zero-initialised: the gate starts at 0.5 and the output at ``0.5 * x``.
    """

    def __init__(self, channels: int, kernel_size: int | None = None, gamma: float = 2.0, b: float = 1.0):
        super().__init__()
        k = kernel_size if kernel_size is not None else eca_kernel_size(channels, gamma, b)
        if k < 1 or k % 2 == 0:
            raise ValueError(f"eca kernel_size must be odd and positive, got {k}")
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.gate = nn.Sigmoid()
        _zero_(self.conv)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x.mean((2, 3))[:, None, :])  # [B, 1, C]
        return x * self.gate(y[:, 0, :, None, None])


@register_attention("spatial")
class SpatialAttention(nn.Module):
    """Spatial attention: channel-wise mean and max, concatenated, k×k conv, sigmoid, scale.

    ``kernel_size`` (odd, 3 or 7 in the CBAM paper; default 7). ``channels`` is only for the
    uniform signature. The conv is zero-initialised: the gate starts at 0.5 (``0.5 * x``).
    """

    def __init__(self, channels: int, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"spatial kernel_size must be odd and positive, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.gate = nn.Sigmoid()
        _zero_(self.conv)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * self.gate(self.conv(pooled))


@register_attention("cbam")
class CBAM(nn.Module):
    """CBAM: channel attention (``se`` with ``pool="avgmax"``), then spatial attention.

    ``reduction``/``min_hidden`` size the channel MLP as in ``se``; ``kernel_size`` is the
    spatial conv's. ``gate`` is the spatial sigmoid (the channel one is ``channel.gate``).
    Both gates start at 0.5, so the module starts as ``0.25 * x``.
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8, kernel_size: int = 7):
        super().__init__()
        self.channel = SqueezeExcitation(channels, reduction, min_hidden, pool="avgmax")
        self.spatial = SpatialAttention(channels, kernel_size)

    @property
    def gate(self) -> nn.Module:
        return self.spatial.gate

    def forward(self, x: Tensor) -> Tensor:
        """``spatial(channel(x))``, the same values and gradients computed with fewer full-size
        temporaries (see :mod:`sarcomp.models.cbam_ops`); the gates still pass through
        ``channel.gate`` and ``spatial.gate``, so hooks see them."""
        ch, sp = self.channel, self.spatial
        mean, peak = ChannelPool.apply(x)
        logits = ch.fc2(ch.act(ch.fc1(mean))) + ch.fc2(ch.act(ch.fc1(peak)))
        gc = ch.gate(logits[:, :, None, None]).flatten(1)
        pooled, y = GatedSpatialPool.apply(x, gc)
        # channels_last lets the CPU use oneDNN for the 2-channel k x k conv (4x faster than the
        # generic path); same convolution
        gs = sp.gate(sp.conv(pooled.contiguous(memory_format=torch.channels_last)))
        return DoubleGate.apply(x, gc, gs, y)


@register_attention("cbam_residual")
class CBAMResidualBlock(nn.Module):
    """Residual block with CBAM before the addition: ``x + CBAM(conv3(relu(conv3(x))))``.

    Both convs are 3×3, C→C, shape-preserving, default (random) init; CBAM kwargs as ``cbam``.
    ``gate`` is the inner CBAM's spatial sigmoid; gates start at 0.5, so the block starts
    as ``x + 0.25 * conv(relu(conv(x)))``, not the identity.
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8, kernel_size: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.cbam = CBAM(channels, reduction, min_hidden, kernel_size)

    @property
    def gate(self) -> nn.Module:
        return self.cbam.gate

    def forward(self, x: Tensor) -> Tensor:
        return x + self.cbam(self.conv2(self.act(self.conv1(x))))


# --------------------------------------------------------------------------- attention family


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


# --------------------------------------------------------------------------- spatial transformer


@register_attention("stn")
class SpatialTransformer(nn.Module):
    """Spatial Transformer Network (Jaderberg et al., 2015): localisation net -> 2×3 affine θ ->
    ``affine_grid`` -> bilinear ``grid_sample``.

    The localisation net is two stride-2 3×3 convs (``hidden`` wide, ReLU), an adaptive average
    pool to ``pool × pool`` (it keeps the layout a shift is read from) and a linear layer to the
    six entries of θ, zero-weighted with an identity bias: the module starts as the identity
    transform (output = input to float tolerance). ``padding_mode`` is ``grid_sample``'s
    (``zeros``, ``border`` or ``reflection``, the default: no black borders for a codec to spend
    bits on, and gradients reach θ even where it points outside the image). ``gate`` is an identity through which θ
    ``[B, 2, 3]`` passes, for hooks.
    """

    def __init__(self, channels: int, hidden: int = 16, pool: int = 4, padding_mode: str = "reflection"):
        super().__init__()
        if padding_mode not in ("zeros", "border", "reflection"):
            raise ValueError(f"stn padding_mode must be zeros, border or reflection, got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.loc = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(pool),
            nn.Flatten(),
        )
        self.theta = nn.Linear(hidden * pool * pool, 6)
        nn.init.zeros_(self.theta.weight)
        with torch.no_grad():
            self.theta.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
        self.gate = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        theta = self.gate(self.theta(self.loc(x)).view(-1, 2, 3))
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=self.padding_mode, align_corners=False)
