"""CFAR target detection on SAR intensity: cell-averaging (CA) and order-statistic (OS) CFAR.

Each pixel (the cell under test, intensity ``X``) is compared with the clutter around it: the
*training cells*, a square ring of half-width ``train`` around a *guard* square of half-width
``guard`` that keeps the target's own energy out of the estimate. Training cells sit on a grid of
step ``step`` px: oversampled SAR products (Sentinel-1 GRD, the synthetic scenes) have spatially
correlated speckle, and cells two pixels apart are close to independent, which the thresholds
below assume. A pixel is detected when ``X > α·Z``, with ``Z`` the clutter statistic:

- **CA**: ``Z`` = mean of the valid training cells (``N`` of them; fewer at the borders and near
  nodata). For Gamma clutter with ``L`` looks, ``X/Z`` follows an F(2L, 2NL) distribution, so
  ``α = F⁻¹(1 − Pfa)`` exactly (:func:`ca_multiplier`).
- **OS** (Rohling): ``Z`` = the ``k``-th smallest training cell, ``k = ⌈rank·N⌉`` (default 3/4:
  robust to other targets in the ring). ``Pfa(α) = E[Q(L, α·G⁻¹(U))]`` with ``U ~ Beta(k, N−k+1)``,
  ``Q`` the Gamma survival function and ``G⁻¹`` its quantile, integrated numerically and solved for
  ``α`` (:func:`os_multiplier`; for ``L = 1`` it equals the closed form ∏ (N−i)/(N−i+α)). Image
  borders are mirrored and nodata pixels filled with the median of the valid ones.
- **K clutter** (CA only): Gamma speckle on Gamma texture of order ``ν``; the test cell is
  K-distributed about the local mean, whose estimate is taken as exact (large ``N``):
  ``Pfa(α) = 2/Γ(ν) Σ_{j<L} (Lνα)^{(ν+j)/2} K_{ν−j}(2√(Lνα)) / j!`` (integer ``L``;
  :func:`k_pfa`).

Detected pixels are grouped into targets (:func:`cluster`): 8-connected, and groups separated by at
most ``merge`` pixels joined; each target has its intensity-weighted centroid and its peak.
Everything is vectorised (separable sums, ``scipy.ndimage`` rank filter and labelling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import integrate, ndimage, optimize, special, stats

METHODS = ("ca", "os")
CLUTTER = ("gamma", "k")
MAX_NU = 500.0  # K clutter of higher order is Gamma clutter to within the threshold's precision


@dataclass(frozen=True)
class CfarConfig:
    """A CFAR detector: method, windows (half-widths in px), false-alarm rate, clutter model."""

    method: str = "os"
    guard: int = 3
    train: int = 12
    step: int = 2
    pfa: float = 1e-5
    rank: float = 0.75  # OS: k = ceil(rank * N)
    clutter: str = "gamma"
    nu: float | None = None  # K clutter: texture order
    min_cells: int = 16  # CA: cells with fewer valid training cells are not tested
    merge: int = 1  # px: detections this close form one target

    def __post_init__(self) -> None:
        if self.method not in METHODS or self.clutter not in CLUTTER:
            raise ValueError(f"method must be one of {METHODS} and clutter one of {CLUTTER}")
        if not 0 <= self.guard < self.train or self.step < 1:
            raise ValueError("need 0 <= guard < train and step >= 1")
        if not 0 < self.pfa < 1 or not 0 < self.rank <= 1:
            raise ValueError("need 0 < pfa < 1 and 0 < rank <= 1")
        if self.clutter == "k" and (self.method != "ca" or not self.nu or not 0 < self.nu <= MAX_NU):
            raise ValueError(
                f"K clutter needs method='ca' and a texture order 0 < nu <= {MAX_NU} (beyond: clutter='gamma')"
            )


@dataclass(frozen=True)
class Detections:
    """Targets found in one image: label map (0 = none, target i has label i + 1), centroids, peaks."""

    labels: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    peak: np.ndarray

    @property
    def count(self) -> int:
        return int(self.rows.size)


def training_ring(guard: int, train: int, step: int) -> np.ndarray:
    """Footprint of the training cells: offsets within ±train on the ``step`` grid, outside ±guard."""
    off = np.arange(-train, train + 1)
    on_grid = off % step == 0
    return np.outer(on_grid, on_grid) & ~np.outer(np.abs(off) <= guard, np.abs(off) <= guard)


def _ring_sum(values: np.ndarray, guard: int, train: int, step: int) -> np.ndarray:
    """Sum of ``values`` over the training ring of every pixel (zero outside the image)."""
    off = np.arange(-train, train + 1)
    outer = (off % step == 0).astype(np.float64)
    inner = outer * (np.abs(off) <= guard)

    def separable(kernel: np.ndarray) -> np.ndarray:
        out = ndimage.correlate1d(values, kernel, axis=0, mode="constant")
        return ndimage.correlate1d(out, kernel, axis=1, mode="constant")

    return separable(outer) - separable(inner)


@lru_cache(maxsize=4096)
def ca_multiplier(cells: int, looks: float, pfa: float) -> float:
    """CA-CFAR α for ``cells`` training cells of Gamma clutter with ``looks`` looks."""
    return float(stats.f.isf(pfa, 2 * looks, 2 * cells * looks))


def os_pfa(alpha: float, cells: int, k: int, looks: float) -> float:
    """False-alarm rate of OS-CFAR (k-th of ``cells`` Gamma training cells) at multiplier ``alpha``."""
    order = stats.beta(k, cells - k + 1)

    def integrand(u: float) -> float:
        return special.gammaincc(looks, alpha * special.gammaincinv(looks, u)) * order.pdf(u)

    lo, hi = order.ppf(1e-14), order.isf(1e-14)
    return float(integrate.quad(integrand, lo, hi, points=[order.mean()], limit=200, epsabs=0)[0])


@lru_cache(maxsize=256)
def os_multiplier(cells: int, k: int, looks: float, pfa: float) -> float:
    """OS-CFAR α solving :func:`os_pfa` = ``pfa``."""
    return _solve(lambda a: os_pfa(a, cells, k, looks), pfa)


def k_pfa(alpha: float, looks: int, nu: float) -> float:
    """P(X > α·μ) for K-distributed intensity of mean μ, ``looks`` (integer) and texture order ``nu``."""
    a = looks * alpha * nu
    x = 2.0 * math.sqrt(a)
    j = np.arange(int(looks))
    log_terms = (
        math.log(2.0)
        - special.gammaln(nu)
        - special.gammaln(j + 1)
        + 0.5 * (nu + j) * math.log(a)
        + np.log(special.kve(nu - j, x))
        - x
    )
    return float(np.exp(special.logsumexp(log_terms)))


@lru_cache(maxsize=256)
def k_multiplier(looks: int, nu: float, pfa: float) -> float:
    """CA-CFAR α for K clutter (local mean taken as known), solving :func:`k_pfa` = ``pfa``."""
    return _solve(lambda a: k_pfa(a, looks, nu), pfa)


def _solve(pfa_of: Callable[[float], float], pfa: float) -> float:
    """The α where the decreasing ``pfa_of(α)`` equals ``pfa`` (root in log Pfa)."""
    f = lambda log_a: math.log(max(pfa_of(math.exp(log_a)), 1e-300)) - math.log(pfa)  # noqa: E731
    return math.exp(optimize.brentq(f, math.log(1e-3), math.log(1e6), xtol=1e-10))


def cfar_ratio(
    intensity: np.ndarray, looks: float, config: CfarConfig = CfarConfig(), valid: np.ndarray | None = None
) -> np.ndarray:
    """The test statistic ``X / (α·Z)`` of every pixel (detected where it exceeds 1; 0 where no
    test is made) of a linear-intensity image whose clutter has ``looks`` looks (ENL)."""
    image = np.asarray(intensity, np.float64)
    valid = np.isfinite(image) if valid is None else np.asarray(valid, bool) & np.isfinite(image)
    image = np.where(valid, image, 0.0)
    c = config
    if c.method == "os":
        ring = training_ring(c.guard, c.train, c.step)
        cells = int(ring.sum())
        k = max(1, math.ceil(c.rank * cells))
        filled = np.where(valid, image, np.median(image[valid]) if valid.any() else 0.0)
        clutter = os_multiplier(cells, k, float(looks), c.pfa) * ndimage.rank_filter(
            filled, k - 1, footprint=ring, mode="mirror"
        )
        return np.where(valid & (clutter > 0), image / np.where(clutter > 0, clutter, 1.0), 0.0)
    total = _ring_sum(image, c.guard, c.train, c.step)
    count = np.rint(_ring_sum(valid.astype(np.float64), c.guard, c.train, c.step)).astype(np.int64)
    tested = valid & (count >= c.min_cells)
    if c.clutter == "k":
        alpha = np.full(image.shape, k_multiplier(max(1, round(looks)), float(c.nu), c.pfa))
    else:
        sizes, inverse = np.unique(np.where(tested, count, c.min_cells), return_inverse=True)
        table = np.array([ca_multiplier(int(n), float(looks), c.pfa) for n in sizes])
        alpha = table[inverse.reshape(image.shape)]
    clutter = alpha * total / np.maximum(count, 1)
    tested &= clutter > 0
    return np.where(tested, image / np.where(tested, clutter, 1.0), 0.0)


def cfar_mask(
    intensity: np.ndarray, looks: float, config: CfarConfig = CfarConfig(), valid: np.ndarray | None = None
) -> np.ndarray:
    """Detected pixels (bool): where :func:`cfar_ratio` exceeds 1."""
    return cfar_ratio(intensity, looks, config, valid) > 1.0


def margins(detections: Detections, ratio: np.ndarray) -> np.ndarray:
    """How far each detection clears its threshold: the largest :func:`cfar_ratio` over its pixels, in dB."""
    if not detections.count:
        return np.zeros(0)
    peak = ndimage.maximum(ratio, detections.labels, np.arange(1, detections.count + 1))
    return 10.0 * np.log10(np.asarray(peak, np.float64))


def cluster(mask: np.ndarray, intensity: np.ndarray, merge: int = 1) -> Detections:
    """Targets from detected pixels: 8-connected groups (joined across gaps of ``merge`` px), with
    intensity-weighted centroids and peak intensities."""
    structure = np.ones((3, 3), bool)
    grouped = ndimage.binary_dilation(mask, structure, iterations=merge) if merge and mask.any() else mask
    labels, n = ndimage.label(grouped, structure)
    labels = np.where(mask, labels, 0).astype(np.int32)
    if n == 0:
        empty = np.zeros(0)
        return Detections(labels, empty, empty.copy(), empty.copy())
    index = np.arange(1, n + 1)
    image = np.asarray(intensity, np.float64)
    peak = np.asarray(ndimage.maximum(image, labels, index), np.float64)
    weights = np.where(mask, image, 0.0)
    rows, cols = np.indices(mask.shape)
    total = np.asarray(ndimage.sum(weights, labels, index))
    cy = np.asarray(ndimage.sum(weights * rows, labels, index)) / total
    cx = np.asarray(ndimage.sum(weights * cols, labels, index)) / total
    return Detections(labels, cy, cx, peak)


def detect(
    intensity: np.ndarray, looks: float, config: CfarConfig = CfarConfig(), valid: np.ndarray | None = None
) -> Detections:
    """CFAR detection and clustering in one call (:func:`cfar_mask`, :func:`cluster`)."""
    return cluster(cfar_mask(intensity, looks, config, valid), intensity, config.merge)
