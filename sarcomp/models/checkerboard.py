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
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.models.entropy import TableGaussianConditional
from sarcomp.models.intnet import IntegerChain
from sarcomp.models.latent_codecs import (
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
    LatentCodec,
    coding_stage,
    register_latent_codec,
)
from sarcomp.models.tables import CoderTables

CONTEXT_KERNEL = 5
MIN_SYMBOLS = 16  # shortest message handed to the rANS coder (:func:`_padding`)


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
        y_hat, likelihoods, _ = self.forward_decoded(y, params)
        return y_hat, {"y": likelihoods}

    def forward_decoded(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(ŷ, likelihoods, y as the decoder sees it): the last rounded around its final means,
        with the gradient of y when training (what later channel groups condition on)."""
        scales, means = self.split(params)
        mask = anchors(y.shape, y.device)
        context = self._float_parameters(_decoded(y, means, self.training) * mask, params)
        context_scales, context_means = self.split(context)
        scales = torch.where(mask, scales, context_scales)
        means = torch.where(mask, means, context_means)
        y_hat, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return y_hat, likelihoods, _decoded(y, means, self.training)

    def _float_parameters(self, anchor_values: Tensor, params: Tensor) -> Tensor:
        return self.entropy_parameters(torch.cat([params, self.context(anchor_values)], dim=1))

    def context_parameters(self, anchor_symbols: Tensor, params: Tensor, portable: bool) -> Tensor:
        """The non-anchors' parameters [N, 2M, K] (K non-anchors, row-major) from the anchors'
        symbols (zero elsewhere) and the hyper parameters: integer networks on exact inputs
        (portable), or the float networks of ``forward``."""
        scales, means = self.split(params)
        mask = anchors(params.shape, params.device)
        if mask.all():  # a 1 x 1 latent: no non-anchors
            return params[..., ~mask]
        with coding_stage("context"):
            if not portable:
                values = (anchor_symbols.to(params) + means) * mask
                return self._float_parameters(values, params)[..., ~mask]
            context, parameters = self.networks()
            values = (anchor_symbols.to(params.device, torch.float64) + means.double()) * mask
            features = torch.cat([params.double()[..., ~mask, None], context(_taps(values, ~mask))], dim=1)
            return parameters(features)[..., 0].float()  # one rounding of exact values: the same everywhere

    def networks(self) -> tuple[IntegerChain, IntegerChain]:
        """The context convolution at the non-anchors (a 1×1 convolution over the anchor taps of
        :func:`_taps`) and the parameter network, as integer networks."""
        return self.derived(
            "networks",
            lambda: (
                IntegerChain(nn.Sequential(_tap_convolution(self.context[0]))),
                IntegerChain(self.entropy_parameters),
            ),
        )

    def compress(self, y: Tensor, params: Tensor, portable: bool = True) -> list[list[bytes]]:
        return self.encode(y, params, portable)[0]

    def encode(
        self, y: Tensor, params: Tensor, portable: bool = True
    ) -> tuple[list[list[bytes]], Tensor, Tensor]:
        """(the strings, y's symbols, the means they are coded around: what the decoder derives)."""
        gc, tables = self.gaussian_conditional, self.tables(portable, y.device)
        scales, means = self.split(params)
        mask = anchors(y.shape, y.device)
        indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            first = _compress(gc, y[..., mask], indexes[..., mask], means[..., mask], tables)
            symbols = gc.quantize(y, "symbols", means) * mask
        scales, context_means = self.split(self.context_parameters(symbols, params, portable))
        indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            second = _compress(gc, y[..., ~mask], indexes, context_means, tables)
        means = means.clone()
        means[..., ~mask] = context_means
        return [first, second], gc.quantize(y, "symbols", means), means

    def decode(
        self, strings: list[list[bytes]], shape: Sequence[int], params: Tensor, portable: bool = True
    ) -> dict[str, Tensor]:
        """``{"y_hat", "y", "indexes"}``, anchors and non-anchors in place."""
        symbols, means, indexes = self.decode_values(strings, shape, params, portable)
        dtype = self.gaussian_conditional.scale_bound.dtype
        y_hat = self.gaussian_conditional.dequantize(symbols, means.to(dtype), dtype)
        return {"y_hat": y_hat, "y": symbols, "indexes": indexes}

    def decode_values(
        self, strings: list[list[bytes]], shape: Sequence[int], params: Tensor, portable: bool = True
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(y's symbols, their means, their table indexes), anchors and non-anchors in place."""
        gc, device = self.gaussian_conditional, params.device
        tables, mask = self.tables(portable, device), anchors(shape, device)
        scales, means = self.split(params)
        indexes = self.indexes(scales, portable)
        symbols = torch.zeros(params.shape[0], params.shape[1] // 2, *shape, dtype=torch.int32, device=device)
        with coding_stage("y coding"):
            symbols[..., mask] = _decode(gc, strings[0], indexes[..., mask], tables).to(device)
        scales, context_means = self.split(self.context_parameters(symbols, params, portable))
        context_indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            symbols[..., ~mask] = _decode(gc, strings[1], context_indexes, tables).to(device)
        means, indexes = means.clone(), indexes.clone()
        means[..., ~mask], indexes[..., ~mask] = context_means, context_indexes
        return symbols, means, indexes


def _decoded(y: Tensor, means: Tensor, training: bool) -> Tensor:
    """y rounded around ``means`` (the decoder's values), straight-through when training."""
    rounded = torch.round(y - means) + means
    return y + (rounded - y).detach() if training else rounded


def _compress(
    gc: TableGaussianConditional, values: Tensor, indexes: Tensor, means: Tensor, tables: CoderTables | None
) -> list[bytes]:
    """One string per item of ``values`` [N, C, K], coded around ``means`` with ``indexes``; a
    message shorter than :data:`MIN_SYMBOLS` is padded with zeros of the narrowest table row."""
    pad = _padding(values)
    if pad:
        values, indexes, means = (F.pad(t.flatten(1), (0, pad)) for t in (values, indexes, means))
    return gc.compress(values, indexes, means, tables)


def _decode(
    gc: TableGaussianConditional, strings: list[bytes], indexes: Tensor, tables: CoderTables | None
) -> Tensor:
    """The symbols [N, C, K] of :func:`_compress`'s strings."""
    pad = _padding(indexes)
    if not pad:
        return gc.decode_symbols(strings, indexes, tables)
    symbols = gc.decode_symbols(strings, F.pad(indexes.flatten(1), (0, pad)), tables)
    return symbols[:, : indexes[0].numel()].reshape(indexes.shape)


def _padding(values: Tensor) -> int:
    """Zeros to append to each item's message: CompressAI's rANS encoder sizes its buffer by the
    number of symbols, which a message of a few improbable symbols overruns."""
    n = values[0].numel() if len(values) else 0
    return MIN_SYMBOLS - n if 0 < n < MIN_SYMBOLS else 0


def _anchor_taps(kernel: int) -> list[tuple[int, int]]:
    """The kernel offsets (di, dj) that reach an anchor from a non-anchor: di + dj odd."""
    r = kernel // 2
    return [(di, dj) for di in range(-r, r + 1) for dj in range(-r, r + 1) if (di + dj) % 2]


def _taps(values: Tensor, at: Tensor) -> Tensor:
    """[N, C · T, K, 1]: at each of the K positions of ``at`` (row-major), the T anchor taps of
    every channel of ``values`` [N, C, H, W] (zero beyond the edges), channel-major."""
    r = CONTEXT_KERNEL // 2
    h, w = values.shape[-2:]
    padded = F.pad(values, (r, r, r, r))
    taps = [
        padded[..., r + di : r + di + h, r + dj : r + dj + w][..., at]
        for di, dj in _anchor_taps(CONTEXT_KERNEL)
    ]
    stacked = torch.stack(taps, dim=2)  # [N, C, T, K]
    return stacked.reshape(len(values), -1, stacked.shape[-1])[..., None]


def _tap_convolution(conv: nn.Conv2d) -> nn.Conv2d:
    """``conv`` (5×5) at the non-anchors as a 1×1 convolution over :func:`_taps`: the same sums
    (the other taps read zeros there), a quarter of the work."""
    rows, cols = zip(
        *[(di + conv.padding[0], dj + conv.padding[1]) for di, dj in _anchor_taps(CONTEXT_KERNEL)]
    )
    weight = conv.weight.detach()[:, :, list(rows), list(cols)]  # [out, in, T]
    tap = nn.Conv2d(weight.shape[1] * weight.shape[2], weight.shape[0], 1)
    tap.weight.data = weight.reshape(weight.shape[0], -1, 1, 1).clone()
    tap.bias.data = conv.bias.detach().clone()
    return tap


@register_latent_codec("checkerboard")
def _checkerboard(latent: int, hyper: int) -> LatentCodec:
    """The mean-scale hyperprior with a checkerboard context (module docstring)."""
    return HyperpriorLatentCodec(
        HyperLatentCodec("meanscale", latent, hyper), CheckerboardLatentCodec(latent)
    )
