"""The complex baselines of issue 29: BAQ and JPEG 2000 on I/Q."""

from __future__ import annotations

import numpy as np
import pytest

from sarcomp.codec.baq import baq, decode, encode, lloyd_max_gaussian, lloyd_max_snr_db
from sarcomp.codec.classic import JPEG2000
from sarcomp.codec.iq_jpeg2000 import SCALE_BYTES, jpeg2000_iq
from sarcomp.metrics.interferometry import amplitude_psnr_db, phase_error_deg


def gaussian(shape, sigma=1.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * sigma


def snr_db(s: np.ndarray, recon: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(np.abs(s) ** 2) / np.sum(np.abs(s - recon) ** 2)))


def test_lloyd_max_matches_the_published_gaussian_quantisers():
    # Max (1960): 2 bits ±0.4528, ±1.510; 3 bits ±0.2451, ±0.7560, ±1.344, ±2.152
    assert lloyd_max_gaussian(2)[1][2:] == pytest.approx([0.4528, 1.5104], abs=1e-4)
    assert lloyd_max_gaussian(3)[1][4:] == pytest.approx([0.2451, 0.7560, 1.3439, 2.1519], abs=1e-4)
    assert lloyd_max_gaussian(1)[1][1] == pytest.approx(np.sqrt(2 / np.pi))
    snrs = [lloyd_max_snr_db(b) for b in (2, 3, 4)]
    assert snrs == pytest.approx([9.30, 14.62, 20.22], abs=0.01)
    with pytest.raises(ValueError, match="bits"):
        lloyd_max_gaussian(0)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_baq_rate_is_exactly_as_designed(bits):
    s = gaussian((96, 160))  # 3 x 5 blocks of 32 x 32
    result = baq(s, bits)
    assert result.bits_per_sample == 2 * bits + 16 * 15 / s.size  # 2·bits + one 16-bit scale per block
    odd = gaussian((40, 45))  # partial edge blocks still cost one scale each: 2 x 2 blocks
    assert baq(odd, bits).num_bytes == 2 * 4 + int(np.ceil(2 * bits * odd.size / 8))


@pytest.mark.parametrize(("bits", "low", "high"), [(2, 9.1, 9.45), (3, 14.4, 14.75), (4, 20.0, 20.35)])
def test_baq_snr_on_gaussian_input_with_a_changing_scale(bits, low, high):
    """Around the Lloyd-Max SNR (9.30, 14.62, 20.22 dB): the scale is estimated per block."""
    rng = np.random.default_rng(1)
    sigma = np.kron(10 ** rng.uniform(-2, 3, (4, 4)), np.ones((32, 32)))  # 100 dB across blocks
    s = gaussian((128, 128), seed=2) * sigma
    recon = baq(s, bits).recon
    assert low < snr_db(s / sigma, recon / sigma) < high  # every block weighs the same


def test_baq_payload_round_trip_and_checks():
    s = gaussian((64, 64), sigma=1e30, seed=3)  # scales far beyond float16
    data = encode(s, 3, (16, 16))
    recon = decode(data, s.shape, 3, (16, 16))
    assert np.isfinite(recon).all() and snr_db(s, recon) > 14
    zeros = baq(np.zeros((32, 32), complex), 2)
    assert np.array_equal(zeros.recon, np.zeros((32, 32)))
    with pytest.raises(ValueError, match="does not fit"):
        decode(data[:-1], s.shape, 3, (16, 16))
    with pytest.raises(ValueError, match="complex"):
        encode(np.ones((8, 8)), 2)


@pytest.mark.skipif(not JPEG2000.available(), reason="Pillow without OpenJPEG")
def test_jpeg2000_iq_rate_counts_both_codestreams_and_the_scale():
    s = gaussian((128, 128), sigma=50.0, seed=4)
    low, high = jpeg2000_iq(s, 2.0), jpeg2000_iq(s, 10.0)
    assert low.bits_per_sample == 8 * low.num_bytes / s.size
    assert low.num_bytes > SCALE_BYTES and abs(low.bits_per_sample - 2.0) < 0.2
    assert abs(high.bits_per_sample - 10.0) < 0.5
    assert phase_error_deg(s, high.recon) < phase_error_deg(s, low.recon)
    assert amplitude_psnr_db(s, high.recon) > amplitude_psnr_db(s, low.recon) + 10
    # near-lossless at the top: the 16-bit quantiser's step is max|I, Q| / 32768
    top = jpeg2000_iq(s, 40.0)
    assert np.abs(top.recon - s).max() < 4 * np.abs(np.stack([s.real, s.imag])).max() / 32768
    with pytest.raises(ValueError, match="leaves nothing"):
        jpeg2000_iq(gaussian((4, 4)), 0.5)
