"""experiments/latent_bound.py: the linear bound on what K latent values per pixel can represent."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import load_script

bound = load_script("experiments/latent_bound.py")


def test_blocks_cut_an_image_into_rows_of_its_blocks():
    image = np.arange(6 * 8, dtype=float).reshape(6, 8)
    rows = bound.blocks(image, 2)
    assert rows.shape == (3 * 4, 4)
    np.testing.assert_array_equal(rows[1], [2, 3, 10, 11])


def test_white_noise_loses_what_the_dropped_components_hold():
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 0.1, (20000, 16))  # isotropic: every component holds 1/16 of the variance
    for keep in (4, 8, 12):
        expected = 10 * math.log10(1 / (0.01 * (16 - keep) / 16))
        assert bound.klt_psnr(rows, keep) == pytest.approx(expected, abs=0.2)


def test_data_of_rank_r_is_kept_by_r_components():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 16))
    assert bound.klt_psnr(rows, 3) > 100 > bound.klt_psnr(rows, 2)
