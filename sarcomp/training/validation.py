"""One validation pass: the R-D loss, rate per latent, PSNR and SSIM summed over the validation
tiles (this rank's share; the trainer all-reduces and divides). SSIM is N/A on a tile with no
11×11 window of valid pixels (a sliver of a small scene): it is summed and counted only where it
is defined, never as 0."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from sarcomp.metrics import psnr, ssim
from sarcomp.training.loss import bits_per_pixel
from sarcomp.training.step import TrainStep


@torch.no_grad()
def validation_sums(
    model: nn.Module, loader: DataLoader, step: TrainStep, lmbda: float | None
) -> tuple[dict[str, float], dict[str, int], tuple[torch.Tensor, torch.Tensor] | None]:
    """(sums per metric, tiles counted per metric, the first four tiles and their reconstructions)
    at one rate (``None``: the model's own λ)."""
    rate = {} if lmbda is None else {"lmbda": lmbda}
    sums = {"loss": 0.0, "bpp": 0.0, "psnr": 0.0, "ssim": 0.0}
    rates: dict[str, float] = {}  # per latent the model reports (y, and z with a hyperprior)
    count, ssim_count, first = 0, 0, None
    for batch in loader:
        x, mask = step.to_device(batch)
        with step.autocast():
            out = model(x, **rate)
        parts = step.loss_fn(out, x, mask, **rate)
        n = x.shape[0]
        x_hat = out["x_hat"].float().clamp(0, 1)
        sums["loss"] += float(parts["loss"]) * n
        sums["bpp"] += float(parts["bpp"]) * n
        for name, likelihoods in out["likelihoods"].items():
            bits = float(bits_per_pixel({name: likelihoods}, x.numel())) * n
            rates[f"bpp_{name}"] = rates.get(f"bpp_{name}", 0.0) + bits
        sums["psnr"] += float(psnr(x, x_hat, mask).sum())
        tile_ssim = ssim(x, x_hat, mask)
        sums["ssim"] += float(torch.nan_to_num(tile_ssim).sum())
        ssim_count += int(torch.isfinite(tile_ssim).sum())
        count += n
        first = first or (x[:4].float().cpu(), x_hat[:4].cpu())
    sums = {"loss": sums["loss"], "bpp": sums["bpp"], **rates, "psnr": sums["psnr"], "ssim": sums["ssim"]}
    return sums, {k: ssim_count if k == "ssim" else count for k in sums}, first


def viewable(tiles: torch.Tensor) -> torch.Tensor:
    """Tiles [N, C, H, W] as TensorBoard images: one or three channels as they are, else the first
    channel (of complex tiles: the in-phase part, or the amplitude level of ``logpolar``)."""
    return tiles if tiles.shape[1] in (1, 3) else tiles[:, :1]
