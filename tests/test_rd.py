"""Tests for sarcomp.analysis.rd (Bjøntegaard deltas)."""

from __future__ import annotations

import numpy as np
import pytest

from sarcomp.analysis.rd import bd_psnr, bd_rate

RATES = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
PSNRS = np.array([28.1, 31.0, 34.2, 37.0, 39.5])


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_identical_curves_give_zero(method: str) -> None:
    assert bd_rate(RATES, PSNRS, RATES, PSNRS, method=method) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS, method=method) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_halved_rate_is_minus_fifty_percent(method: str) -> None:
    assert bd_rate(RATES, PSNRS, RATES / 2, PSNRS, method=method) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(RATES / 2, PSNRS, RATES, PSNRS, method=method) == pytest.approx(100.0, abs=1e-6)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_one_db_up_is_one_db_bd_psnr(method: str) -> None:
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS + 1.0, method=method) == pytest.approx(1.0, abs=1e-9)


def test_points_need_not_be_sorted() -> None:
    order = np.array([3, 0, 4, 2, 1])
    assert bd_rate(RATES, PSNRS, RATES[order] / 2, PSNRS[order]) == pytest.approx(-50.0, abs=1e-6)
    assert bd_psnr(RATES[order], PSNRS[order], RATES, PSNRS + 1.0) == pytest.approx(1.0, abs=1e-9)


def test_known_value_for_a_linear_curve() -> None:
    # PSNR = 10 log10(rate) + 30 for the anchor; the test is 0.5 dB better everywhere,
    # i.e. needs 10^(-0.05) of the rate: BD-rate = (10^-0.05 - 1) * 100.
    anchor = 10 * np.log10(RATES) + 30
    assert bd_rate(RATES, anchor, RATES, anchor + 0.5) == pytest.approx((10**-0.05 - 1) * 100)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_a_rate_window_counts_only_the_rates_inside_it(method: str) -> None:
    anchor = 10 * np.log10(RATES) + 30
    growing = anchor + np.log2(RATES / 0.25)  # 0 dB better at 0.25 bpp, 4 dB at 4 bpp
    assert bd_psnr(RATES, anchor, RATES, anchor + 1.0, method, rate_window=(0.5, 2.0)) == pytest.approx(1.0)
    assert bd_rate(RATES, anchor, RATES, anchor + 0.5, method, rate_window=(0.5, 2.0)) == pytest.approx(
        (10**-0.05 - 1) * 100
    )
    # linear in log rate: the mean gain over a window is the gain at its (log) centre
    assert bd_psnr(RATES, anchor, RATES, growing, method, rate_window=(0.25, 1.0)) == pytest.approx(1.0)
    assert bd_psnr(RATES, anchor, RATES, growing, method, rate_window=(1.0, 4.0)) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="do not overlap"):
        bd_psnr(RATES, anchor, RATES, anchor, method, rate_window=(8.0, 16.0))


def test_non_overlapping_curves_raise() -> None:
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(RATES, PSNRS, RATES, PSNRS + 20.0)
    with pytest.raises(ValueError, match="do not overlap"):
        bd_psnr(RATES, PSNRS, RATES * 100, PSNRS)


def test_too_few_points_raise_for_cubic_but_pchip_accepts_them() -> None:
    with pytest.raises(ValueError, match="at least 4 points"):
        bd_rate(RATES[:3], PSNRS[:3], RATES[:3], PSNRS[:3])
    assert bd_rate(RATES[:3], PSNRS[:3], RATES[:3] / 2, PSNRS[:3], method="pchip") == pytest.approx(-50.0)


@pytest.mark.parametrize(
    ("rates", "psnrs", "message"),
    [
        (RATES * -1, PSNRS, "positive"),
        (RATES, PSNRS[:4], "equal length"),
        (np.append(RATES[:4], np.nan), PSNRS, "finite"),
    ],
)
def test_invalid_inputs_raise(rates: np.ndarray, psnrs: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bd_rate(rates, psnrs, RATES, PSNRS)


def test_unknown_method_raises() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, method="akima")  # type: ignore[arg-type]
