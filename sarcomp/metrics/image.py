"""Image-quality metrics on [0, 1] tiles, honouring validity masks.

All functions take tensors [N, C, H, W] (``mask`` bool, True = valid, [N, C, H, W] or [N, 1, H, W])
and return one value per image (SSIM: the mean of each channel's SSIM). PSNR and SSIM use only
valid pixels (SSIM averages its map over the windows that lie entirely on valid pixels). MS-SSIM
(pytorch-msssim) needs images larger than 160 px on each side and no masked pixels; otherwise it
is N/A (NaN), never a silently wrong value.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as _ms_ssim
from torch import Tensor

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
MS_SSIM_MIN_SIDE = (SSIM_WINDOW - 1) * 2**4 + 1  # five scales of an 11-tap window


def _all_valid(x: Tensor, mask: Tensor | None) -> Tensor:
    return torch.ones_like(x, dtype=torch.bool) if mask is None else mask.bool()


def mse(x: Tensor, x_hat: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over valid pixels, per image."""
    m = _all_valid(x, mask).expand_as(x).to(x.dtype)
    err = (x.float() - x_hat.float()) ** 2 * m
    return err.flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)


def psnr(x: Tensor, x_hat: Tensor, mask: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB, per image."""
    return 10 * torch.log10(data_range**2 / mse(x, x_hat, mask).clamp_min(1e-12))


def _gaussian_window(device: torch.device) -> Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _blur(x: Tensor, g: Tensor) -> Tensor:
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    return F.conv2d(x, g.view(1, 1, -1, 1))


def ssim(x: Tensor, x_hat: Tensor, mask: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Structural similarity (Gaussian 11×11, σ = 1.5), mean over fully valid windows, per image."""
    n, c = x.shape[:2]
    if c > 1:  # each channel on its own, then their mean
        m = None if mask is None else mask.expand_as(x).reshape(n * c, 1, *x.shape[-2:])
        flat = ssim(x.reshape(n * c, 1, *x.shape[-2:]), x_hat.reshape(n * c, 1, *x.shape[-2:]), m, data_range)
        return flat.view(n, c).mean(1)
    x, x_hat = x.float(), x_hat.float()
    if min(x.shape[-2:]) < SSIM_WINDOW:
        return torch.full((x.shape[0],), math.nan, device=x.device)
    g = _gaussian_window(x.device)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _blur(x, g), _blur(x_hat, g)
    var_x = _blur(x * x, g) - mu_x**2
    var_y = _blur(x_hat * x_hat, g) - mu_y**2
    cov = _blur(x * x_hat, g) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    ones = torch.ones(1, 1, SSIM_WINDOW, SSIM_WINDOW, device=x.device)
    full = F.conv2d((~_all_valid(x, mask)).float(), ones) == 0
    counts = full.flatten(1).sum(1)
    means = (ssim_map * full).flatten(1).sum(1) / counts.clamp_min(1)
    return torch.where(counts > 0, means, torch.full_like(means, math.nan))


def ms_ssim(x: Tensor, x_hat: Tensor, mask: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Multi-scale SSIM (pytorch-msssim), NaN where the image is too small or has masked pixels."""
    out = torch.full((x.shape[0],), math.nan, device=x.device)
    if min(x.shape[-2:]) < MS_SSIM_MIN_SIDE:
        return out
    ok = _all_valid(x, mask).flatten(1).all(1)
    if ok.any():
        out[ok] = _ms_ssim(x[ok].float(), x_hat[ok].float(), data_range=data_range, size_average=False)
    return out
