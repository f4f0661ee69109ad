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

The gated modules take ``unit_start`` (default ``False``): with it, each gate is ``2·σ(z)``
(:class:`UnitSigmoid`), in (0, 2) and 1 at init, so the module starts as the identity (``x``;
``cbam_residual``: ``x + f(x)``) instead of shrinking its input. Several plain gates in series
shrink a signal by 0.5 each at init (CBAM everywhere: by 0.25 per module), which the layers around
them must learn to undo. The gate has no parameters, so the option changes no state dict.

The attention family is ``self_attention``, ``local_attention``, ``axial_attention`` and
``linear_attention``: ``x + gamma * proj(attention(q, k, v))`` with a learnable scalar
``gamma`` initialised to 0, so each block starts as the identity exactly.

Initialisation is near identity as the design prescribes: the last layer before each sigmoid
gate is zero-initialised (weights and bias), so every gate starts at exactly 0.5 and a gated
module starts as ``0.5 * x`` (``0.25 * x`` for CBAM's two gates in series).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.models.attention_family import (
    AxialAttention,
    LinearAttention,
    LocalAttention,
    ResidualAttention,
    SelfAttention,
)
from sarcomp.models.attention_registry import (
    attention_classes,
    attention_names,
    build_attention,
    check_attention_name,
    register_attention,
)
from sarcomp.models.cbam_ops import ChannelPool, DoubleGate, GatedSpatialPool

__all__ = [
    "CBAM",
    "AxialAttention",
    "CBAMResidualBlock",
    "EfficientChannelAttention",
    "LinearAttention",
    "LocalAttention",
    "NoAttention",
    "ResidualAttention",
    "SelfAttention",
    "SpatialAttention",
    "SpatialTransformer",
    "SqueezeExcitation",
    "UnitSigmoid",
    "attention_classes",
    "attention_names",
    "build_attention",
    "check_attention_name",
    "eca_kernel_size",
    "register_attention",
]


class UnitSigmoid(nn.Module):
    """``2·σ(z)``: a gate in (0, 2) that is 1 at ``z = 0`` (the ``unit_start`` gates)."""

    def forward(self, z: Tensor) -> Tensor:
        return 2.0 * torch.sigmoid(z)


def _gate(unit_start: bool) -> nn.Module:
    """The gate nonlinearity: ``σ`` (starts at 0.5 behind a zeroed layer) or ``2·σ`` (starts at 1)."""
    return UnitSigmoid() if unit_start else nn.Sigmoid()


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

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        min_hidden: int = 8,
        pool: str = "avg",
        unit_start: bool = False,
    ):
        super().__init__()
        if pool not in ("avg", "avgmax"):
            raise ValueError(f"se pool must be 'avg' or 'avgmax', got {pool!r}")
        hidden = min(max(channels // reduction, min_hidden), channels)
        self.pool = pool
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = _gate(unit_start)
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

    def __init__(
        self,
        channels: int,
        kernel_size: int | None = None,
        gamma: float = 2.0,
        b: float = 1.0,
        unit_start: bool = False,
    ):
        super().__init__()
        k = kernel_size if kernel_size is not None else eca_kernel_size(channels, gamma, b)
        if k < 1 or k % 2 == 0:
            raise ValueError(f"eca kernel_size must be odd and positive, got {k}")
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.gate = _gate(unit_start)
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

    def __init__(self, channels: int, kernel_size: int = 7, unit_start: bool = False):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"spatial kernel_size must be odd and positive, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.gate = _gate(unit_start)
        _zero_(self.conv)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * self.gate(self.conv(pooled))


@register_attention("cbam")
class CBAM(nn.Module):
    """CBAM: channel attention (``se`` with ``pool="avgmax"``), then spatial attention.

    ``reduction``/``min_hidden`` size the channel MLP as in ``se``; ``kernel_size`` is the
    spatial conv's. ``gate`` is the spatial sigmoid (the channel one is ``channel.gate``).
    Both gates start at 0.5, so the module starts as ``0.25 * x`` (``x`` with ``unit_start``).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        min_hidden: int = 8,
        kernel_size: int = 7,
        unit_start: bool = False,
    ):
        super().__init__()
        self.channel = SqueezeExcitation(
            channels, reduction, min_hidden, pool="avgmax", unit_start=unit_start
        )
        self.spatial = SpatialAttention(channels, kernel_size, unit_start)

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
    as ``x + 0.25 * conv(relu(conv(x)))`` (``x + conv(relu(conv(x)))`` with ``unit_start``), not
    the identity.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        min_hidden: int = 8,
        kernel_size: int = 7,
        unit_start: bool = False,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.cbam = CBAM(channels, reduction, min_hidden, kernel_size, unit_start)

    @property
    def gate(self) -> nn.Module:
        return self.cbam.gate

    def forward(self, x: Tensor) -> Tensor:
        return x + self.cbam(self.conv2(self.act(self.conv1(x))))


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
