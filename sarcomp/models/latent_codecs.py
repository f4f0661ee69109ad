"""Latent codecs: what turns the codec's latent y into strings and back, as parts composed into
each other (the arrangement of CompressAI's ``latent_codecs``; the code is sarcomp's own).

    SARCodec: x ─ g_a ─ gain ─▶ y ─ latent codec ─▶ ŷ ─ inverse gain ─ g_s ─▶ x̂

A latent codec is built by name from :data:`LATENT_CODECS` (``model.entropy``; a builder joins
with :func:`register_latent_codec`) and answers

- ``forward(y) -> {"y_hat", "likelihoods": {name: tensor}}`` (training: noise or STE as the parts
  do; the trainer sums whatever likelihoods come back);
- ``compress(y, portable) -> [string list, ...]`` (:attr:`LatentCodec.groups` lists, y's first);
- ``decode(strings, shape, portable) -> {"y_hat", and the integers it came from}``.

It pads y itself where it needs to (h_a downsamples by 4) and says so in
:attr:`LatentCodec.multiple`: tiles whose latent is a multiple of it are coded without padding.

Parts: :class:`FactorizedLatentCodec` (``factorized``, also the z codec of a hyperprior),
:class:`HyperLatentCodec` (z = h_a(y) and h_s(ẑ) → y's parameters),
:class:`GaussianConditionalLatentCodec` (y given those parameters) and
:class:`HyperpriorLatentCodec` (a hyper codec and a conditional y codec:
``hyperprior``, ``meanscale``; ``checkerboard`` in :mod:`sarcomp.models.checkerboard`, ``elic`` in
:mod:`sarcomp.models.channel_groups`).

``portable=True`` codes version-2 files: tables from :mod:`sarcomp.models.tables` and every
network whose outputs select tables on the integer path (:mod:`sarcomp.models.intnet`), derived
from the weights on first use (:meth:`LatentCodec.reset_derived` drops them when weights change).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.profiler import record_function

from sarcomp.models.entropy import (
    HYPER_STRIDE,
    TableEntropyBottleneck,
    TableGaussianConditional,
    hyper_analysis,
    hyper_shape,
    hyper_synthesis,
    pad_for_hyper,
)
from sarcomp.models.intnet import IntegerHyperSynthesis, scale_boundaries
from sarcomp.models.tables import CoderTables, bottleneck_tables, gaussian_tables, scale_table

CODING_STAGES: tuple[str, ...] = ("g_a", "h_a", "z coding", "h_s", "indexes", "context", "y coding", "g_s")
STAGE_PREFIX = "sarcomp.codec::"
LATENT_CODECS: dict[str, Callable[[int, int], LatentCodec]] = {}


def register_latent_codec(name: str) -> Callable[[Callable[[int, int], Any]], Callable[[int, int], Any]]:
    """Decorator: ``builder(latent_channels, hyper_channels) -> LatentCodec`` under ``name``."""

    def add(builder: Callable[[int, int], Any]) -> Callable[[int, int], Any]:
        if name in LATENT_CODECS:
            raise ValueError(f"latent codec {name!r} registered twice")
        LATENT_CODECS[name] = builder
        return builder

    return add


def coding_stage(name: str) -> record_function:
    """A ``torch.profiler`` range around one stage of ``compress`` / ``decompress``
    (:data:`CODING_STAGES`), so a profile says where coding time goes (``scripts/benchmark.py``);
    a few microseconds when no profiler runs."""
    return record_function(f"{STAGE_PREFIX}{name}")


class LatentCodec(torch.nn.Module):
    """Base of the parts: a cache of what is derived from the weights (tables, integer networks)."""

    multiple: int = 1  # y's sides are padded to a multiple of this inside the codec
    groups: int = 1  # string lists of one tile
    legacy_prefixes: Mapping[str, str] = {}  # state-dict prefix here -> prefix in pre-seam models

    def __init__(self) -> None:
        super().__init__()
        self._derived: dict[str, Any] = {}

    def derived(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, once until :meth:`reset_derived`."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def reset_derived(self) -> None:
        """Forget everything derived from the weights, here and in every part below."""
        for module in self.modules():
            if isinstance(module, LatentCodec):
                module._derived.clear()


class FactorizedLatentCodec(LatentCodec):
    """A learned density per channel (``EntropyBottleneck``): the V0 codec's y, a hyperprior's z."""

    legacy_prefixes = {"": ""}

    def __init__(self, channels: int, stage: str = "y coding"):
        super().__init__()
        self.entropy_bottleneck = TableEntropyBottleneck(channels)
        self.stage = stage  # the profiler's name for its coding

    def forward(self, y: Tensor) -> dict[str, Any]:
        y_hat, likelihoods = self.entropy_bottleneck(y)
        return {"y_hat": y_hat, "likelihoods": {"y": likelihoods}}

    def tables(self, portable: bool, device: torch.device) -> CoderTables | None:
        """The coder's tables of version-2 files (None: CompressAI's ``update()`` tables)."""
        if not portable:
            return None
        return self.derived("tables", lambda: bottleneck_tables(self.entropy_bottleneck)).to(device)

    def compress(self, y: Tensor, portable: bool = True) -> list[list[bytes]]:
        with coding_stage(self.stage):
            return [self.entropy_bottleneck.compress(y, self.tables(portable, y.device))]

    def decode(
        self, strings: list[list[bytes]], shape: Sequence[int], portable: bool = True
    ) -> dict[str, Tensor]:
        """``{"y_hat", "y"}``: the values and their integer symbols."""
        device = self.entropy_bottleneck.quantiles.device
        with coding_stage(self.stage):
            symbols, y_hat = self.entropy_bottleneck.decode(
                strings[0], tuple(shape), self.tables(portable, device)
            )
        return {"y_hat": y_hat, "y": symbols}


class HyperLatentCodec(LatentCodec):
    """Side information: z = h_a(y) (of |y| for ``hyperprior``), coded by a factorised prior;
    h_s(ẑ), cut to y's size, is the parameters of y's conditional (scales, or scales and means)."""

    multiple = HYPER_STRIDE

    def __init__(self, kind: str, latent: int, hyper: int):
        super().__init__()
        self.h_a = hyper_analysis(kind, latent, hyper)
        self.h_s = hyper_synthesis(kind, latent, hyper)
        self.z = FactorizedLatentCodec(hyper, stage="z coding")
        self.absolute, self.means = kind == "hyperprior", kind != "hyperprior"

    def analysis(self, y: Tensor) -> Tensor:
        """z from y (zero-padded to a multiple of 4)."""
        return self.h_a(pad_for_hyper(y.abs() if self.absolute else y))

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(y's parameters from the noisy ẑ, z's likelihoods)."""
        z_hat, likelihoods = self.z.entropy_bottleneck(self.analysis(y))
        return self.h_s(z_hat)[..., : y.shape[-2], : y.shape[-1]], likelihoods

    def compress(self, y: Tensor, portable: bool = True) -> tuple[list[bytes], Tensor, Tensor]:
        """(z's strings, y's parameters as the decoder derives them, z's symbols)."""
        with coding_stage("h_a"):
            z = self.analysis(y)
        strings = self.z.compress(z, portable)
        decoded = self.z.decode(strings, z.shape[-2:], portable)
        return strings[0], self.parameters_of(decoded, y.shape[-2:], portable), decoded["y"]

    def decode(
        self, strings: list[bytes], shape: Sequence[int], portable: bool = True
    ) -> tuple[Tensor, Tensor]:
        """(y's parameters, z's symbols) for a y of spatial ``shape``."""
        decoded = self.z.decode([strings], hyper_shape(shape), portable)
        return self.parameters_of(decoded, shape, portable), decoded["y"]

    def parameters_of(self, z: dict[str, Tensor], shape: Sequence[int], portable: bool) -> Tensor:
        """h_s's outputs for y's ``shape``: the integer h_s on z's symbols and the prior's medians
        (portable, exact), or the float h_s on ẑ."""
        with coding_stage("h_s"):
            if portable:
                medians = self.z.entropy_bottleneck.quantiles[:, 0, 1]
                return self.network().outputs(z["y"], medians, tuple(shape))
            return self.h_s(z["y_hat"])[..., : shape[-2], : shape[-1]]

    def network(self) -> IntegerHyperSynthesis:
        """h_s as an integer network (version-2 files)."""
        return self.derived("network", lambda: IntegerHyperSynthesis(self.h_s, scale_table(), self.means))


class GaussianConditionalLatentCodec(LatentCodec):
    """y given the parameters a hyper codec derives: a Gaussian per element, its scale (and mean)."""

    def __init__(self, means: bool):
        super().__init__()
        self.gaussian_conditional = TableGaussianConditional(None)  # scale table set by update()
        self.means = means

    def split(self, params: Tensor) -> tuple[Tensor, Tensor | None]:
        """(scales, means or None) of ``params`` (scales first)."""
        if not self.means:
            return params, None
        scales, means = params.chunk(2, dim=1)
        return scales, means

    def forward(self, y: Tensor, params: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        scales, means = self.split(params)
        y_hat, likelihoods = self.gaussian_conditional(y, scales, means=means)
        return y_hat, {"y": likelihoods}

    def indexes(self, scales: Tensor, portable: bool) -> Tensor:
        """Scale-table indexes: against the exact table (portable) or ``update()``'s."""
        with coding_stage("indexes"):
            if portable:
                return torch.bucketize(scales.contiguous(), scale_boundaries().to(scales.device)).int()
            return self.gaussian_conditional.build_indexes(scales)

    def tables(self, portable: bool, device: torch.device) -> CoderTables | None:
        return gaussian_tables().to(device) if portable else None

    def compress(self, y: Tensor, params: Tensor, portable: bool = True) -> list[list[bytes]]:
        scales, means = self.split(params)
        indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            return [self.gaussian_conditional.compress(y, indexes, means, self.tables(portable, y.device))]

    def decode(
        self, strings: list[list[bytes]], shape: Sequence[int], params: Tensor, portable: bool = True
    ) -> dict[str, Tensor]:
        """``{"y_hat", "y", "indexes"}``."""
        scales, means = self.split(params)
        indexes = self.indexes(scales, portable)
        with coding_stage("y coding"):
            gc = self.gaussian_conditional
            dtype = gc.scale_bound.dtype  # the model's (the indexes came from float32 values)
            symbols = gc.decode_symbols(strings[0], indexes, self.tables(portable, params.device))
            y_hat = gc.dequantize(
                symbols.to(params.device), None if means is None else means.to(dtype), dtype
            )
        return {"y_hat": y_hat, "y": symbols, "indexes": indexes}


class HyperpriorLatentCodec(LatentCodec):
    """A hyper codec (:class:`HyperLatentCodec`) and a y codec conditioned on its parameters
    (``forward(y, params)``, ``compress(y, params, portable)``, ``decode(strings, shape, params,
    portable)``, ``groups``, ``multiple``). Strings: the y codec's lists, then z's."""

    def __init__(self, hyper: HyperLatentCodec, y: LatentCodec, legacy: bool = False):
        super().__init__()
        self.hyper, self.y = hyper, y
        self.multiple = math.lcm(hyper.multiple, y.multiple)
        self.groups = y.groups + 1
        # the models before the seam held h_a, h_s, the z bottleneck and the conditional at top level
        self.legacy_prefixes = {"hyper.z.": "", "hyper.": "", "y.": ""} if legacy else {}

    def forward(self, y: Tensor) -> dict[str, Any]:
        params, z_likelihoods = self.hyper(y)
        y_hat, likelihoods = self.y(y, params)
        return {"y_hat": y_hat, "likelihoods": {**likelihoods, "z": z_likelihoods}}

    def compress(self, y: Tensor, portable: bool = True) -> list[list[bytes]]:
        z_strings, params, _ = self.hyper.compress(y, portable)
        return [*self.y.compress(y, params, portable), z_strings]

    def decode(
        self, strings: list[list[bytes]], shape: Sequence[int], portable: bool = True
    ) -> dict[str, Tensor]:
        """``{"y_hat", "y", "indexes", "z"}``: ŷ and the integers it is decoded from."""
        params, z_symbols = self.hyper.decode(strings[-1], shape, portable)
        return {**self.y.decode(strings[:-1], shape, params, portable), "z": z_symbols}


@register_latent_codec("factorized")
def _factorized(latent: int, hyper: int) -> LatentCodec:
    return FactorizedLatentCodec(latent)


@register_latent_codec("hyperprior")
def _scale_hyperprior(latent: int, hyper: int) -> LatentCodec:
    """Ballé et al. 2018: zero-mean Gaussians whose scales h_s(ẑ) gives, z from |y|."""
    return HyperpriorLatentCodec(
        HyperLatentCodec("hyperprior", latent, hyper),
        GaussianConditionalLatentCodec(means=False),
        legacy=True,
    )


@register_latent_codec("meanscale")
def _mean_scale_hyperprior(latent: int, hyper: int) -> LatentCodec:
    """Minnen et al. 2018: h_s(ẑ) gives each Gaussian's mean and scale."""
    return HyperpriorLatentCodec(
        HyperLatentCodec("meanscale", latent, hyper), GaussianConditionalLatentCodec(means=True), legacy=True
    )
