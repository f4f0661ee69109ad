"""Rate floors for speckle in the codec's [0, 1] dB domain (issue 26, "where the floor is").

The codec sees ``Y = clip((10·log10 I − lo) / (hi − lo), 0, 1)``. With multiplicative speckle
``I = R·n``, ``n ~ Gamma(L, 1/L)``, and unclipped pixels, ``Y = c + a·ln n`` with
``a = 10 / (ln 10 · (hi − lo))`` (the Jacobian of the normalisation) and ``c`` set by ``R``:

- ``h(ln n) = ln Γ(L) − L·ψ(L) + L`` nats, ``Var(ln n) = ψ'(L)`` (closed form);
  ``h(Y) = h(ln n)/ln 2 + log2 a`` bits.
- Shannon lower bound (MSE ``D``): ``R(D) ≥ h(Y) − ½·log2(2πe·D)``; Gaussian upper bound
  ``R(D) ≤ ½·log2(σ²/D)``.
- Clipping puts mass on 0 and 1, where ``h`` is −∞. Adding independent ``V ~ N(0, s²)`` keeps a
  valid bound: ``I(Y; Ŷ) ≥ I(Y + V; Ŷ) ≥ h(Y + V) − ½·log2(2πe·(D + s²))`` (data processing),
  with ``h(Y + V)`` computed numerically; the best ``s`` of a grid is kept.
- Independent pixels with known reflectivity (white speckle of a scene): the conditional rate is
  at least the reverse water-filling over the pixels' entropy powers ``Q_i = 2^{2h_i}/(2πe)``.
- Correlated speckle: the Gaussian process with the field's PSD is the hardest to code, so water
  filling over the PSD is an upper bound on R(D) (:func:`reverse_water_filling`). A lower bound
  on the entropy rate conditions each pixel on the complex field's past
  (:func:`correlated_entropy_rate_bound`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

TWO_PI_E = 2 * math.pi * math.e


def log_gamma_entropy(looks: float) -> float:
    """Differential entropy (nats) of ``ln n``, ``n ~ Gamma(L, 1/L)`` (mean 1)."""
    return float(special.gammaln(looks) - looks * special.digamma(looks) + looks)


def log_gamma_variance(looks: float) -> float:
    """Variance of ``ln n`` (trigamma ψ'(L)); ``(10/ln 10)²·ψ'(1)`` is 31.0 dB², σ ≈ 5.57 dB."""
    return float(special.polygamma(1, looks))


def unit_scale(span_db: float) -> float:
    """Units of [0, 1] per neper of intensity: the normalisation's Jacobian ``10/(ln 10·span)``."""
    return 10.0 / (math.log(10.0) * span_db)


def speckle_entropy_bits(looks: float, span_db: float) -> float:
    """``h(Y)`` in bits for unclipped log-speckle in the [0, 1] domain of a ``span_db`` range."""
    return log_gamma_entropy(looks) / math.log(2) + math.log2(unit_scale(span_db))


def shannon_lower_bound(entropy_bits: float, mse: np.ndarray) -> np.ndarray:
    """``max(0, h − ½·log2(2πe·D))`` bits per pixel."""
    return np.maximum(0.0, entropy_bits - 0.5 * np.log2(TWO_PI_E * np.asarray(mse, float)))


def reverse_water_filling(powers: np.ndarray, mse: float, weights: np.ndarray | None = None) -> float:
    """Bits per component of ``Σ w·max(0, ½·log2(P/θ)) / Σ w`` with ``Σ w·min(θ, P) = D·Σ w``.

    ``powers`` are variances (Gaussian upper bound) or entropy powers (lower bound); ``weights``
    count components sharing a power (pixels of a reflectivity bin).
    """
    p = np.asarray(powers, float).ravel()
    w = np.ones_like(p) if weights is None else np.asarray(weights, float).ravel()
    total = w.sum()
    if mse >= float((w * p).sum() / total):
        return 0.0
    lo, hi = 0.0, float(p.max())
    for _ in range(100):
        theta = 0.5 * (lo + hi)
        if (w * np.minimum(theta, p)).sum() / total > mse:
            hi = theta
        else:
            lo = theta
    theta, above = max(lo, 1e-300), p > lo
    return float((w[above] * 0.5 * np.log2(p[above] / theta)).sum() / total)


def clipped_log_speckle(offset: float, looks: float, scale: float, edges: np.ndarray) -> tuple:
    """``(p0, cell masses, p1)`` of ``Y = clip(offset + scale·ln n, 0, 1)`` on cells ``edges`` of [0, 1]."""
    t = (np.asarray(edges, float) - offset) / scale  # ln n at the cell edges
    cdf = special.gammainc(looks, looks * np.exp(np.clip(t, -700, 700)))
    return float(cdf[0]), np.diff(cdf), float(1.0 - cdf[-1])


def smoothed_entropy_bits(p0: float, masses: np.ndarray, p1: float, s: float) -> float:
    """``h(Y + V)`` in bits, ``V ~ N(0, s²)``, for ``Y`` with atoms ``p0`` at 0, ``p1`` at 1 and
    ``masses`` on equal cells of [0, 1] (each placed at its cell's centre; cells ≪ ``s``)."""
    n = masses.size
    dx = 1.0 / n
    pad = int(math.ceil(8 * s / dx)) + 1
    weights = np.zeros(n + 2 * pad + 1)
    weights[pad : pad + n] += masses
    centres = (np.arange(weights.size) - pad + 0.5) * dx  # cell centres of the padded grid
    weights[np.argmin(np.abs(centres - 0.0))] += p0  # atoms moved by at most dx/2
    weights[np.argmin(np.abs(centres - 1.0))] += p1
    k = np.arange(-pad, pad + 1) * dx
    kernel = np.exp(-0.5 * (k / s) ** 2)
    kernel /= kernel.sum()
    size = 1 << int(math.ceil(math.log2(weights.size + kernel.size)))
    density = np.fft.irfft(np.fft.rfft(weights, size) * np.fft.rfft(kernel, size), size)
    density = np.clip(density[pad : pad + weights.size], 0.0, None) / dx
    positive = density[density > 0]
    return float(-(positive * np.log2(positive)).sum() * dx)


def clipped_moments(p0: float, masses: np.ndarray, p1: float) -> float:
    """Variance of the clipped variable (atoms and cell centres)."""
    centres = (np.arange(masses.size) + 0.5) / masses.size
    values = np.concatenate([[0.0], centres, [1.0]])
    probs = np.concatenate([[p0], masses, [p1]])
    mean = float((probs * values).sum())
    return float((probs * (values - mean) ** 2).sum())


class SpeckleFloor:
    """Conditional rate bounds of independent (white) L-look speckle over known reflectivity.

    ``levels_db`` are the reflectivities (dB) of the pixels; they are binned to ``bin_db`` (the
    clip masses move little within a bin; the unclipped entropy does not depend on the level).
    """

    def __init__(
        self,
        levels_db: np.ndarray,
        looks: np.ndarray | float,
        lo: float,
        hi: float,
        bin_db: float = 0.25,
        cells: int = 20000,
        smoothing: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2),
    ):
        levels = np.round(np.asarray(levels_db, float).ravel() / bin_db) * bin_db
        looks_arr = np.broadcast_to(np.asarray(looks, float), np.shape(levels_db)).ravel()
        keys, counts = np.unique(np.stack([levels, looks_arr], 1), axis=0, return_counts=True)
        self.counts = counts.astype(float)
        self.smoothing = smoothing
        scale, edges = unit_scale(hi - lo), np.linspace(0.0, 1.0, cells + 1)
        self.variances = np.empty(len(keys))
        self.powers = np.empty((len(smoothing), len(keys)))  # entropy powers of Y + V_s
        self.clipped = 0.0
        for j, (level, look) in enumerate(keys):
            # offset: where ln n = 0 (n = 1, the mean of n) sits in [0, 1]
            p0, masses, p1 = clipped_log_speckle((level - lo) / (hi - lo), look, scale, edges)
            self.clipped += counts[j] * (p0 + p1)
            self.variances[j] = clipped_moments(p0, masses, p1)
            for k, s in enumerate(smoothing):
                self.powers[k, j] = 2 ** (2 * smoothed_entropy_bits(p0, masses, p1, s)) / TWO_PI_E
        self.clipped /= self.counts.sum()

    def lower(self, mse: float) -> float:
        """Lower bound (bits/pixel) on the rate of any code reaching MSE ``mse``."""
        return max(
            reverse_water_filling(self.powers[k], mse + s * s, self.counts)
            for k, s in enumerate(self.smoothing)
        )

    def upper(self, mse: float) -> float:
        """Gaussian upper bound on the conditional R(D) (water filling over conditional variances)."""
        return reverse_water_filling(self.variances, mse, self.counts)


def psd_upper_bound(field: np.ndarray, mse: float) -> float:
    """Gaussian upper bound on R(D) of a stationary field: water filling over its periodogram
    (``field`` is [realisations, H, W] or [H, W], in [0, 1] units)."""
    x = np.asarray(field, float)
    x = x.reshape((-1, *x.shape[-2:]))
    x = x - x.mean(axis=(1, 2), keepdims=True)
    psd = (np.abs(np.fft.fft2(x)) ** 2).mean(0) / (x.shape[1] * x.shape[2])
    return reverse_water_filling(psd, mse)


def correlated_entropy_rate_bound(kernel: np.ndarray, span_db: float, size: int = 512) -> float:
    """Lower bound (bits/pixel, [0, 1] units) on the entropy rate of single-look log-speckle
    ``ln|k ⊛ w|²`` (``w`` circular white Gaussian, ``k`` separable and of unit energy).

    ``h(Y_0 | Y_past) ≥ h(Y_0 | z_past)``: given the complex field's causal past, ``z_0 ~ CN(μ, v)``
    with ``v = exp(mean ln S_z)`` (Kolmogorov–Szegő) and ``μ ~ CN(0, 1 − v)``; ``h`` of the log of
    a non-central χ² is averaged over ``|μ|²``. Clipping is ignored (rare at a mid-range level).
    """
    spectrum = np.abs(np.fft.fft(np.asarray(kernel, float), size)) ** 2
    s2d = np.log(np.maximum(spectrum[:, None] * spectrum[None, :], 1e-300))
    v = float(np.exp(s2d.mean()))
    nodes, quad = special.roots_laguerre(40)  # |μ|² = (1 − v)·t, t ~ Exp(1)
    y = np.linspace(-40.0, 6.0, 40001)
    dy = y[1] - y[0]
    intensity = np.exp(y)
    entropy = 0.0
    for t, wq in zip(nodes, quad):
        m = (1.0 - v) * t
        arg = 2.0 * np.sqrt(intensity * m) / v
        log_f = -np.log(v) - (intensity + m) / v + np.log(special.i0e(arg)) + arg + y  # ln f_Y(y)
        f = np.exp(log_f)
        f /= f.sum() * dy
        entropy += wq * float(-(f * np.log(np.maximum(f, 1e-300))).sum() * dy)
    return entropy / math.log(2) + math.log2(unit_scale(span_db))
