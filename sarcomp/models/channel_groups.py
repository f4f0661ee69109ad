"""Uneven channel groups with a checkerboard context in each (the entropy model of ELIC, He et
al., CVPR 2022, not its transforms), as a conditional y codec under the mean-scale hyperprior
(``model.entropy=elic``).

y's channels split into groups of growing size (:func:`group_sizes`: 16, 16, 32, the rest at
M = 96). Group k is coded by a :class:`~sarcomp.models.checkerboard.CheckerboardLatentCodec`
whose "hyper" parameters are a channel-context network on h_s(ẑ) and the decoded groups before
it (1×1 convolutions); strings: two per group (anchors, non-anchors), then z's.

Portable (version-2) files: each channel-context network runs as an integer network
(:class:`sarcomp.models.intnet.IntegerChain`) on exact inputs (h_s's exact outputs, and earlier
groups' ŷ as symbols plus means in float64), as the checkerboard's own networks do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sarcomp.models.checkerboard import CheckerboardLatentCodec
from sarcomp.models.intnet import IntegerChain
from sarcomp.models.latent_codecs import (
    HyperLatentCodec,
    HyperpriorLatentCodec,
    LatentCodec,
    coding_stage,
    register_latent_codec,
)


def group_sizes(latent: int) -> list[int]:
    """Channel groups of growing size: b, b, 2b, the rest, with b = latent // 6 (16 at 96)."""
    b = latent // 6
    return [b, b, 2 * b, latent - 4 * b] if b else [latent]


class ChannelGroupsLatentCodec(LatentCodec):
    """y given the mean-scale hyperprior's parameters [2M], group after group (module docstring)."""

    def __init__(self, latent: int):
        super().__init__()
        self.sizes = group_sizes(latent)
        self.groups = 2 * len(self.sizes)
        self.channel_context = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(2 * latent + sum(self.sizes[:k]), 2 * latent, 1),
                nn.LeakyReLU(),
                nn.Conv2d(2 * latent, 2 * size, 1),
            )
            for k, size in enumerate(self.sizes)
        )
        self.spatial = nn.ModuleList(CheckerboardLatentCodec(size) for size in self.sizes)

    def _bounds(self) -> list[tuple[int, int]]:
        ends = [sum(self.sizes[: k + 1]) for k in range(len(self.sizes))]
        return list(zip([0, *ends[:-1]], ends))

    def forward(self, y: Tensor, params: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        outputs: list[Tensor] = []
        decoded: list[Tensor] = []
        likelihoods: list[Tensor] = []
        for k, (lo, hi) in enumerate(self._bounds()):
            group_params = self.channel_context[k](torch.cat([params, *decoded], dim=1))
            y_hat, group_likelihoods, seen = self.spatial[k].forward_decoded(y[:, lo:hi], group_params)
            outputs.append(y_hat)
            decoded.append(seen)  # the next groups' context: rounded as the decoder has it
            likelihoods.append(group_likelihoods)
        return torch.cat(outputs, dim=1), {"y": torch.cat(likelihoods, dim=1)}

    def group_parameters(self, k: int, params: Tensor, decoded: Sequence[Tensor], portable: bool) -> Tensor:
        """Group k's parameters [2 size_k] from the hyper parameters and the groups before it
        (float ŷ, or exact float64 ŷ when ``portable``): integer network or float."""
        with coding_stage("context"):
            if not portable:
                return self.channel_context[k](torch.cat([params, *decoded], dim=1))
            network = self.derived(f"channel {k}", lambda: IntegerChain(self.channel_context[k]))
            return network(torch.cat([params.double(), *decoded], dim=1)).float()

    def _value(self, symbols: Tensor, means: Tensor, portable: bool) -> Tensor:
        """A decoded group as the next groups read it: exact in float64 (portable), else as ŷ."""
        if portable:
            return symbols.double() + means.double()
        return self.spatial[0].gaussian_conditional.dequantize(symbols, means, means.dtype)

    def compress(self, y: Tensor, params: Tensor, portable: bool = True) -> list[list[bytes]]:
        strings: list[list[bytes]] = []
        decoded: list[Tensor] = []
        for k, (lo, hi) in enumerate(self._bounds()):
            group_params = self.group_parameters(k, params, decoded, portable)
            group_strings, symbols, means = self.spatial[k].encode(y[:, lo:hi], group_params, portable)
            strings += group_strings
            decoded.append(self._value(symbols, means, portable))
        return strings

    def decode(
        self, strings: list[list[bytes]], shape: Sequence[int], params: Tensor, portable: bool = True
    ) -> dict[str, Tensor]:
        """``{"y_hat", "y", "indexes"}``, the groups in channel order."""
        decoded: list[Tensor] = []
        parts: list[tuple[Tensor, Tensor, Tensor]] = []
        for k in range(len(self.sizes)):
            group_params = self.group_parameters(k, params, decoded, portable)
            symbols, means, indexes = self.spatial[k].decode_values(
                strings[2 * k : 2 * k + 2], shape, group_params, portable
            )
            decoded.append(self._value(symbols, means, portable))
            parts.append((symbols, means, indexes))
        symbols, means, indexes = (torch.cat(p, dim=1) for p in zip(*parts))
        gc = self.spatial[0].gaussian_conditional
        dtype = gc.scale_bound.dtype
        return {"y_hat": gc.dequantize(symbols, means.to(dtype), dtype), "y": symbols, "indexes": indexes}


@register_latent_codec("elic")
def _elic(latent: int, hyper: int) -> LatentCodec:
    """The mean-scale hyperprior with uneven channel groups and a checkerboard in each."""
    return HyperpriorLatentCodec(
        HyperLatentCodec("meanscale", latent, hyper), ChannelGroupsLatentCodec(latent)
    )
