"""Random fields for the synthetic generator: smooth Gaussian noise, fractal (fBm) fields, masks
of a given share, and Gamma texture with exact marginals (:mod:`sarcomp.data.terrain`)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special


def smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``scale`` px.

    Large scales are synthesised on a coarse grid and bilinearly upsampled, so
    the cost stays ~O(size²) whatever the scale.
    """
    f = max(1, int(scale // 3))
    n = max(size // f + 2, 4)
    w = rng.standard_normal((n, n), dtype=np.float32)
    w = ndimage.gaussian_filter(w, scale / f, mode="wrap")
    w = (w - w.mean()) / (w.std() + 1e-12)  # normalised on the coarse grid (cheap)
    return _upsample(w, f, size) if f > 1 else w[:size, :size]


def _upsample(a: np.ndarray, f: int, size: int) -> np.ndarray:
    """Separable bilinear upsampling of a square coarse grid by ``f`` to ``size`` px."""
    n = a.shape[0]
    pos = np.clip((np.arange(size) + 0.5) / f - 0.5, 0, n - 1)
    i0 = np.minimum(pos.astype(np.int64), n - 2)
    w = (pos - i0).astype(np.float32)
    a = a[:, i0] * (1 - w) + a[:, i0 + 1] * w  # columns first, on the small grid
    return a[i0] * (1 - w)[:, None] + a[i0 + 1] * w[:, None]  # contiguous row gathers


def fbm(
    rng: np.random.Generator, size: int, base_scale: float, octaves: int = 4, gain: float = 0.5
) -> np.ndarray:
    """Fractal (multi-octave) unit-std noise: natural-looking shores and forest edges."""
    out = np.zeros((size, size), np.float32)
    amp = 1.0
    for k in range(octaves):
        out += amp * smooth_noise(rng, size, max(base_scale / 2**k, 1.0))
        amp *= gain
    return (out - out.mean()) / (out.std() + 1e-12)


def threshold_fraction(field: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``fraction`` highest values of ``field``."""
    if fraction <= 0:
        return np.zeros(field.shape, bool)
    thr = np.quantile(field[::4, ::4], 1.0 - fraction)
    return field > thr


# Gamma quantile look-up tables: exact Gamma(ν, 1/ν) marginals at ~LUT cost.
_NU_LEVELS = np.array([1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128], np.float64)
_Z_GRID = np.linspace(-6.0, 6.0, 2049)
_GAMMA_LUT = (
    special.gammaincinv(_NU_LEVELS[:, None], special.ndtr(_Z_GRID)[None, :]) / _NU_LEVELS[:, None]
).astype(np.float32)


def gamma_texture(z: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Map a unit Gaussian field ``z`` to Gamma(ν, 1/ν) texture (mean 1, var 1/ν).

    The Gaussian-copula mapping keeps ``z``'s spatial correlation; ``nu`` is
    snapped (in log space) to the nearest tabulated level.
    """
    mids = np.exp(0.5 * (np.log(_NU_LEVELS[1:]) + np.log(_NU_LEVELS[:-1]))).astype(np.float32)
    lev = np.searchsorted(mids, np.asarray(nu, np.float32))
    pos = (np.clip(z, -6.0, 6.0) + np.float32(6.0)) * np.float32((_Z_GRID.size - 1) / 12.0)
    j0 = np.minimum(pos.astype(np.int32), _Z_GRID.size - 2)
    w = pos - j0
    flat = lev.astype(np.int32) * _Z_GRID.size + j0
    lut = _GAMMA_LUT.ravel()
    return np.take(lut, flat) * (1 - w) + np.take(lut, flat + 1) * w
