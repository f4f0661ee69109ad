"""Metrics shared by training and evaluation: image quality and SAR fidelity."""

from sarcomp.metrics.image import ms_ssim, mse, psnr, ssim

__all__ = ["ms_ssim", "mse", "psnr", "ssim"]
