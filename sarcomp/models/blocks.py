"""Convolutional building blocks of the codec: stride-2 down/up sampling with GDN."""

from __future__ import annotations

from compressai.layers import GDN
from torch import nn

KERNEL = 5


def down_block(in_channels: int, out_channels: int, activation: bool = True) -> nn.Sequential:
    """5×5 stride-2 convolution, then GDN (the analysis transform's non-linearity)."""
    conv = nn.Conv2d(in_channels, out_channels, KERNEL, stride=2, padding=KERNEL // 2)
    return nn.Sequential(conv, GDN(out_channels)) if activation else nn.Sequential(conv)


def up_block(in_channels: int, out_channels: int, activation: bool = True) -> nn.Sequential:
    """5×5 stride-2 transposed convolution, then inverse GDN (the synthesis non-linearity)."""
    conv = nn.ConvTranspose2d(
        in_channels, out_channels, KERNEL, stride=2, padding=KERNEL // 2, output_padding=1
    )
    return nn.Sequential(conv, GDN(out_channels, inverse=True)) if activation else nn.Sequential(conv)
