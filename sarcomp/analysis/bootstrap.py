"""RD comparisons with bootstrap intervals over test scenes × seeds.

A codec's results are one :class:`SceneRD` per seed (a classic codec has one): per test scene and
operating point, the bits per pixel and the MSE on [0, 1]. A curve over a set of scenes and seeds
is either

- **scene-weighted**: mean bpp and mean per-scene PSNR (every scene counts once), or
- **pixel-weighted**: total bits over total pixels, and the PSNR of the pooled MSE (a large scene
  counts by its pixels).

The interval of a comparison (BD-rate, BD-PSNR, ΔPSNR at equal rate) is the percentile bootstrap:
each replicate draws the test scenes with replacement, the same draw for both codecs (they are
compared on the same scenes), and each codec's seeds with replacement, independently (seed k of one
variant has nothing to do with seed k of another). A replicate whose curves cannot carry the fit
is left out and counted (``na``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sarcomp.analysis.stats import bd

WEIGHTINGS = ("scene", "pixel")


@dataclass(frozen=True)
class SceneRD:
    """One codec, one seed: ``bpp`` and ``mse`` are ``[scenes, points]``; ``pixels`` (the bpp
    denominator) and ``valid`` (the MSE's) are ``[scenes]``. Scenes in the same order for every
    codec compared."""

    bpp: np.ndarray
    mse: np.ndarray
    pixels: np.ndarray
    valid: np.ndarray

    def __post_init__(self) -> None:
        if self.bpp.shape != self.mse.shape or self.bpp.shape[0] != len(self.pixels) != len(self.valid):
            raise ValueError(
                f"SceneRD: bpp {self.bpp.shape}, mse {self.mse.shape}, pixels {len(self.pixels)}"
            )


def curve(
    seeds: Sequence[SceneRD], scenes: np.ndarray, draw: np.ndarray, weighting: str
) -> tuple[np.ndarray, np.ndarray]:
    """(bpp, PSNR) per operating point over the scene indices ``scenes`` and seed indices ``draw``."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    bpp = np.concatenate([seeds[k].bpp[scenes] for k in draw])
    mse = np.concatenate([seeds[k].mse[scenes] for k in draw])
    if weighting == "scene":
        return bpp.mean(0), (-10 * np.log10(mse)).mean(0)
    pixels = np.concatenate([seeds[k].pixels[scenes] for k in draw])[:, None]
    valid = np.concatenate([seeds[k].valid[scenes] for k in draw])[:, None]
    return (bpp * pixels).sum(0) / pixels.sum(), -10 * np.log10((mse * valid).sum(0) / valid.sum())


def delta_psnr_at_equal_rate(
    anchor: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Per test point: its PSNR minus the anchor's at the same rate, the anchor's measured points
    joined by straight lines in (log rate, PSNR) (no fitted curve); NaN outside the anchor's rates."""
    order = np.argsort(anchor[0])
    log_ra, da = np.log(anchor[0][order]), anchor[1][order]
    log_rt = np.log(test[0])
    inside = (log_rt >= log_ra[0]) & (log_rt <= log_ra[-1])
    return np.where(inside, test[1] - np.interp(log_rt, log_ra, da), np.nan)


def _bd_rate(method: str, window: tuple[float, float] | None) -> Callable[[tuple, tuple], float]:
    return lambda a, t: bd((list(a[0]), list(a[1])), (list(t[0]), list(t[1])), method, window).get(
        "bd_rate", np.nan
    )


def _mean_delta(a: tuple, t: tuple) -> float:
    d = delta_psnr_at_equal_rate(a, t)
    return float(np.nanmean(d)) if np.isfinite(d).any() else np.nan


STATISTICS: dict[str, Callable[..., Callable[[tuple, tuple], float]]] = {
    "bd_rate": _bd_rate,
    "delta_psnr": lambda *_: _mean_delta,
}


def bootstrap(
    anchor: Sequence[SceneRD],
    test: Sequence[SceneRD],
    statistic: str = "bd_rate",
    method: str = "cubic",
    weighting: str = "scene",
    rate_window: tuple[float, float] | None = None,
    replicates: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """The statistic of ``test`` against ``anchor`` on all scenes and seeds, and its percentile
    bootstrap interval (``low``, ``high`` at ``level``) over scenes × seeds (module docstring).
    ``bd_rate`` is in %, ``delta_psnr`` (mean ΔPSNR at equal rate over the test points inside the
    anchor's rates) in dB."""
    stat = STATISTICS[statistic](method, rate_window)
    n_scenes = anchor[0].bpp.shape[0]
    if any(s.bpp.shape[0] != n_scenes for s in [*anchor, *test]):
        raise ValueError("anchor and test must hold the same scenes")
    every = np.arange(n_scenes)

    def value(scenes: np.ndarray, a_draw: np.ndarray, t_draw: np.ndarray) -> float:
        return stat(curve(anchor, scenes, a_draw, weighting), curve(test, scenes, t_draw, weighting))

    everything = (every, np.arange(len(anchor)), np.arange(len(test)))
    estimate = value(*everything)
    reason = None
    if statistic == "bd_rate" and not np.isfinite(estimate):  # say why the fit is N/A
        a, t = curve(anchor, every, everything[1], weighting), curve(test, every, everything[2], weighting)
        fit = bd((list(a[0]), list(a[1])), (list(t[0]), list(t[1])), method, rate_window)
        reason = fit.get("na") or fit.get("bd_rate_na")
    rng = np.random.default_rng(seed)
    draws = np.array(  # no interval around a statistic that is N/A on the data itself
        [
            value(
                rng.integers(0, n_scenes, n_scenes),
                rng.integers(0, len(anchor), len(anchor)),
                rng.integers(0, len(test), len(test)),
            )
            for _ in range(replicates)
        ]
        if np.isfinite(estimate)
        else np.full(replicates, np.nan)
    )
    ok = draws[np.isfinite(draws)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(ok, [tail, 100 - tail]) if ok.size else (np.nan, np.nan)
    return {
        "statistic": statistic,
        "method": method if statistic == "bd_rate" else "none (piecewise linear in log rate)",
        "weighting": weighting,
        "estimate": float(estimate),
        "low": float(low),
        "high": float(high),
        "level": level,
        "replicates": replicates,
        "na": int(replicates - ok.size),
        "na_reason": reason,
        "scenes": n_scenes,
        "seeds": [len(anchor), len(test)],
    }
