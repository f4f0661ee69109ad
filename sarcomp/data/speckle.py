"""Multiplicative SAR speckle: Gamma-distributed with ``L`` looks, optionally spatially correlated.

Stage 2 of :mod:`sarcomp.data.synthetic`: ``I = R * n`` with ``n ~ Gamma(shape=L, scale=1/L)``
(mean 1, variance 1/L).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SPECKLE_CORRELATION = 0.85  # px; gives lag-1 intensity correlation ~0.5 as in S1 GRD


def speckle_kernel(correlation: float) -> np.ndarray:
    """The unit-energy Gaussian kernel (std ``correlation`` px) that correlates each look."""
    r = max(1, int(4.0 * correlation + 0.5))
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / correlation) ** 2)
    return (w / np.sqrt((w**2).sum())).astype(np.float32)  # unit energy: keeps unit variance


def apply_speckle(
    rng: np.random.Generator, reflectivity: np.ndarray, looks: int, correlation: float = 0.0
) -> np.ndarray:
    """Multiplicative speckle: ``R * n`` with ``n ~ Gamma(L, 1/L)`` marginally (mean 1, var 1/L).

    ``correlation = 0`` draws independent Gamma samples per pixel.  Otherwise
    each look is ``|h * w|²`` of a circular complex white Gaussian ``w`` filtered
    by a unit-energy Gaussian kernel of std ``correlation`` px (the band-limited
    impulse response of an oversampled SAR product); the average of ``L`` such
    looks is exactly Gamma(L, 1/L) distributed, but spatially correlated like
    real Sentinel-1 GRD speckle.
    """
    looks = int(looks)
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    shape = np.shape(reflectivity)
    if correlation <= 0:
        n = rng.gamma(float(looks), 1.0 / looks, size=shape).astype(np.float32)
    else:
        k = speckle_kernel(float(correlation))
        n = np.zeros(shape, np.float32)
        for _ in range(2 * looks):  # real and imaginary parts of each look
            g = rng.standard_normal(shape, dtype=np.float32)
            for ax in range(len(shape)):
                g = ndimage.convolve1d(g, k, axis=ax, mode="wrap")
            n += g * g
        n *= np.float32(0.5 / looks)
    out = (np.asarray(reflectivity, np.float32) * n).astype(np.float32)
    # float32 underflow guard: keep intensities strictly positive
    return np.maximum(out, np.float32(np.finfo(np.float32).tiny))
