"""The SAR codec: a convolutional autoencoder with attention at configurable placements.

    x [1, H, W] ─ g_a: 4 × (conv s2) ─▶ y [N, H/16, W/16] ─ quantise + EntropyBottleneck ─▶ bytes
    bytes ─ entropy decode ─▶ ŷ ─ g_s: 4 × (deconv s2), sigmoid ─▶ x̂ [1, H, W]

Attention placements (``attention.placement``):
  - ``bottleneck``: on y before quantisation and on ŷ before the first decoder block;
  - ``encoder``: after each encoder block but the last (the one producing y);
  - ``decoder``: after each decoder block but the output block;
  - ``everywhere``: all of the above; ``none``: no attention (the V0 baseline).

The contract is CompressAI's: ``forward(x) -> {"x_hat", "likelihoods"}``,
``compress(x) -> {"strings", "shape"}``, ``decompress(strings, shape) -> {"x_hat"}``;
call ``update()`` once after training and before compressing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.models import CompressionModel
from torch import Tensor, nn

from sarcomp.models.attention import build_attention, check_attention_name
from sarcomp.models.blocks import down_block, up_block

PLACEMENTS: tuple[str, ...] = ("none", "bottleneck", "encoder", "decoder", "everywhere")
DISTORTIONS: tuple[str, ...] = ("mse", "ms-ssim", "mix")
STRIDE = 16  # total downsampling of g_a: tiles must be multiples of this


class SARCodec(CompressionModel):
    """Factorised-prior autoencoder codec for single-channel SAR tiles in [0, 1].

    ``lmbda`` and ``distortion`` are the rate-distortion operating point the codec is trained
    for; they live here so a saved model carries its own RD label.
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 128, 256),
        latent_channels: int = 192,
        attention: Mapping[str, Any] | None = None,
        lmbda: float = 0.01,
        distortion: str = "mse",
        in_channels: int = 1,
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

        self.g_a = nn.Sequential(*encoder)
        self.g_s = nn.Sequential(*decoder)
        self.entropy_bottleneck = EntropyBottleneck(latent_channels)
        self.attention_type, self.placement = kind, placement
        self.lmbda, self.distortion = float(lmbda), distortion

    def attention_modules(self) -> dict[str, nn.Module]:
        """Attention modules by qualified name (for hooks: attention maps, Grad-CAM)."""
        blocks = (nn.Sequential, EntropyBottleneck, nn.Sigmoid)
        return {
            name: m
            for name, m in self.named_modules()
            if name.count(".") == 1 and name.startswith(("g_a.", "g_s.")) and not isinstance(m, blocks)
        }

    def forward(self, x: Tensor) -> dict[str, Any]:
        y = self.g_a(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            y_hat, y_likelihoods = self.entropy_bottleneck(y.float())
        x_hat = self.g_s(y_hat.to(y.dtype))
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods}}

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        _check_size(x)
        y = self.g_a(x).float()
        strings = self.entropy_bottleneck.compress(y)
        return {"strings": [strings], "shape": tuple(y.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Sequence[int]) -> dict[str, Tensor]:
        y_hat = self.entropy_bottleneck.decompress(strings[0], tuple(shape))
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1)}


def _check_size(x: Tensor) -> None:
    if x.shape[-1] % STRIDE or x.shape[-2] % STRIDE:
        raise ValueError(f"tile {tuple(x.shape[-2:])} is not a multiple of {STRIDE}; pad it first")
