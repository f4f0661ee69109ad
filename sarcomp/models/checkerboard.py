"""Checkerboard spatial context (He et al., "Checkerboard context model for efficient learned image
compression", CVPR 2021), as a conditional y codec under the mean-scale hyperprior
(``model.entropy=checkerboard``).

y's elements split by position: anchors ((i + j) even) and non-anchors. Two passes, each one rANS
string per tile:

1. anchors, coded with the hyperprior's means and scales (h_s(ẑ)) alone;
2. non-anchors, coded with the means and scales of a parameter network on h_s(ẑ) and a context:
   a 5×5 convolution over the decoded anchors (non-anchors zero, so nothing undecoded is read).

Nothing is reshaped by position, so any latent size codes as it is (odd ones too) and the codec
needs no padding of its own (:attr:`CheckerboardLatentCodec.multiple` 1; the hyper codec pads to 4).

Training: the anchors enter the context rounded around their means with a straight-through
gradient (what the decoder sees), the likelihoods are the Gaussian conditional's (noise).

Portable (version-2) coding: the context convolution and the parameter network run as integer
networks (:class:`sarcomp.models.intnet.IntegerChain`) on exact inputs (the anchors' symbols plus
the integer h_s's means, and h_s's exact outputs), so the non-anchors' table indexes and means are
the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sarcomp.models.intnet import IntegerChain
from sarcomp.models.latent_codecs import (
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
    LatentCodec,
    coding_stage,
    register_latent_codec,
)

CONTEXT_KERNEL = 5


def anchors(shape: Sequence[int], device: torch.device) -> Tensor:
    """The anchor positions of an H × W latent, (i + j) even, as a bool [H, W] mask."""
    h, w = int(shape[-2]), int(shape[-1])
    rows = torch.arange(h, device=device)[:, None]
    cols = torch.arange(w, device=device)[None, :]
    return (rows + cols) % 2 == 0


class CheckerboardLatentCodec(GaussianConditionalLatentCodec):
    """y given the mean-scale hyperprior's parameters [2M] (scales, means), in two passes (module
    docstring). Strings: anchors', then non-anchors'."""

    groups = 2

    def __init__(self, latent: int):
        super().__init__(means=True)
        self.context = nn.Sequential(nn.Conv2d(latent, latent, CONTEXT_KERNEL, padding=CONTEXT_KERNEL // 2))
        wide = 2 * latent
        self.entropy_parameters = nn.Sequential(
            nn.Conv2d(3 * latent, wide, 1),
            nn.LeakyReLU(),
            nn.Conv2d(wide, wide, 1),
            nn.LeakyReLU(),
            nn.Conv2d(wide, 2 * latent, 1),
        )

    def forward(self, y: Tensor, params: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        scales, means = self.split(params)
        mask = anchors(y.shape, y.device)
        rounded = torch.round(y - means) + means
        if self.training:  # the decoder's anchors, with the gradient of y
            rounded = y + (rounded - y).detach()
        context_scales, context_means = self.split(self._float_parameters(rounded * mask, params))
        scales = torch.where(mask, scales, context_scales)
        means = torch.where(mask, means, context_means)
        y_hat, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return y_hat, {"y": likelihoods}

    def _float_parameters(self, anchor_values: Tensor, params: Tensor) -> Tensor:
        return self.entropy_parameters(torch.cat([params, self.context(anchor_values)], dim=1))

    def context_parameters(self, anchor_symbols: Tensor, params: Tensor, portable: bool) -> Tensor:
        """The non-anchors' parameters [2M] from the anchors' symbols (zero elsewhere) and the
        hyper parameters: integer networks on exact inputs (portable) or the float ones."""
        scales, means = self.split(params)
        mask = anchors(params.shape, params.device)
        with coding_stage("context"):
            if not portable:
                values = (anchor_symbols.to(params) + means) * mask
                return self._float_parameters(values, params)
            context, parameters = self.networks()
            values = (anchor_symbols.to(params.device, torch.float64) + means.double()) * mask
            features = torch.cat([params.double(), context(values)], dim=1)
            return parameters(features).float()  # one rounding of exact values: the same everywhere

    def networks(self) -> tuple[IntegerChain, IntegerChain]:
        """The context convolution and the parameter network as integer networks."""
        return self.derived(
            "networks", lambda: (IntegerChain(self.context), IntegerChain(self.entropy_parameters))
        )

    def compress(self, y: Tensor, params: Tensor, portable: bool = True) -> list[list[bytes]]:
        gc, tables = self.gaussian_conditional, self.tables(portable, y.device)
        scales, means = self.split(params)
        mask = anchors(y.shape, y.device)
        indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            first = gc.compress(y[..., mask], indexes[..., mask], means[..., mask], tables)
            symbols = gc.quantize(y, "symbols", means) * mask
        scales, means = self.split(self.context_parameters(symbols, params, portable))
        indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            second = gc.compress(y[..., ~mask], indexes[..., ~mask], means[..., ~mask], tables)
        return [first, second]

    def decode(
        self, strings: list[list[bytes]], shape: Sequence[int], params: Tensor, portable: bool = True
    ) -> dict[str, Tensor]:
        """``{"y_hat", "y", "indexes"}``, anchors and non-anchors in place."""
        gc, device = self.gaussian_conditional, params.device
        tables, mask = self.tables(portable, device), anchors(shape, device)
        scales, anchor_means = self.split(params)
        indexes = self.indexes(scales, portable)
        symbols = torch.zeros(params.shape[0], params.shape[1] // 2, *shape, dtype=torch.int32, device=device)
        with coding_stage("y coding"):
            symbols[..., mask] = gc.decode_symbols(strings[0], indexes[..., mask], tables).to(device)
        scales, means = self.split(self.context_parameters(symbols, params, portable))
        context_indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            symbols[..., ~mask] = gc.decode_symbols(strings[1], context_indexes[..., ~mask], tables).to(
                device
            )
        means = torch.where(mask, anchor_means, means)
        dtype = gc.scale_bound.dtype
        y_hat = gc.dequantize(symbols, means.to(dtype), dtype)
        return {"y_hat": y_hat, "y": symbols, "indexes": torch.where(mask, indexes, context_indexes)}


@register_latent_codec("checkerboard")
def _checkerboard(latent: int, hyper: int) -> LatentCodec:
    """The mean-scale hyperprior with a checkerboard context (module docstring)."""
    return HyperpriorLatentCodec(
        HyperLatentCodec("meanscale", latent, hyper), CheckerboardLatentCodec(latent)
    )
