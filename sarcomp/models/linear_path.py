"""A codec whose transforms keep an exactly invertible linear path (issue 26, step 2: the high rates).

Every shipped model flattens above ~2 bpp on real SAR (``highrate-vr-s4``: +2.4 dB per bpp from 3.3
to 3.9 bpp on the test split, where JPEG 2000 gains the ~6 dB per bpp of fine scalar quantisation): single-look speckle is close
to white noise, so at high rate the codec must reproduce the pixels themselves, and a deep GDN
transform trained for a few thousand steps reconstructs them only to ~35 dB however finely its
latent is quantised. Here each transform is the sum of two paths:

    g_a(x) = deep_a(x) + c · Q · unshuffle_s(x)            (Q: [M, s²], orthonormal columns)
    g_s(ŷ) = deep_s(ŷ) + shuffle_s(Qᵀ · ŷ / c)

with s the stride and M ≥ s² the latent channels; both linear maps are learned 1×1 convolutions
initialised so (c is a fixed factor outside the weights, so that the optimiser's steps stay
relative to O(1) weights), and the last convolution of each deep path starts at zero. At step 0 the codec is
therefore a block transform coder that reconstructs x exactly up to quantisation (MSE 1/(12 c²) per
pixel at unit steps), whose rate falls 1 bit per pixel per 6 dB; training adds the non-linear
paths where they pay, at the low rates. ``c`` is the unit step's MSE-optimal scale at the largest
trained λ (loss λ·255²·MSE + bpp, high-rate approximation): c² = λ·255²·ln 2 / 6; the gain units
start the smaller λ at proportionally coarser steps (:class:`sarcomp.models.entropy.GainUnits`).

g_s has no output sigmoid (it would bend the linear path): x̂ is unbounded in training and clamped
to [0, 1] when decoded, as for every codec. No attention placements (their hooks expect the deep
codec's layout). ``light_hyper``: the fast family's light mean-scale h_s
(:func:`sarcomp.models.shallow.light_hyper_synthesis`), which at stride 4 costs 259 instead of
1,412 MMAC per 256² tile, run on both sides as an integer network. Coding, portable files and
variable rate are the parent's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from sarcomp.models.autoencoder import SARCodec
from sarcomp.models.blocks import ParallelTransform, last_convolution
from sarcomp.models.shallow import light_hyper_synthesis
from sarcomp.training.loss import MSE_SCALE


class Scale(nn.Module):
    """Multiplies by a fixed factor (a buffer): the linear path's c, kept out of the weights so that
    the optimiser's steps are relative to O(1) weights at every c."""

    def __init__(self, factor: float):
        super().__init__()
        self.register_buffer("factor", torch.tensor(float(factor)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


def linear_scale(lmbda_max: float) -> float:
    """c of the module docstring: the latent scale at which a unit quantisation step is the
    MSE-optimal one for λ ``lmbda_max`` at high rate."""
    return math.sqrt(lmbda_max * MSE_SCALE * math.log(2) / 6)


class LinearPathSARCodec(SARCodec):
    """A :class:`SARCodec` whose g_a and g_s are :class:`ParallelTransform` s: the parent's deep
    transforms (without g_s's sigmoid) beside an invertible linear path (module docstring)."""

    def __init__(self, attention: Mapping[str, Any] | None = None, light_hyper: bool = False, **kwargs: Any):
        if (attention or {}).get("type", "none") != "none":
            raise ValueError("attention.type: the linear-path codec has no attention placements (none only)")
        super().__init__(attention=attention, **kwargs)
        pixels = self.g_a[0][0].in_channels * self.stride**2
        latent_channels = last_convolution(self.g_a).out_channels
        if latent_channels < pixels:
            raise ValueError(
                f"latent_channels: the linear path needs at least {pixels} (in_channels × stride²) "
                f"to be invertible, got {latent_channels}"
            )
        analysis = nn.Conv2d(pixels, latent_channels, 1, bias=False)
        synthesis = nn.Conv2d(latent_channels, pixels, 1)
        scale = linear_scale(self.lmbdas[-1] if self.lmbdas else self.lmbda)
        with torch.no_grad():
            nn.init.orthogonal_(analysis.weight.view(latent_channels, pixels))  # orthonormal columns
            synthesis.weight.copy_(analysis.weight.view(latent_channels, pixels).t()[..., None, None])
            synthesis.bias.zero_()
            deep_s = nn.Sequential(*list(self.g_s)[:-1])  # without the output sigmoid
            for deep in (self.g_a, deep_s):
                last_convolution(deep).weight.zero_()
                last_convolution(deep).bias.zero_()
        self.g_a = ParallelTransform(
            self.g_a, nn.Sequential(nn.PixelUnshuffle(self.stride), analysis, Scale(scale))
        )
        self.g_s = ParallelTransform(
            deep_s, nn.Sequential(Scale(1 / scale), synthesis, nn.PixelShuffle(self.stride))
        )
        if light_hyper:
            if self.entropy != "meanscale":
                raise ValueError(
                    f"light_hyper: a mean-scale hyper-synthesis, not for entropy {self.entropy!r}"
                )
            hyper = int(kwargs.get("hyper_channels") or latent_channels)
            self.latent_codec.hyper.h_s = light_hyper_synthesis(latent_channels, hyper)
