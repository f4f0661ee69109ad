"""Convolutional building blocks of the codec: stride-2 down/up sampling with GDN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.layers import GDN
from torch import Tensor, nn

KERNEL = 5


def down_block(in_channels: int, out_channels: int, activation: bool = True) -> nn.Sequential:
    """5×5 stride-2 convolution, then GDN (the analysis transform's non-linearity)."""
    conv = nn.Conv2d(in_channels, out_channels, KERNEL, stride=2, padding=KERNEL // 2)
    return nn.Sequential(conv, GDN(out_channels)) if activation else nn.Sequential(conv)


def up_block(in_channels: int, out_channels: int, activation: bool = True) -> nn.Sequential:
    """5×5 stride-2 transposed convolution, then inverse GDN (the synthesis non-linearity); without
    the activation (the output block) the convolution is computed in sub-pixel form."""
    kind = nn.ConvTranspose2d if activation else SubpixelConvTranspose2d
    conv = kind(in_channels, out_channels, KERNEL, stride=2, padding=KERNEL // 2, output_padding=1)
    return nn.Sequential(conv, GDN(out_channels, inverse=True)) if activation else nn.Sequential(conv)


class SubpixelConvTranspose2d(nn.ConvTranspose2d):
    """The 5×5 stride-2 transposed convolution (padding 2, output padding 1) computed as a 3×3
    convolution to 4 × ``out_channels`` (one per output phase) and a 2× pixel shuffle.

    Same parameters, same state dict, the same map up to float rounding. On one CPU thread it is
    2.4× faster where the output is narrow (the codec's 48 → 1 output layer at a 256² tile) and
    slower where it is wide, so only the output block uses it (``experiments/cpu_kernels.py``).
    """

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or self.groups != 1 or self.dilation != (1, 1):
            raise ValueError("SubpixelConvTranspose2d computes the codec's up-sampling only")
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        return F.pixel_shuffle(F.conv2d(x, subpixel_weight(self.weight), bias, padding=1), 2)


class ParallelTransform(nn.Module):
    """``deep(x) + linear(x)``: a transform with a linear path beside its deep one
    (:mod:`sarcomp.models.linear_path`); :func:`run_channels_last` lays out its deep path."""

    def __init__(self, deep: nn.Sequential, linear: nn.Sequential):
        super().__init__()
        self.deep, self.linear = deep, linear

    def forward(self, x: Tensor) -> Tensor:
        return self.deep(x) + self.linear(x)


def run_channels_last(transform: nn.Module, x: Tensor) -> Tensor:
    """``transform(x)`` with, on the CPU, every convolution block's input in channels_last, where
    oneDNN's 5×5 transposed convolutions run faster at the stride-8 models' widths (g_s: 9.3
    against 8.0 ms at a 256² tile, ``experiments/cpu_kernels.py``; ``SARCodec.decompress`` runs
    g_s so). Attention modules get the standard layout they are written for. The layout changes
    float rounding, not the map. g_a gains nothing (its first block's output would have to be
    copied into the layout), and h_s, whose output selects the entropy coder's tables, must not
    change at all, or files written before would no longer decode. A :class:`ParallelTransform`
    runs its deep path so and adds its linear path as it is.
    """
    if x.device.type != "cpu":
        return transform(x)
    if isinstance(transform, ParallelTransform):
        return run_channels_last(transform.deep, x) + transform.linear(x)
    for module in transform:
        layout = torch.channels_last if isinstance(module, nn.Sequential) else torch.contiguous_format
        x = module(x.contiguous(memory_format=layout))
    return x


def last_convolution(transform: nn.Module) -> nn.Conv2d | nn.ConvTranspose2d:
    """The last (transposed) convolution of a transform, in module order."""
    return [m for m in transform.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]


def subpixel_weight(weight: Tensor) -> Tensor:
    """[C_in, C_out, 5, 5] transposed-convolution weight → [4 C_out, C_in, 3, 3] convolution weight
    whose output channel 4c + 2a + b is output channel c at row phase a, column phase b."""
    c_in, c_out = weight.shape[:2]
    phases = _phase_taps(_phase_taps(weight, 2), 4)  # [C_in, C_out, a, row tap, b, column tap]
    return phases.permute(1, 2, 4, 0, 3, 5).reshape(4 * c_out, c_in, 3, 3)


def _phase_taps(weight: Tensor, dim: int) -> Tensor:
    """The 5 taps along ``dim`` as 2 output phases × 3 taps at input offsets -1, 0, +1 (stacked
    at ``dim``): with stride 2 and padding 2, phase 0 reads taps 4, 2, 0 and phase 1 taps 3, 1
    (offset -1 has none)."""

    def every_other_from(start: int) -> Tensor:
        index = [slice(None)] * weight.dim()
        index[dim] = slice(start, None, 2)
        return weight[tuple(index)].flip(dim)

    odd = F.pad(every_other_from(1), [0, 0] * (weight.dim() - 1 - dim) + [1, 0])  # zero at offset -1
    return torch.stack([every_other_from(0), odd], dim=dim)
