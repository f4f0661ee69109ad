"""rd.py checked against the `bjontegaard` package (an independent implementation) on the real
rate-distortion curves of experiments/results/*.json, cubic and pchip."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from sarcomp.analysis import rd
from tests.helpers import REPO

RESULTS = sorted((REPO / "experiments" / "results").glob("*.json"))


def curves(path) -> dict[str, np.ndarray]:
    """(2, n) arrays of mean bpp and PSNR per learned variant and classic codec of one results file."""
    doc = json.loads(path.read_text())
    out: dict[str, list[tuple[float, float]]] = {}
    for variant in doc.get("variants", []):
        out[variant["variant"]] = [
            (p["metrics"]["bpp"]["mean"], p["metrics"]["psnr"]["mean"]) for p in variant["points"]
        ]
    for entry in doc.get("classic_sweep", []):
        out.setdefault(entry["codec"], []).append((entry["mean"]["bpp"], entry["mean"]["psnr"]))
    return {name: np.array(pts, dtype=np.float64).T for name, pts in out.items() if len(pts) >= 4}


def oracle(fn: str, anchor: np.ndarray, test: np.ndarray, method: str) -> float:
    """The package's value, NaN where it gives none (it refuses non-monotone curves for pchip)."""
    bjontegaard = pytest.importorskip("bjontegaard")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = getattr(bjontegaard, fn)(*anchor, *test, method, require_matching_points=False)
        except (ValueError, AssertionError):
            return math.nan
    return float(value)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("fn", ["bd_rate", "bd_psnr"])
def test_rd_matches_the_bjontegaard_package_on_published_curves(fn: str, method: str) -> None:
    if not RESULTS:
        pytest.skip("no experiments/results/*.json")
    compared = 0
    for path in RESULTS:
        named = curves(path)
        for anchor_name, anchor in named.items():
            for test_name, test in named.items():
                if test_name == anchor_name:
                    continue
                expected = oracle(fn, anchor, test, method)
                if math.isnan(expected):
                    continue  # curves that do not overlap, or a non-monotone curve for its pchip
                ours = getattr(rd, fn)(*anchor, *test, method=method)
                assert ours == pytest.approx(expected, rel=1e-9, abs=1e-9), (
                    path.name,
                    anchor_name,
                    test_name,
                )
                compared += 1
    assert compared >= 10  # real coverage, not a vacuous pass
