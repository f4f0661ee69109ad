"""Complex-data and interferometric metrics (issue 29): known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sarcomp.data.complex_synthetic import SLCSettings, circular_gaussian, interferometric_pair
from sarcomp.metrics.interferometry import (
    amplitude_psnr_db,
    interferogram,
    interferometric_errors,
    multilook,
    phase_error_deg,
)

NO_TARGETS = SLCSettings(targets_per_256=0.0)


def pair(gamma: float, phase, size: int = 256, seed: int = 0):
    rng = np.random.default_rng(seed)
    return interferometric_pair(rng, np.ones((size, size)), gamma, phase, NO_TARGETS)


def test_identical_inputs_give_zero_error():
    s1, s2 = pair(0.7, 0.3)
    assert amplitude_psnr_db(s1, s1) == np.inf and phase_error_deg(s1, s1) < 1e-9  # rounding only
    errors = interferometric_errors((s1, s2), (s1.copy(), s2.copy()))
    assert errors["phase_error_deg"] < 1e-9 and errors["coherence_bias"] == 0


@pytest.mark.parametrize(("offset", "expected"), [(25.0, 25.0), (-70.0, 70.0), (200.0, 160.0)])
def test_a_phase_offset_is_that_error(offset, expected):
    s1, s2 = pair(0.7, 0.3)
    turn = np.exp(1j * np.radians(offset))
    assert phase_error_deg(s1, s1 * turn) == pytest.approx(expected)
    assert amplitude_psnr_db(s1, s1 * turn) > 250  # amplitudes untouched (to rounding)
    errors = interferometric_errors((s1, s2), (s1 * turn, s2))
    assert errors["phase_error_deg"] == pytest.approx(expected)
    assert errors["coherence_bias"] == pytest.approx(0.0, abs=1e-12)


def test_phase_error_is_amplitude_weighted():
    ref = np.ones((4, 4), complex)
    ref[:, 2:] = 3.0
    test = ref.copy()
    test[:, :2] *= np.exp(1j * np.radians(30))  # only the dark half is wrong
    assert phase_error_deg(ref, test) == pytest.approx(np.sqrt(1 * 30**2 / (1 + 3)))  # 15°


def test_amplitude_psnr_of_a_known_gain():
    rng = np.random.default_rng(0)
    ref = 10 ** (rng.uniform(0, 40, (128, 128)) / 20) * np.exp(2j * np.pi * rng.random((128, 128)))
    psnr = amplitude_psnr_db(ref, ref * 10 ** (0.5 / 20))  # +0.5 dB everywhere
    span = np.ptp(np.percentile(20 * np.log10(np.abs(ref)), (0.5, 99.5)))
    assert psnr == pytest.approx(20 * np.log10(span / 0.5), abs=0.1)  # a few samples clip at the top


@pytest.mark.parametrize("gamma", [0.8, 0.3])
def test_interferogram_recovers_a_known_phase_and_coherence(gamma):
    yy, xx = np.mgrid[0:256, 0:256]
    truth = 2 * np.pi * (xx + 0.5 * yy) / 64  # fringes 64 px apart
    s1, s2 = pair(gamma, truth, seed=1)
    ifg, coherence, ok = interferogram(s1, s2, looks=(8, 8))
    assert ok.all() and ifg.shape == (32, 32)
    assert coherence.mean() == pytest.approx(gamma, abs=0.04)  # sample coherence: slightly biased up
    expected, _ = multilook(np.exp(1j * truth), (8, 8))
    residual = np.degrees(np.angle(ifg * np.conj(expected)))
    # Cramér-Rao with ~30 effective looks: 5.5° at γ = 0.8
    assert np.sqrt(np.mean(residual**2)) < (8.0 if gamma == 0.8 else 35.0)


def test_coherence_bias_of_added_noise_is_the_snr_factor():
    s1, s2 = pair(0.9, 0.0, seed=2)
    rng = np.random.default_rng(3)
    snr = 3.0  # signal power / noise power of the "coded" acquisitions
    noisy = tuple(s + circular_gaussian(rng, s.shape) / np.sqrt(snr) for s in (s1, s2))
    errors = interferometric_errors((s1, s2), noisy, looks=(8, 8))
    assert errors["coherence_bias"] == pytest.approx(0.9 * snr / (1 + snr) - 0.9, abs=0.02)
    assert 0 < errors["phase_error_deg"] < 20


def test_multilook_masks_and_errors():
    a = np.arange(16.0).reshape(4, 4)
    valid = np.ones((4, 4), bool)
    valid[0, 0] = False
    means, ok = multilook(a, (2, 2), valid)
    assert means[0, 0] == pytest.approx((1 + 4 + 5) / 3) and ok.all()
    valid[:2, :2] = False
    assert not multilook(a, (2, 2), valid)[1][0, 0]
    assert multilook(np.ones((5, 7)), (2, 3))[0].shape == (2, 2)  # partial blocks dropped
    with pytest.raises(ValueError, match="smaller than one"):
        multilook(np.ones((3, 3)), (4, 4))
    with pytest.raises(ValueError, match="one shape"):
        phase_error_deg(np.ones((2, 2), complex), np.ones((2, 3), complex))
