"""CFAR detector (sarcomp.metrics.cfar) on images with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from sarcomp.data.speckle import SPECKLE_CORRELATION, apply_speckle
from sarcomp.metrics import cfar

SIZE = 512


def gamma_clutter(looks: int, seed: int = 0, shape: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    return np.random.default_rng(seed).gamma(looks, 1.0 / looks, shape)


@pytest.mark.parametrize("method", ["ca", "os"])
def test_target_on_flat_clutter_is_detected_exactly_above_the_threshold(method: str) -> None:
    config = cfar.CfarConfig(method=method, pfa=1e-4)
    ring = cfar.training_ring(config.guard, config.train, config.step)
    cells = int(ring.sum())
    alpha = (
        cfar.ca_multiplier(cells, 4.0, config.pfa)
        if method == "ca"
        else cfar.os_multiplier(cells, math.ceil(config.rank * cells), 4.0, config.pfa)
    )
    image = np.full((64, 64), 2.0)  # constant clutter: the estimate is exactly 2 either way
    image[20, 20] = 2.0 * alpha * 1.02
    image[40, 40] = 2.0 * alpha * 0.98
    mask = cfar.cfar_mask(image, 4.0, config)
    assert mask[20, 20] and not mask[40, 40] and mask.sum() == 1
    ratio = cfar.cfar_ratio(image, 4.0, config)
    margin = cfar.margins(cfar.cluster(mask, image), ratio)
    assert margin == pytest.approx([10 * math.log10(1.02)])  # clears its threshold by 0.086 dB


def test_ca_multiplier_is_the_classic_exponential_formula_for_one_look() -> None:
    cells, pfa = 160, 1e-5
    assert cfar.ca_multiplier(cells, 1.0, pfa) == pytest.approx(cells * (pfa ** (-1 / cells) - 1), rel=1e-9)


def test_os_false_alarm_rate_matches_the_closed_form_for_one_look() -> None:
    cells, k, alpha = 160, 120, 10.0
    closed = np.prod([(cells - i) / (cells - i + alpha) for i in range(k)])
    assert cfar.os_pfa(alpha, cells, k, 1.0) == pytest.approx(closed, rel=1e-6)
    alpha_4 = cfar.os_multiplier(cells, k, 4.0, 1e-5)
    assert cfar.os_pfa(alpha_4, cells, k, 4.0) == pytest.approx(1e-5, rel=1e-6)


@pytest.mark.parametrize("nu", [0.5, 3.0, 20.0])
@pytest.mark.parametrize("looks", [1, 4])
def test_k_false_alarm_rate_matches_integration_over_the_texture(nu: float, looks: int) -> None:
    alpha = 6.0

    def integrand(t: float) -> float:
        return special.gammaincc(looks, looks * alpha / t) * stats.gamma.pdf(t, nu, scale=1 / nu)

    expected = integrate.quad(integrand, 0, math.inf, limit=200)[0]
    assert cfar.k_pfa(alpha, looks, nu) == pytest.approx(expected, rel=1e-6)


def test_isolated_target_at_a_known_signal_to_clutter_ratio_is_detected_where_it_is() -> None:
    image = gamma_clutter(4, seed=1, shape=(128, 128))
    image[60:63, 70:73] += 100.0 * np.outer([0.3, 1.0, 0.3], [0.3, 1.0, 0.3])  # 20 dB over a mean of 1
    dets = cfar.detect(image, 4.0, cfar.CfarConfig(pfa=1e-6))
    hit = np.hypot(dets.rows - 61, dets.cols - 71) < 0.5
    assert hit.sum() == 1 and dets.peak[hit][0] == pytest.approx(image[61, 71])


def test_detection_probability_of_a_fluctuating_target_matches_the_closed_form() -> None:
    """One-look (exponential) targets of mean (1 + s)·μ in exponential clutter, CA-CFAR over N
    independent cells: Pd = (1 + α / (N (1 + s)))^(−N)."""
    config = cfar.CfarConfig(method="ca", pfa=1e-3, step=1)
    cells = int(cfar.training_ring(config.guard, config.train, config.step).sum())
    scr = 10.0  # 10 dB
    rng = np.random.default_rng(2)
    image = rng.exponential(1.0, (SIZE, SIZE))
    grid = np.arange(20, SIZE - 20, 26)  # targets farther apart than the window
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    image[rows, cols] = rng.exponential(1.0 + scr, rows.shape)
    alpha = cfar.ca_multiplier(cells, 1.0, config.pfa)
    expected = (1 + alpha / (cells * (1 + scr))) ** -cells
    measured = cfar.cfar_mask(image, 1.0, config)[rows, cols].mean()
    assert measured == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / rows.size))


@pytest.mark.parametrize("method", ["ca", "os"])
@pytest.mark.parametrize("looks", [1, 4])
def test_false_alarm_rate_on_pure_gamma_clutter_is_the_design_rate(method: str, looks: int) -> None:
    pfa = 1e-3
    mask = cfar.cfar_mask(gamma_clutter(looks, seed=looks), looks, cfar.CfarConfig(method=method, pfa=pfa))
    assert mask.mean() == pytest.approx(pfa, rel=0.2)


@pytest.mark.parametrize("method", ["ca", "os"])
def test_training_cells_two_pixels_apart_keep_the_rate_on_correlated_speckle(method: str) -> None:
    """The generator's speckle is spatially correlated (lag-1 ~0.5) like Sentinel-1 GRD."""
    flat = np.ones((SIZE, SIZE), np.float32)
    speckle = apply_speckle(np.random.default_rng(3), flat, 4, SPECKLE_CORRELATION)
    mask = cfar.cfar_mask(speckle, 4.0, cfar.CfarConfig(method=method, pfa=1e-3))
    assert mask.mean() == pytest.approx(1e-3, rel=0.25)


def test_k_threshold_keeps_the_rate_on_k_clutter_where_the_gamma_one_does_not() -> None:
    rng = np.random.default_rng(4)
    nu, pfa = 3.0, 1e-3
    image = rng.gamma(nu, 1 / nu, (SIZE, SIZE)) * rng.exponential(1.0, (SIZE, SIZE))
    k_rate = cfar.cfar_mask(image, 1.0, cfar.CfarConfig(method="ca", pfa=pfa, clutter="k", nu=nu)).mean()
    gamma_rate = cfar.cfar_mask(image, 1.0, cfar.CfarConfig(method="ca", pfa=pfa)).mean()
    assert k_rate == pytest.approx(pfa, rel=0.25)
    assert gamma_rate > 3 * pfa


def test_nodata_is_never_detected_nor_counted_as_clutter() -> None:
    image = np.ones((64, 64))
    image[:, :32] = 1e6  # a bright half that is nodata
    valid = np.ones(image.shape, bool)
    valid[:, :32] = False
    image[30, 50] = 50.0
    mask = cfar.cfar_mask(image, 4.0, cfar.CfarConfig(method="ca", pfa=1e-4), valid)
    assert mask[30, 50] and mask.sum() == 1


def test_clusters_have_their_centroid_and_peak_and_merge_across_small_gaps() -> None:
    mask = np.zeros((20, 20), bool)
    intensity = np.ones((20, 20))
    mask[5, 5:8] = True
    intensity[5, 5:8] = [1.0, 3.0, 1.0]
    mask[5, 9] = True  # one pixel gap from the first group
    intensity[5, 9] = 2.0
    mask[15, 15] = True
    intensity[15, 15] = 7.0
    apart = cfar.cluster(mask, intensity, merge=0)
    assert apart.count == 3
    np.testing.assert_allclose(apart.cols, [6.0, 9.0, 15.0])
    np.testing.assert_allclose(apart.peak, [3.0, 2.0, 7.0])
    merged = cfar.cluster(mask, intensity, merge=1)
    assert merged.count == 2
    assert merged.cols[0] == pytest.approx((5 + 18 + 7 + 18) / 7)
    assert set(np.unique(merged.labels)) == {0, 1, 2} and merged.labels[5, 8] == 0
    assert cfar.cluster(np.zeros((4, 4), bool), np.ones((4, 4))).count == 0


def test_bad_configurations_are_refused() -> None:
    for kwargs in (
        {"method": "go"},
        {"guard": 5, "train": 5},
        {"pfa": 0.0},
        {"clutter": "k"},
        {"clutter": "k", "nu": 2.0, "method": "os"},
        {"clutter": "k", "nu": 1e4, "method": "ca"},
    ):
        with pytest.raises(ValueError):
            cfar.CfarConfig(**kwargs)
