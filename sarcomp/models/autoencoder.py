"""The SAR codec: a convolutional autoencoder with attention at configurable placements.

    x [1, H, W] ─ g_a: n × (conv s2) ─▶ y [M, H/s, W/s] ─ gain ─ latent codec ─▶ bytes
    bytes ─ latent codec ─▶ ŷ ─ inverse gain ─ g_s: n × (deconv s2), sigmoid ─▶ x̂ [1, H, W]

with n = len(channels) + 1 blocks and stride s = 2**n (``model.stride``: 16 for the default three
widths). M / s² latent values per pixel bound what the codec can represent: speckle is close to
white noise, so a high-rate codec needs more of them (fewer blocks or a wider latent).

Entropy models (``entropy``): the latent codec of that name in
:data:`sarcomp.models.latent_codecs.LATENT_CODECS`, which codes y (and pads it as it needs):
  - ``factorized``: one learned density per channel of y (``EntropyBottleneck``), the V0 codec;
  - ``hyperprior``: a side latent z = h_a(|y|) with its own bottleneck; h_s(ẑ) gives the scale
    of a zero-mean Gaussian per element of y (``GaussianConditional``);
  - ``meanscale``: as ``hyperprior``, h_a(y), and h_s(ẑ) gives each Gaussian's mean and scale;
  - ``checkerboard``: ``meanscale`` plus a two-pass spatial context (:mod:`sarcomp.models.checkerboard`);
  - ``elic``: ``meanscale`` with uneven channel groups, a checkerboard in each
    (:mod:`sarcomp.models.channel_groups`).
``compress`` returns the latent codec's string lists, y's first (``[y_strings, z_strings]`` with a
hyperprior). Weights saved before the latent codec existed (``h_a.*``, ``entropy_bottleneck.*``)
load through :meth:`SARCodec.load_state_dict`, and ``model_hash`` reads the old names.

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
tables are built bit-identically on every machine and every network whose output selects them
(a hyperprior's h_s, a context model's networks) runs as an exact integer network.
``portable=False`` is the float path of version-1 files: CompressAI's ``update()`` tables and the
float networks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.models import CompressionModel
from torch import Tensor, nn

from sarcomp.models.attention import build_attention, check_attention_name
from sarcomp.models.blocks import down_block, run_channels_last, up_block
from sarcomp.models.entropy import GainUnits
from sarcomp.models.latent_codecs import CODING_STAGES, LATENT_CODECS, STAGE_PREFIX, coding_stage

PLACEMENTS: tuple[str, ...] = ("none", "bottleneck", "encoder", "decoder", "everywhere")
DISTORTIONS: tuple[str, ...] = ("mse", "ms-ssim", "mix")
LATENT_PREFIX = "latent_codec."
__all__ = ["CODING_STAGES", "PLACEMENTS", "STAGE_PREFIX", "SARCodec", "stride_of"]


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
        if entropy not in LATENT_CODECS:
            raise ValueError(f"entropy: unknown entropy model {entropy!r}; valid: {', '.join(LATENT_CODECS)}")
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
        # built after g_a and g_s: a seed gives the weights it gave before the latent-codec seam
        self.latent_codec = LATENT_CODECS[entropy](latent_channels, int(hyper_channels or latent_channels))
        self.gain = GainUnits(lmbdas, latent_channels) if lmbdas else None
        self.lmbdas = self.gain.lmbdas if self.gain else ()
        self.attention_type, self.placement = kind, placement
        self.lmbda, self.distortion = float(lmbda), distortion
        if self.gain:
            self.gain.interpolation(self.lmbda)  # the default operating point must be in range

    @property
    def tile_multiple(self) -> int:
        """Tile sides coded without padding y inside the latent codec: stride × its multiple."""
        return self.stride * self.latent_codec.multiple

    def update(
        self, scale_table: Tensor | None = None, force: bool = False, update_quantiles: bool = False
    ) -> bool:
        """CompressAI's ``update()`` (the float path's tables); the portable coding state is
        derived again from the current weights on its next use."""
        self.latent_codec.reset_derived()
        return super().update(scale_table, force, update_quantiles)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """CompressAI's (its buffers resized to the state's), from this model's keys or those of a
        model saved before the latent-codec seam (``h_a.*`` for ``latent_codec.hyper.h_a.*``, ...);
        the portable state is derived anew."""
        self.latent_codec.reset_derived()
        if not any(k.startswith(LATENT_PREFIX) for k in state_dict):
            current = {self._legacy_name(k): k for k in self.state_dict()}
            state_dict = {current.get(k, k): v for k, v in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict)

    def identity_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(name, parameter) sorted by name, under the names models had before the latent-codec
        seam where they had one: what ``model_hash`` digests, so existing identities stay."""
        return sorted(
            ((self._legacy_name(n), p) for n, p in self.named_parameters()), key=lambda item: item[0]
        )

    def _legacy_name(self, name: str) -> str:
        if not name.startswith(LATENT_PREFIX):
            return name
        rest = name[len(LATENT_PREFIX) :]
        for prefix in sorted(self.latent_codec.legacy_prefixes, key=len, reverse=True):
            if rest.startswith(prefix):
                return self.latent_codec.legacy_prefixes[prefix] + rest[len(prefix) :]
        return name

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
            out = self.latent_codec(self._gain(y.float(), lmbda))
            y_hat = self._inverse_gain(out["y_hat"], lmbda)
        x_hat = self.g_s(y_hat.to(dtype))
        return {"x_hat": x_hat, "likelihoods": out["likelihoods"]}

    @torch.no_grad()
    def compress(self, x: Tensor, lmbda: float | None = None, portable: bool = True) -> dict[str, Any]:
        """``{"strings": the latent codec's string lists (y's first), "shape": y's (H, W)}``."""
        _check_size(x, self.stride)
        with coding_stage("g_a"):
            y = self._gain(self.g_a(x).float(), lmbda)
        return {"strings": self.latent_codec.compress(y, portable), "shape": tuple(y.shape[-2:])}

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
        expected = self.latent_codec.groups
        if len(strings) != expected:
            raise ValueError(f"{self.entropy} codec needs {expected} string list(s), got {len(strings)}")
        return self.latent_codec.decode(strings, tuple(int(s) for s in shape), portable)

    def _gain(self, y: Tensor, lmbda: float | None) -> Tensor:
        return y * self.gain.gain(self.lmbda if lmbda is None else lmbda) if self.gain else y

    def _inverse_gain(self, y_hat: Tensor, lmbda: float | None) -> Tensor:
        return y_hat * self.gain.inverse_gain(self.lmbda if lmbda is None else lmbda) if self.gain else y_hat


def _check_size(x: Tensor, stride: int) -> None:
    if x.shape[-1] % stride or x.shape[-2] % stride:
        raise ValueError(f"tile {tuple(x.shape[-2:])} is not a multiple of {stride}; pad it first")
