"""Bjøntegaard delta metrics (VCEG-M33) between two rate-distortion curves.

Rates are positive (bpp, bytes, ...; only ratios matter). "Distortion" is a
quality score where higher is better, e.g. PSNR in dB. Points need not be
sorted. Two fitting methods:

- ``"cubic"`` (default, the original Bjøntegaard method): a least-squares cubic
  polynomial (``np.polyfit`` degree 3); needs at least 4 points per curve.
- ``"pchip"``: piecewise cubic Hermite interpolation through the points, a
  piecewise-cubic alternative that never overshoots between points; needs at
  least 2 points per curve with distinct abscissae.

The fitted curves are integrated over the overlap of the two curves' abscissa
ranges; curves that do not overlap raise ``ValueError``. ``rate_window=(lo, hi)`` (bpp) narrows
the integration to a rate range: BD-PSNR integrates over log rate within it, BD-rate over the
qualities the anchor's fitted curve reaches between ``lo`` and ``hi``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import PchipInterpolator

Method = Literal["cubic", "pchip"]
_MIN_POINTS: dict[str, int] = {"cubic": 4, "pchip": 2}


def _curve(rate: ArrayLike, dist: ArrayLike, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Validated (log10 rate, distortion) arrays of one curve."""
    if method not in _MIN_POINTS:
        raise ValueError(f"unknown method {method!r}; use one of {sorted(_MIN_POINTS)}")
    rate_array = np.asarray(rate, dtype=np.float64)
    dist_array = np.asarray(dist, dtype=np.float64)
    if rate_array.ndim != 1 or rate_array.shape != dist_array.shape:
        raise ValueError("rate and distortion must be 1-D sequences of equal length")
    if rate_array.size < _MIN_POINTS[method]:
        raise ValueError(
            f"{method!r} Bjøntegaard fit needs at least {_MIN_POINTS[method]} points per curve, "
            f"got {rate_array.size}"
        )
    if not (np.isfinite(rate_array).all() and np.isfinite(dist_array).all()):
        raise ValueError("rates and distortions must be finite")
    if (rate_array <= 0).any():
        raise ValueError("rates must be positive")
    return np.log10(rate_array), dist_array


def _fit(x: np.ndarray, y: np.ndarray, method: Method) -> np.poly1d | PchipInterpolator:
    """The curve y(x) fitted with ``method``."""
    if method == "cubic":
        return np.poly1d(np.polyfit(x, y, 3))
    order = np.argsort(x)
    if np.any(np.diff(x[order]) == 0):
        raise ValueError("'pchip' needs distinct abscissae within each curve")
    return PchipInterpolator(x[order], y[order])


def _mean_over(x: np.ndarray, y: np.ndarray, low: float, high: float, method: Method) -> float:
    """Mean value of the curve y(x), fitted with ``method``, over [low, high]."""
    curve = _fit(x, y, method)
    if isinstance(curve, np.poly1d):
        antiderivative = curve.integ()
        integral = antiderivative(high) - antiderivative(low)
    else:
        integral = curve.integrate(low, high)
    return float(integral / (high - low))


def _value_at(x: np.ndarray, y: np.ndarray, at: float, method: Method) -> float:
    """The curve y(x), fitted with ``method``, at ``at`` (clamped to the curve's x range)."""
    return float(_fit(x, y, method)(float(np.clip(at, x.min(), x.max()))))


def _mean_difference(
    x_anchor: np.ndarray,
    y_anchor: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    method: Method,
    window: tuple[float, float] | None = None,
) -> float:
    """Average of y_test(x) - y_anchor(x) over the overlapping x range (within ``window``)."""
    low = max(x_anchor.min(), x_test.min(), *(window[:1] if window else ()))
    high = min(x_anchor.max(), x_test.max(), *(window[1:] if window else ()))
    if high <= low:
        raise ValueError(f"rate-distortion curves do not overlap (common range [{low:g}, {high:g}] is empty)")
    return _mean_over(x_test, y_test, low, high, method) - _mean_over(x_anchor, y_anchor, low, high, method)


def bd_rate(
    rate_anchor: ArrayLike,
    dist_anchor: ArrayLike,
    rate_test: ArrayLike,
    dist_test: ArrayLike,
    method: Method = "cubic",
    rate_window: tuple[float, float] | None = None,
) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent.

    Negative means the test codec needs fewer bits. Computed as
    ``(10 ** mean(log10 R_test - log10 R_anchor) - 1) * 100`` over the common
    distortion range, with log10 rate fitted as a function of distortion.
    """
    log_ra, da = _curve(rate_anchor, dist_anchor, method)
    log_rt, dt = _curve(rate_test, dist_test, method)
    window = None
    if rate_window is not None:
        window = tuple(sorted(_value_at(log_ra, da, float(np.log10(r)), method) for r in rate_window))
    return float((10.0 ** _mean_difference(da, log_ra, dt, log_rt, method, window) - 1.0) * 100.0)


def bd_psnr(
    rate_anchor: ArrayLike,
    dist_anchor: ArrayLike,
    rate_test: ArrayLike,
    dist_test: ArrayLike,
    method: Method = "cubic",
    rate_window: tuple[float, float] | None = None,
) -> float:
    """Average distortion gain of test vs anchor at equal rate (dB if distortion is PSNR).

    Positive means the test codec has higher quality. Distortion is fitted as a
    function of log10 rate and averaged over the common log-rate range.
    """
    log_ra, da = _curve(rate_anchor, dist_anchor, method)
    log_rt, dt = _curve(rate_test, dist_test, method)
    window = (
        None if rate_window is None else (float(np.log10(rate_window[0])), float(np.log10(rate_window[1])))
    )
    return _mean_difference(log_ra, da, log_rt, dt, method, window)
