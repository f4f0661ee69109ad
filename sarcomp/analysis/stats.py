"""Statistics over seeds and RD curves: mean ± spread, Welch's t-test, Bjøntegaard deltas.

A Δ *exceeds the seed spread* when |Δ| > s_variant + s_baseline (sample standard deviations over
seeds, ddof = 1; both need ≥ 2 seeds); Welch's p-value is reported beside it.

Bjøntegaard (:mod:`sarcomp.analysis.rd`): BD-rate (%) and BD-PSNR (dB) of a test curve against an
anchor. N/A, with the reason, when a curve has too few points for the fit (cubic: 4; pchip: 2),
is not monotone (PSNR must grow with rate, or a fit through it dips between points), its points
span less than a factor 1.5 in rate, or the ranges do not overlap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sarcomp.analysis.rd import bd_psnr, bd_rate

SPREAD_RULE = "|Δ| > s_variant + s_baseline (sample std over seeds, ddof=1; both need >= 2 seeds)"
MIN_RATE_SPAN = 1.5  # a curve's highest rate over its lowest: below it the fit extrapolates noise


def stat(values: Iterable[float]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; NaN with fewer than 2 values) over the finite values."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    mean = float(np.mean(vals)) if vals else math.nan
    std = float(np.std(vals, ddof=1)) if len(vals) >= 2 else math.nan
    return {"mean": mean, "std": std, "n": len(vals), "values": vals}


def delta(variant: Mapping[str, Any], base: Mapping[str, Any], relative: bool = False) -> dict[str, Any]:
    """variant − baseline (or the relative change in %), with the seed-spread rule and Welch's p."""
    from scipy import stats as sps

    d = variant["mean"] - base["mean"]
    spread = variant["std"] + base["std"]
    if relative:
        scale = 100.0 / base["mean"] if base["mean"] else math.nan
        d, spread = d * scale, spread * scale
    enough = variant["n"] >= 2 and base["n"] >= 2 and not math.isnan(spread)
    p = math.nan
    if enough:
        with warnings.catch_warnings():  # identical seeds: scipy warns and returns NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(sps.ttest_ind(variant["values"], base["values"], equal_var=False).pvalue)
    return {
        "delta": float(d),
        "spread": float(spread) if enough else math.nan,
        "exceeds_spread": bool(enough and abs(d) > spread),
        "welch_p": p,
        "relative": relative,
    }


def _finite_points(curve: tuple[Sequence[float], Sequence[float]]) -> list[tuple[float, float]]:
    return sorted((r, d) for r, d in zip(*curve) if np.isfinite(r) and np.isfinite(d) and r > 0)


def curve_problem(points: Sequence[tuple[float, float]]) -> str | None:
    """Why a (bpp, PSNR) curve, sorted by rate, cannot carry a Bjøntegaard fit (None if it can)."""
    rates = [r for r, _ in points]
    if any(d2 <= d1 or r2 <= r1 for (r1, d1), (r2, d2) in zip(points, points[1:])):
        return "is not monotone (PSNR must grow with rate)"
    if rates[-1] < MIN_RATE_SPAN * rates[0]:
        return f"spans only {rates[0]:.3f}–{rates[-1]:.3f} bpp (less than ×{MIN_RATE_SPAN:g} in rate)"
    return None


def monotone(points: Sequence[tuple[float, float]]) -> bool:
    """Whether (bpp, PSNR) points, in λ order, have rate and quality both non-decreasing."""
    return all(b2 >= b1 and d2 >= d1 for (b1, d1), (b2, d2) in zip(points, points[1:]))


def bd(
    anchor: tuple[Sequence[float], Sequence[float]],
    test: tuple[Sequence[float], Sequence[float]],
    method: str = "cubic",
    rate_window: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """BD-rate and BD-PSNR of ``test`` against ``anchor`` (rates, PSNRs), each or both N/A with a reason.
    ``rate_window`` (bpp) narrows both to a rate range (:mod:`sarcomp.analysis.rd`).

    BD-rate integrates over the PSNR range both curves cover and BD-PSNR over the common log-rate
    range, so one can exist without the other (e.g. a codec several dB worse everywhere, coded
    at the same rates, has a BD-PSNR but no BD-rate).
    """
    need = 4 if method == "cubic" else 2
    a, t = _finite_points(anchor), _finite_points(test)
    if len(a) < need or len(t) < need:
        return {"na": f"{min(len(a), len(t))} RD point(s); the {method} fit needs {need}", "method": method}
    for which, curve in (("anchor", a), ("test", t)):
        unusable = curve_problem(curve)
        if unusable:
            return {"na": f"{which} curve {unusable}", "method": method}
    out: dict[str, Any] = {"method": method, "points": [len(a), len(t)]}
    args = ([r for r, _ in a], [d for _, d in a], [r for r, _ in t], [d for _, d in t])
    ranges = {
        "bd_rate": ("PSNR", [d for _, d in a], [d for _, d in t], "{:.2f}–{:.2f} dB", bd_rate),
        "bd_psnr": ("rate", [r for r, _ in a], [r for r, _ in t], "{:.3f}–{:.3f} bpp", bd_psnr),
    }
    for key, (what, ra, rt, fmt, fn) in ranges.items():
        if max(min(ra), min(rt)) >= min(max(ra), max(rt)):
            out[f"{key}_na"] = (
                f"{what} ranges do not overlap: anchor {fmt.format(min(ra), max(ra))}, "
                f"test {fmt.format(min(rt), max(rt))}"
            )
            continue
        try:
            out[key] = fn(*args, method=method, rate_window=rate_window)
        except ValueError as exc:
            out[f"{key}_na"] = str(exc)
    return out
