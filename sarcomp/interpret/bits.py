"""Where the bits go: the per-pixel −log2 likelihood of the latent, beside the error map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def bits_and_error(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """(bits per pixel ``[B, 1, H, W]``, squared error ``[B, 1, H, W]``) from one forward pass.

    Each latent's ``Σ_channels −log2 p`` is spread evenly over the input pixels its position
    covers (nearest upsampling divided by the cell area), summed over the model's latents, so
    the map's mean is the likelihood-estimated bpp.
    """
    out = model(x)
    h, w = x.shape[-2:]
    bits = torch.zeros(x.shape[0], 1, h, w, device=x.device)
    for p in out["likelihoods"].values():
        cell = -torch.log2(p.float()).sum(1, keepdim=True)
        area = (h / p.shape[-2]) * (w / p.shape[-1])
        bits += F.interpolate(cell, size=(h, w), mode="nearest") / area
    err = ((out["x_hat"].float() - x.float()) ** 2).mean(1, keepdim=True)
    return bits, err
