"""The fast codec family (issue 27, part 3): a shallow synthesis and a light hyper-synthesis.

A :class:`~sarcomp.models.autoencoder.SARCodec` keeps its analysis g_a (stride-2 GDN blocks, one
per width plus the latent one) and its mean-scale hyperprior h_a; two transforms change:

- **g_s, shallow** (after Yang & Mandt, ICCV 2023, "Computationally-efficient neural image
  compression with shallow decoders"): one 5×5 stride-2 transposed convolution from ŷ to the last
  analysis width, inverse GDN, then a single 3×3 convolution to ``(stride/2)²`` phases and a pixel
  shuffle back to full resolution, sigmoid. Full-resolution layers are what make a deep synthesis
  expensive per pixel; here no layer but the shuffle runs above 1/(stride/2) of the resolution.
- **h_s, light**: two 5×5 stride-2 transposed convolutions (hyper → hyper → latent, LeakyReLU) and
  a 1×1 convolution to the means and scales, where the default h_s ends in a 3×3 convolution from
  1.5 × latent channels, which at stride 8 alone costs more than this whole codec's budget.

Counted by :func:`sarcomp.models.complexity.count_macs` the ``fast_cpu`` experiment's model
(``configs/experiment/fast_cpu.yaml``) costs under 5 kMAC per pixel end to end (g_a + h_a + h_s +
g_s), against about 24 kMAC for the shipped stride-8 models. Everything else (coding, the integer
h_s of portable files, variable rate) is the parent's: the light h_s is again convolutions and
LeakyReLUs, what :mod:`sarcomp.models.intnet` turns into an exact integer network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from compressai.layers import GDN
from torch import nn

from sarcomp.models.autoencoder import SARCodec

SUBPIXEL_KERNEL = 3


def _deconv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    """5×5 stride-2 transposed convolution (the codec's ×2 up-sampling)."""
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)


def shallow_synthesis(latent: int, width: int, stride: int, out_channels: int = 1) -> nn.Sequential:
    """ŷ [latent, H/s, W/s] → x̂ [out, H, W]: transposed conv ×2 + inverse GDN, then a 3×3 conv to
    ``out · (s/2)²`` channels and a pixel shuffle by s/2, sigmoid. Blocks are ``nn.Sequential`` so
    that :func:`sarcomp.models.blocks.run_channels_last` lays them out as the deep g_s."""
    if stride < 4 or stride & (stride - 1):
        raise ValueError(f"stride: the shallow synthesis needs a power of two >= 4, got {stride}")
    shuffle = stride // 2
    return nn.Sequential(
        nn.Sequential(_deconv(latent, width), GDN(width, inverse=True)),
        nn.Sequential(
            nn.Conv2d(width, out_channels * shuffle**2, SUBPIXEL_KERNEL, padding=SUBPIXEL_KERNEL // 2),
            nn.PixelShuffle(shuffle),
        ),
        nn.Sigmoid(),
    )


def light_hyper_synthesis(latent: int, hyper: int) -> nn.Sequential:
    """h_s of the mean-scale hyperprior: ẑ [hyper] → means and scales [2 · latent] at 4× ẑ's size."""
    return nn.Sequential(
        _deconv(hyper, hyper),
        nn.LeakyReLU(),
        _deconv(hyper, latent),
        nn.LeakyReLU(),
        nn.Conv2d(latent, 2 * latent, 1),
    )


class ShallowSARCodec(SARCodec):
    """A :class:`SARCodec` with :func:`shallow_synthesis` as g_s and :func:`light_hyper_synthesis`
    as h_s (mean-scale hyperprior, no attention); the other arguments are the parent's."""

    def __init__(
        self,
        channels: Sequence[int] = (16, 32),
        latent_channels: int = 64,
        attention: Mapping[str, Any] | None = None,
        entropy: str = "meanscale",
        hyper_channels: int | None = 32,
        in_channels: int = 1,
        **kwargs: Any,
    ):
        if (attention or {}).get("type", "none") != "none":
            raise ValueError("attention.type: the shallow codec has no attention placements (none only)")
        if entropy != "meanscale":
            raise ValueError(f"entropy: the shallow codec is a mean-scale hyperprior, not {entropy!r}")
        super().__init__(
            channels=channels,
            latent_channels=latent_channels,
            attention=attention,
            entropy=entropy,
            hyper_channels=hyper_channels,
            in_channels=in_channels,
            **kwargs,
        )
        hyper = int(hyper_channels or latent_channels)
        self.g_s = shallow_synthesis(latent_channels, channels[-1], self.stride, in_channels)
        self.latent_codec.hyper.h_s = light_hyper_synthesis(latent_channels, hyper)
