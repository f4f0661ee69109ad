"""Elementary functions whose float64 results are the same bits on every machine.

``exp``, ``log``, ``erfc`` and friends from libm, numpy's SIMD loops or torch's vectorised kernels
differ in the last bit between CPU families, libraries and versions (torch's own ``exp`` does on
this machine: scalar and AVX2 kernels give 10 of CompressAI's 64 default scales one ulp apart).
The entropy coder's integer tables are rounded from such values, so one ulp can move a table
entry, and a table entry that differs between encoder and decoder derails the range decoder.

Here every function is a fixed sequence of IEEE-754 float64 additions, subtractions,
multiplications, divisions, comparisons, ``rint`` and ``ldexp``: each is correctly rounded (or
exact), and numpy applies them one at a time, element by element (no fused multiply-add, no
reordered sums), so the result depends on the inputs only. Accuracy is a few ulp, far beyond what
16-bit coder tables resolve. Used by :mod:`sarcomp.models.tables` to build the tables of
version-2 ``.sarc`` files.
"""

from __future__ import annotations

import math

import numpy as np

LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * LN2_HI is exact for |k| < 2^11
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
SQRT_HALF = 0.70710678118654752440
INV_SQRT_PI = 0.56418958354775628695
_EXP_TERMS = [1.0 / math.factorial(k) for k in range(14)]  # exact integers, one rounded division


def exp(x: np.ndarray) -> np.ndarray:
    """e**x: x = k ln 2 + r with |r| <= ln 2 / 2, a degree-13 Taylor polynomial of e**r, times 2**k."""
    x = np.clip(np.asarray(x, np.float64), -740.0, 709.0)
    k = np.rint(x * INV_LN2)
    r = (x - k * LN2_HI) - k * LN2_LO
    p = np.full_like(r, _EXP_TERMS[-1])
    for c in reversed(_EXP_TERMS[:-1]):
        p = p * r + c
    return np.ldexp(p, k.astype(np.int64))


def log1p(t: np.ndarray) -> np.ndarray:
    """log(1 + t) for 0 <= t <= 1, as 2 atanh(t / (2 + t)): accurate for the smallest t too."""
    s = np.asarray(t, np.float64) / (2.0 + t)
    s2 = s * s
    acc = np.zeros_like(s)
    for n in range(35, 0, -2):  # s**35 / 35 < 1e-18 for s <= 1/3
        acc = acc * s2 + 1.0 / n
    return 2.0 * s * acc


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|)."""
    x = np.asarray(x, np.float64)
    return np.maximum(x, 0.0) + log1p(exp(-np.abs(x)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e**-x), from e**-|x| so that nothing overflows."""
    x = np.asarray(x, np.float64)
    e = exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x: np.ndarray) -> np.ndarray:
    """(1 - e**-2|x|) / (1 + e**-2|x|), with the sign of x."""
    x = np.asarray(x, np.float64)
    e = exp(-2.0 * np.abs(x))
    return np.sign(x) * ((1.0 - e) / (1.0 + e))


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, x >= 0: 1 - erf by the positive series
    erf(x) = 2/sqrt(pi) e**-x² sum_n (2x²)**n x / (1·3···(2n+1)) below 3, and the continued
    fraction e**-x² / sqrt(pi) / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...)))) from 3 up."""
    x = np.asarray(x, np.float64)
    if np.any(x < 0):
        raise ValueError("erfc here takes x >= 0")
    gauss = exp(-(x * x))
    small = np.minimum(x, 3.0)
    term, total, two_x2 = small.copy(), small.copy(), 2.0 * small * small
    for n in range(1, 90):  # (2·9)**n / (2n+1)!! is below 1e-17 of the sum well before n = 90
        term = term * two_x2 / (2 * n + 1)
        total = total + term
    series = 1.0 - 2.0 * INV_SQRT_PI * gauss * total
    large = np.maximum(x, 3.0)
    fraction = large.copy()
    for k in range(80, 0, -1):
        fraction = large + (0.5 * k) / fraction
    continued = gauss * INV_SQRT_PI / fraction
    return np.where(x < 3.0, series, continued)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """P(N(0, 1) <= x) = erfc(-x / sqrt 2) / 2, from the tail it is small in."""
    x = np.asarray(x, np.float64)
    tail = 0.5 * erfc(np.abs(x) * SQRT_HALF)
    return np.where(x < 0, tail, 1.0 - tail)


def log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm of x > 0: x = m 2**e with m in [sqrt(1/2), sqrt 2), log m = 2 atanh((m-1)/(m+1))."""
    x = np.asarray(x, np.float64)
    if np.any(x <= 0):
        raise ValueError("log takes x > 0")
    m, e = np.frexp(x)
    low = m < SQRT_HALF
    m = np.where(low, 2.0 * m, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    acc = np.zeros_like(s)
    for n in range(29, 0, -2):  # |s| <= 0.1716: s**29 / 29 < 1e-23
        acc = acc * s2 + 1.0 / n
    return e * LN2_HI + (2.0 * s * acc + e * LN2_LO)
