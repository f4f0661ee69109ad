"""Bootstrap intervals over scenes × seeds for RD comparisons, on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sarcomp.analysis.bootstrap import SceneRD, bootstrap, curve, delta_psnr_at_equal_rate

RATES = np.array([0.1, 0.25, 0.5, 1.0, 2.0])


def scene_rd(
    rates_scale: float = 1.0, psnr_shift: float = 0.0, scenes: int = 6, noise: float = 0.0, seed: int = 0
) -> SceneRD:
    """Scenes whose PSNR grows with log rate, each with its own offset (and optional noise)."""
    rng = np.random.default_rng(seed)
    offset = np.linspace(18, 30, scenes)[:, None]
    psnr = (
        offset
        + 4 * np.log2(RATES / 0.1)[None]
        + psnr_shift
        + noise * rng.standard_normal((scenes, len(RATES)))
    )
    return SceneRD(
        bpp=np.tile(RATES * rates_scale, (scenes, 1)),
        mse=10 ** (-psnr / 10),
        pixels=np.linspace(1e4, 5e4, scenes),
        valid=np.linspace(1e4, 5e4, scenes),
    )


@pytest.mark.parametrize("weighting", ["scene", "pixel"])
@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_ten_percent_fewer_bits_everywhere_is_minus_ten_percent(method, weighting):
    anchor = [scene_rd(), scene_rd()]
    test = [scene_rd(rates_scale=0.9), scene_rd(rates_scale=0.9), scene_rd(rates_scale=0.9)]
    out = bootstrap(anchor, test, "bd_rate", method, weighting, replicates=200)
    assert out["estimate"] == pytest.approx(-10.0, abs=1e-6)
    assert out["low"] == pytest.approx(-10.0, abs=1e-6) and out["high"] == pytest.approx(-10.0, abs=1e-6)
    assert out["na"] == 0 and out["scenes"] == 6 and out["seeds"] == [2, 3]


@pytest.mark.parametrize("weighting", ["scene", "pixel"])
def test_half_a_db_better_at_the_same_rates_is_half_a_db(weighting):
    out = bootstrap(
        [scene_rd()], [scene_rd(psnr_shift=0.5)], "delta_psnr", weighting=weighting, replicates=100
    )
    assert out["estimate"] == pytest.approx(0.5, abs=1e-9)
    assert out["low"] == pytest.approx(0.5, abs=1e-9) and out["high"] == pytest.approx(0.5, abs=1e-9)


def test_interval_covers_the_truth_and_narrows_with_more_scenes():
    """Test seeds scatter around a +0.3 dB improvement: the interval holds +0.3, and is narrower
    with 40 scenes than with 6."""
    widths = []
    for scenes in (6, 40):
        anchor = [scene_rd(scenes=scenes, noise=0.4, seed=s) for s in range(3)]
        test = [scene_rd(scenes=scenes, psnr_shift=0.3, noise=0.4, seed=10 + s) for s in range(3)]
        out = bootstrap(anchor, test, "delta_psnr", replicates=400, seed=1)
        assert out["low"] < 0.3 < out["high"]
        widths.append(out["high"] - out["low"])
    assert widths[1] < 0.6 * widths[0]


def test_pixel_weighting_pools_bits_and_squared_errors():
    rd = SceneRD(
        bpp=np.array([[1.0], [3.0]]),
        mse=np.array([[1e-2], [1e-4]]),
        pixels=np.array([100.0, 300.0]),
        valid=np.array([100.0, 100.0]),
    )
    every, one = np.arange(2), np.arange(1)
    rate, psnr = curve([rd], every, one, "pixel")
    assert rate[0] == pytest.approx((100 + 900) / 400) and psnr[0] == pytest.approx(-10 * np.log10(0.00505))
    rate, psnr = curve([rd], every, one, "scene")
    assert rate[0] == pytest.approx(2.0) and psnr[0] == pytest.approx(30.0)


def test_delta_at_equal_rate_interpolates_in_log_rate_and_refuses_to_extrapolate():
    anchor = (np.array([1.0, 4.0]), np.array([20.0, 30.0]))
    test = (np.array([2.0, 8.0]), np.array([26.0, 31.0]))
    d = delta_psnr_at_equal_rate(anchor, test)
    assert d[0] == pytest.approx(1.0) and np.isnan(d[1])  # 2 bpp is halfway in log rate: 25 dB


def test_a_statistic_that_is_na_on_the_data_gets_no_interval():
    # two scenes: the test codec is 60 dB above the anchor on one, equal on the other, so the mean
    # curves share no quality range (no BD-rate) while a replicate that draws the second scene twice
    # does; an interval from such replicates would describe some other comparison
    anchor, test = scene_rd(scenes=2), scene_rd(scenes=2)
    test.mse[0] *= 1e-6
    out = bootstrap([anchor], [test], "bd_rate", "cubic", replicates=50)
    assert np.isnan(out["estimate"]) and np.isnan(out["low"]) and np.isnan(out["high"])
    assert out["na"] == 50 and out["na_reason"]
