"""The SAR codec: a convolutional autoencoder with attention at configurable placements.

    x [1, H, W] ─ g_a: n × (conv s2) ─▶ y [M, H/s, W/s] ─ quantise + entropy model ─▶ bytes
    bytes ─ entropy decode ─▶ ŷ ─ g_s: n × (deconv s2), sigmoid ─▶ x̂ [1, H, W]

with n = len(channels) + 1 blocks and stride s = 2**n (``model.stride``: 16 for the default three
widths). M / s² latent values per pixel bound what the codec can represent: speckle is close to
white noise, so a high-rate codec needs more of them (fewer blocks or a wider latent).

Entropy models (``entropy``, see :mod:`sarcomp.models.entropy`):
  - ``factorized``: one learned density per channel of y (``EntropyBottleneck``), the V0 codec;
  - ``hyperprior``: a side latent z = h_a(|y|) with its own bottleneck; h_s(ẑ) gives the scale
    of a zero-mean Gaussian per element of y (``GaussianConditional``);
  - ``meanscale``: as ``hyperprior``, h_a(y), and h_s(ẑ) gives each Gaussian's mean and scale.
With a hyperprior ``compress`` returns two string lists, ``[y_strings, z_strings]``.

Variable rate (``lmbdas``: the λ values one model is trained for): gain units scale y per
channel before quantisation and back after (:class:`sarcomp.models.entropy.GainUnits`);
``forward``/``compress``/``decompress`` take ``lmbda=`` (default: the model's ``lmbda``).

Attention placements (``attention.placement``):
  - ``bottleneck``: on y before quantisation and on ŷ before the first decoder block;
  - ``encoder``: after each encoder block but the last (the one producing y);
  - ``decoder``: after each decoder block but the output block;
  - ``everywhere``: all of the above; ``none``: no attention (the V0 baseline).

The contract is CompressAI's: ``forward(x) -> {"x_hat", "likelihoods"}``,
``compress(x) -> {"strings", "shape"}``, ``decompress(strings, shape) -> {"x_hat"}``;
call ``update()`` once after training and before compressing.

Coding is *portable* by default (``.sarc`` version 2, :mod:`sarcomp.models.portable`): the coder's
tables are built bit-identically on every machine and a hyperprior's h_s, whose output selects
them, runs as an exact integer network. ``portable=False`` is the float path of version-1 files:
CompressAI's ``update()`` tables and the float h_s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.models import CompressionModel
from torch import Tensor, nn
from torch.profiler import record_function

from sarcomp.models.attention import build_attention, check_attention_name
from sarcomp.models.blocks import down_block, run_channels_last, up_block
from sarcomp.models.entropy import (
    ENTROPY_MODELS,
    GainUnits,
    TableEntropyBottleneck,
    TableGaussianConditional,
    hyper_analysis,
    hyper_shape,
    hyper_synthesis,
    pad_for_hyper,
)
from sarcomp.models.portable import PortableCoding

PLACEMENTS: tuple[str, ...] = ("none", "bottleneck", "encoder", "decoder", "everywhere")
DISTORTIONS: tuple[str, ...] = ("mse", "ms-ssim", "mix")
CODING_STAGES: tuple[str, ...] = ("g_a", "h_a", "z coding", "h_s", "indexes", "y coding", "g_s")
STAGE_PREFIX = "sarcomp.codec::"


def stride_of(channels: Sequence[int]) -> int:
    """Total downsampling of g_a, what tile sides must be a multiple of: one stride-2 block per
    width plus the latent block (``[64, 128, 256]`` -> 16). A built model says it as ``model.stride``."""
    return 2 ** (len(channels) + 1)


class SARCodec(CompressionModel):
    """Autoencoder codec for single-channel SAR tiles in [0, 1] (see module docstring).

    ``lmbda`` and ``distortion`` are the rate-distortion operating point the codec is trained
    for; they live here so a saved model carries its own RD label. With ``lmbdas`` (variable
    rate), ``lmbda`` is the default operating point and may be any value in their range.
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 128, 256),
        latent_channels: int = 192,
        attention: Mapping[str, Any] | None = None,
        lmbda: float = 0.01,
        distortion: str = "mse",
        in_channels: int = 1,
        entropy: str = "factorized",
        hyper_channels: int | None = None,
        lmbdas: Sequence[float] | None = None,
    ):
        super().__init__()
        attention = dict(attention or {})
        kind = attention.get("type", "none")
        placement = attention.get("placement", "none")
        kwargs = dict(attention.get("kwargs") or {})
        try:
            check_attention_name(kind)  # the one check of the names, before anything is built
        except ValueError as exc:
            raise ValueError(f"attention.type: {exc}") from None
        if placement not in PLACEMENTS:
            raise ValueError(
                f"attention.placement: unknown placement {placement!r}; valid: {', '.join(PLACEMENTS)}"
            )
        if distortion not in DISTORTIONS:
            raise ValueError(
                f"distortion: unknown distortion {distortion!r}; valid: {', '.join(DISTORTIONS)}"
            )
        if entropy not in ENTROPY_MODELS:
            raise ValueError(
                f"entropy: unknown entropy model {entropy!r}; valid: {', '.join(ENTROPY_MODELS)}"
            )
        if kind == "none":
            placement = "none"
        at = {
            "encoder": placement in ("encoder", "everywhere"),
            "bottleneck": placement in ("bottleneck", "everywhere"),
            "decoder": placement in ("decoder", "everywhere"),
        }

        def attend(where: str, width: int) -> list[nn.Module]:
            return [build_attention(kind, width, **kwargs)] if at[where] else []

        widths = [in_channels, *channels]
        encoder: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            encoder += [down_block(c_in, c_out), *attend("encoder", c_out)]
        encoder += [
            down_block(widths[-1], latent_channels, activation=False),
            *attend("bottleneck", latent_channels),
        ]

        decoder: list[nn.Module] = [*attend("bottleneck", latent_channels)]
        rev = [latent_channels, *reversed(channels)]
        for c_in, c_out in zip(rev[:-1], rev[1:]):
            decoder += [up_block(c_in, c_out), *attend("decoder", c_out)]
        decoder += [up_block(rev[-1], in_channels, activation=False), nn.Sigmoid()]

        self.stride = stride_of(channels)
        self.g_a = nn.Sequential(*encoder)
        self.g_s = nn.Sequential(*decoder)
        self.entropy = entropy
        if entropy == "factorized":
            self.entropy_bottleneck = TableEntropyBottleneck(latent_channels)
        else:
            hyper = int(hyper_channels or latent_channels)
            self.h_a = hyper_analysis(entropy, latent_channels, hyper)
            self.h_s = hyper_synthesis(entropy, latent_channels, hyper)
            self.entropy_bottleneck = TableEntropyBottleneck(hyper)
            self.gaussian_conditional = TableGaussianConditional(None)  # scale table set by update()
        self.gain = GainUnits(lmbdas, latent_channels) if lmbdas else None
        self.lmbdas = self.gain.lmbdas if self.gain else ()
        self.attention_type, self.placement = kind, placement
        self.lmbda, self.distortion = float(lmbda), distortion
        if self.gain:
            self.gain.interpolation(self.lmbda)  # the default operating point must be in range
        self.portable = PortableCoding(self)

    def update(
        self, scale_table: Tensor | None = None, force: bool = False, update_quantiles: bool = False
    ) -> bool:
        """CompressAI's ``update()`` (the float path's tables); the portable coding state is
        derived again from the current weights on its next use."""
        self.portable = PortableCoding(self)
        return super().update(scale_table, force, update_quantiles)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """CompressAI's (its buffers resized to the state's); the portable state is derived anew."""
        self.portable = PortableCoding(self)
        return super().load_state_dict(state_dict, strict=strict)

    def set_lmbda(self, lmbda: float) -> None:
        """Choose the operating point of a variable-rate model (any λ in its trained range)."""
        if not self.gain:
            if float(lmbda) != self.lmbda:
                raise ValueError(
                    f"a fixed-rate model codes at its trained lmbda={self.lmbda:g} only, not {lmbda:g} "
                    "(a variable-rate model is one trained with model.lmbdas)"
                )
            return
        self.gain.interpolation(float(lmbda))
        self.lmbda = float(lmbda)

    def attention_modules(self) -> dict[str, nn.Module]:
        """Attention modules by qualified name (for hooks: attention maps, Grad-CAM)."""
        blocks = (nn.Sequential, EntropyBottleneck, nn.Sigmoid)
        return {
            name: m
            for name, m in self.named_modules()
            if name.count(".") == 1 and name.startswith(("g_a.", "g_s.")) and not isinstance(m, blocks)
        }

    def forward(self, x: Tensor, lmbda: float | None = None) -> dict[str, Any]:
        y = self.g_a(x)
        dtype = y.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):  # entropy model in fp32
            y = self._gain(y.float(), lmbda)
            if self.entropy == "factorized":
                y_hat, y_likelihoods = self.entropy_bottleneck(y)
                likelihoods = {"y": y_likelihoods}
            else:
                z_hat, z_likelihoods = self.entropy_bottleneck(self.h_a(self._hyper_input(y)))
                scales, means = self._gaussian_params(z_hat, y.shape)
                y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
                likelihoods = {"y": y_likelihoods, "z": z_likelihoods}
            y_hat = self._inverse_gain(y_hat, lmbda)
        x_hat = self.g_s(y_hat.to(dtype))
        return {"x_hat": x_hat, "likelihoods": likelihoods}

    @torch.no_grad()
    def compress(self, x: Tensor, lmbda: float | None = None, portable: bool = True) -> dict[str, Any]:
        """``{"strings": [y_strings] or [y_strings, z_strings], "shape": y's (H, W)}``."""
        _check_size(x, self.stride)
        with coding_stage("g_a"):
            y = self._gain(self.g_a(x).float(), lmbda)
        shape = tuple(y.shape[-2:])
        z_tables, y_tables = self.portable.tables(y.device) if portable else (None, None)
        if self.entropy == "factorized":
            with coding_stage("y coding"):
                return {"strings": [self.entropy_bottleneck.compress(y, z_tables)], "shape": shape}
        with coding_stage("h_a"):
            z = self.h_a(self._hyper_input(y))
        with coding_stage("z coding"):
            z_strings = self.entropy_bottleneck.compress(z, z_tables)
            z_symbols, z_hat = self.entropy_bottleneck.decode(z_strings, tuple(z.shape[-2:]), z_tables)
        indexes, means = self._indexes(z_symbols, z_hat, shape, portable)
        with coding_stage("y coding"):
            y_strings = self.gaussian_conditional.compress(y, indexes, means, y_tables)
        return {"strings": [y_strings, z_strings], "shape": shape}

    @torch.no_grad()
    def decompress(
        self,
        strings: list[list[bytes]],
        shape: Sequence[int],
        lmbda: float | None = None,
        portable: bool = True,
    ) -> dict[str, Tensor]:
        """``{"x_hat"}`` from :meth:`compress`'s strings, coded with the same ``portable``."""
        y_hat = self.decode_latent(strings, shape, portable)["y_hat"]
        with coding_stage("g_s"):
            x_hat = run_channels_last(self.g_s, self._inverse_gain(y_hat, lmbda))  # faster, same map
        return {"x_hat": x_hat.clamp_(0, 1)}

    @torch.no_grad()
    def decode_latent(
        self, strings: list[list[bytes]], shape: Sequence[int], portable: bool = True
    ) -> dict[str, Tensor]:
        """ŷ (before a variable-rate model's inverse gain) and the integers it is decoded from:
        ``{"y_hat", "y"}`` (y's symbols), with a hyperprior also ``"z"`` (z's symbols) and
        ``"indexes"`` (y's scale-table indexes)."""
        expected = 1 if self.entropy == "factorized" else 2
        if len(strings) != expected:
            raise ValueError(f"{self.entropy} codec needs {expected} string list(s), got {len(strings)}")
        shape = tuple(int(s) for s in shape)
        device = self.entropy_bottleneck.quantiles.device
        z_tables, y_tables = self.portable.tables(device) if portable else (None, None)
        if self.entropy == "factorized":
            with coding_stage("y coding"):
                symbols, y_hat = self.entropy_bottleneck.decode(strings[0], shape, z_tables)
            return {"y_hat": y_hat, "y": symbols}
        with coding_stage("z coding"):
            z_symbols, z_hat = self.entropy_bottleneck.decode(strings[1], hyper_shape(shape), z_tables)
        indexes, means = self._indexes(z_symbols, z_hat, shape, portable)
        with coding_stage("y coding"):
            gc = self.gaussian_conditional
            symbols = gc.decode_symbols(strings[0], indexes, y_tables)
            y_hat = gc.dequantize(symbols.to(device), None if means is None else means.to(z_hat), z_hat.dtype)
        return {"y_hat": y_hat, "y": symbols, "z": z_symbols, "indexes": indexes}

    def _indexes(
        self, z_symbols: Tensor, z_hat: Tensor, shape: tuple[int, int], portable: bool
    ) -> tuple[Tensor, Tensor | None]:
        """y's scale-table indexes and means: the integer h_s on z's symbols and the prior's
        medians (portable), or the float h_s on ẑ."""
        if portable:
            network = self.portable.network()
            with coding_stage("h_s"):
                values = network.outputs(z_symbols, self.entropy_bottleneck.quantiles[:, 0, 1], shape)
            with coding_stage("indexes"):
                return network.indexes(values)
        with coding_stage("h_s"):
            scales, means = self._gaussian_params(z_hat, shape)
        with coding_stage("indexes"):
            return self.gaussian_conditional.build_indexes(scales), means

    def _hyper_input(self, y: Tensor) -> Tensor:
        return pad_for_hyper(y.abs() if self.entropy == "hyperprior" else y)

    def _gaussian_params(self, z_hat: Tensor, y_shape: Sequence[int]) -> tuple[Tensor, Tensor | None]:
        """Scales (and means, for ``meanscale``) of y's Gaussians, cut to y's size."""
        params = self.h_s(z_hat)[..., : y_shape[-2], : y_shape[-1]]
        if self.entropy == "hyperprior":
            return params, None
        scales, means = params.chunk(2, dim=1)
        return scales, means

    def _gain(self, y: Tensor, lmbda: float | None) -> Tensor:
        return y * self.gain.gain(self.lmbda if lmbda is None else lmbda) if self.gain else y

    def _inverse_gain(self, y_hat: Tensor, lmbda: float | None) -> Tensor:
        return y_hat * self.gain.inverse_gain(self.lmbda if lmbda is None else lmbda) if self.gain else y_hat


def coding_stage(name: str) -> record_function:
    """A ``torch.profiler`` range around one stage of ``compress`` / ``decompress``
    (:data:`CODING_STAGES`), so a profile says where coding time goes (``scripts/benchmark.py``);
    a few microseconds when no profiler runs."""
    return record_function(f"{STAGE_PREFIX}{name}")


def _check_size(x: Tensor, stride: int) -> None:
    if x.shape[-1] % stride or x.shape[-2] % stride:
        raise ValueError(f"tile {tuple(x.shape[-2:])} is not a multiple of {stride}; pad it first")
