"""Rate-distortion loss: λ·D + R, with R in bits per pixel from the entropy model's likelihoods.

Distortions share one scale so the same λ grid works for each (CompressAI's convention for MSE):
``mse``: D = 255²·MSE; ``ms-ssim``: D = MSSSIM_SCALE·(1 − MS-SSIM); ``mix``: their mean.
Masked pixels (nodata, padding) never enter D; R counts every coded latent.
"""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim
from torch import Tensor, nn

from sarcomp.metrics import mse

MSE_SCALE = 255.0**2
MSSSIM_SCALE = 1300.0  # ratio of CompressAI's MS-SSIM and MSE λ tables: same λ, similar rates


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Estimated rate of a batch: Σ −log2 p over all latents, divided by the batch's pixels."""
    bits = sum(-torch.log2(lik.float()).sum() for lik in likelihoods.values())
    return bits / num_pixels


class RateDistortionLoss(nn.Module):
    """λ·D + bpp; returns the parts too (``loss``, ``bpp``, ``mse``, ``distortion``)."""

    def __init__(self, lmbda: float, distortion: str = "mse"):
        super().__init__()
        self.lmbda, self.distortion = lmbda, distortion

    def forward(
        self, out: dict, x: Tensor, mask: Tensor | None = None, lmbda: float | None = None
    ) -> dict[str, Tensor]:
        """``lmbda`` overrides the configured λ (a variable-rate model's step)."""
        x_hat = out["x_hat"].float()
        n, _, h, w = x.shape
        bpp = bits_per_pixel(out["likelihoods"], n * h * w)
        err = mse(x, x_hat, mask).mean()
        parts = []
        if self.distortion in ("mse", "mix"):
            parts.append(MSE_SCALE * err)
        if self.distortion in ("ms-ssim", "mix"):
            filled = x_hat if mask is None else torch.where(mask, x_hat, x)
            parts.append(MSSSIM_SCALE * (1 - ms_ssim(x.float(), filled, data_range=1.0)))
        distortion = sum(parts) / len(parts)
        lmbda = self.lmbda if lmbda is None else lmbda
        return {"loss": lmbda * distortion + bpp, "bpp": bpp, "mse": err, "distortion": distortion}
