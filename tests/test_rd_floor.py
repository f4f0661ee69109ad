"""The floor study (issue 26, step 3): closed-form speckle entropy, bounds, a tiny end-to-end run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sarcomp.analysis import floor
from sarcomp.analysis.floor_report import Settings, run, write
from sarcomp.codec.classic import JPEG2000
from sarcomp.data.representation import Representation, Scaling
from sarcomp.data.speckle import apply_speckle


def _knn_entropy_nats(x: np.ndarray) -> float:
    """Kozachenko–Leonenko (k = 1) entropy estimate of a 1-D sample."""
    s = np.sort(x)
    gaps = np.minimum(np.diff(s)[:-1], np.diff(s)[1:])  # nearest-neighbour distance of interior points
    n = gaps.size
    return float(np.mean(np.log(2 * n * np.maximum(gaps, 1e-300))) + np.euler_gamma)


@pytest.mark.parametrize("looks", [1, 4])
def test_log_gamma_entropy_matches_monte_carlo(looks: int) -> None:
    rng = np.random.default_rng(0)
    z = np.log(rng.gamma(looks, 1.0 / looks, 400_000))
    assert abs(_knn_entropy_nats(z) - floor.log_gamma_entropy(looks)) < 0.01
    assert abs(z.var() - floor.log_gamma_variance(looks)) < 0.02 * floor.log_gamma_variance(looks)


def test_one_look_values() -> None:
    assert floor.log_gamma_entropy(1) == pytest.approx(1 + np.euler_gamma)
    sigma_db = 10 / math.log(10) * math.sqrt(floor.log_gamma_variance(1))
    assert sigma_db == pytest.approx(5.57, abs=0.01)


def test_clipped_floor_is_below_unclipped_and_upper() -> None:
    fl = floor.SpeckleFloor(np.zeros(10), 1, -30.0, 10.0)
    h = floor.speckle_entropy_bits(1, 40.0)
    for mse in (1e-2, 3e-3, 1e-3, 1e-4):
        lower = fl.lower(mse)
        assert lower <= float(floor.shannon_lower_bound(h, mse)) + 1e-9  # clipping only lowers it
        assert lower <= fl.upper(mse)
        assert float(floor.shannon_lower_bound(h, mse)) - lower < 0.02  # 0.1 % clipped: close


def test_water_filling_gaussian() -> None:
    assert floor.reverse_water_filling(np.array([4.0]), 1.0) == pytest.approx(1.0)
    # θ = 2: the weak component (0.5) costs nothing, the strong one ½·log2(16/2) over two components
    assert floor.reverse_water_filling(np.array([16.0, 0.5]), 1.25) == pytest.approx(0.75)


def test_bound_below_measured_points_on_white_speckle() -> None:
    """JPEG 2000 on white one-look speckle never beats the floor (any codec must sit above it)."""
    rng = np.random.default_rng(1)
    intensity = apply_speckle(rng, np.ones((128, 128), np.float32), 1, 0.0)
    unit = Representation().to_unit(intensity, Scaling(-30.0, 10.0)).astype(np.float64)
    fl = floor.SpeckleFloor(np.zeros(unit.size), 1, -30.0, 10.0)
    codec = JPEG2000(bits=16)
    for nominal in (0.25, 0.5, 1.0, 2.0, 4.0):
        r = codec.run(unit, 16 / nominal)
        mse = float(np.mean((r.recon - unit) ** 2))
        assert r.bpp > fl.lower(mse)


def test_tiny_end_to_end(tmp_path: Path) -> None:
    settings = Settings(
        models=("baseline-ms-s8-l001", "baseline-ms-s8-l01"),
        size=64,
        flat_count=1,
        synthetic=0,
        replicates=0,
        j2k_grid=(0.5, 1.0, 2.0),
    )
    out = tmp_path / "floor"
    write(run(settings), out, "test")
    result = json.loads((out / "floor.json").read_text())
    white = result["sets"]["flat-white"]
    assert set(result["sets"]) == {"flat-white", "flat-corr"}
    assert len(white["per_rate"]) == 4 and len(white["bound"]["lower_bpp"]) == len(white["bound"]["mse"])
    assert "| flat-white |" in (out / "report.md").read_text()
    assert (out / "rd.png").stat().st_size > 0
    fl = floor.SpeckleFloor(np.zeros(1), 1, -30.0, 10.0)
    for codec in ("learned", "j2k"):  # every measured point on white speckle lies above the floor
        for bpp, quality in zip(white[codec]["bpp"], white[codec]["psnr"]):
            assert bpp > fl.lower(10 ** (-quality / 10))
