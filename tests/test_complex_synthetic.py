"""Synthetic SLC scenes and interferometric pairs (issue 29): statistics, truth, files."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from sarcomp.data.complex_synthetic import (
    MIN_FRINGE_PX,
    WAVELENGTH_M,
    SLCSettings,
    bowl_phase,
    coherence_map,
    focus,
    generate_complex_dataset,
    interferometric_pair,
    pair_scene,
    phase_pattern,
    psf_transfer,
    slc_scene,
)
from sarcomp.data.rasters import list_rasters
from sarcomp.errors import SarcompError
from tests.helpers import load_script

NO_TARGETS = SLCSettings(targets_per_256=0.0)


def lag1(s: np.ndarray, axis: int) -> float:
    a, b = (s[1:], s[:-1]) if axis == 0 else (s[:, 1:], s[:, :-1])
    return float(np.abs(np.mean(a * np.conj(b))) / np.mean(np.abs(s) ** 2))


def test_slc_scene_is_deterministic_complex_and_correlated_like_real_slcs():
    a, meta = slc_scene(128, 7)
    b, _ = slc_scene(128, 7)
    c, _ = slc_scene(128, 8)
    assert a.dtype == np.complex64 and a.shape == (128, 128) and meta["kind"] == "slc"
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # the real SLC test bands measure 0.54-0.63 (TerraSAR-X, Sentinel-1); white speckle gives ~0
    assert all(0.45 < lag1(a, axis) < 0.65 for axis in (0, 1))


def test_speckle_is_circular_gaussian_with_the_reflectivity_as_power():
    rng = np.random.default_rng(0)
    s1, s2 = interferometric_pair(rng, np.full((256, 256), 4.0), 0.0, 0.0, NO_TARGETS)
    for s in (s1, s2):
        power = np.abs(s) ** 2
        assert abs(power.mean() - 4.0) < 0.15  # E|s|² = R: the transfer function keeps the power
        assert abs(power.std() / power.mean() - 1.0) < 0.05  # one look: exponential intensity
        assert abs(np.mean(s * s)) < 0.1  # circular: no pseudo-covariance
        assert abs(s.real.var() - s.imag.var()) < 0.15


def test_pair_has_the_given_coherence_and_phase():
    rng = np.random.default_rng(1)
    for gamma, delta in ((0.8, 0.7), (0.3, -2.0)):
        s1, s2 = interferometric_pair(rng, np.ones((256, 256)), gamma, delta, NO_TARGETS)
        cross = np.sum(s1 * np.conj(s2))
        estimate = abs(cross) / np.sqrt(np.sum(abs(s1) ** 2) * np.sum(abs(s2) ** 2))
        assert abs(estimate - gamma) < 0.03
        assert abs(np.angle(cross * np.exp(-1j * delta))) < 0.05


def test_transfer_function_keeps_power_and_limits_the_band():
    w = psf_transfer(256, 0.8, 0.7)
    f = np.fft.fftfreq(256)
    assert np.mean(w**2) == pytest.approx(1.0) and np.all(w[np.abs(f) >= 0.4] == 0)
    impulse = np.zeros((64, 64), complex)
    impulse[32, 32] = 1
    response = np.abs(focus(impulse, SLCSettings())) ** 2
    assert np.unravel_index(response.argmax(), response.shape) == (32, 32)
    assert 0 < response[32, 34] < 0.05 * response[32, 32]  # sidelobes, weighted down by Hamming
    with pytest.raises(ValueError, match="bandwidth"):
        psf_transfer(8, 1.5, 0.7)


def test_phase_patterns():
    bowl = bowl_phase((65, 65), 0.05, 10.0, (32, 32))
    assert bowl.min() == pytest.approx(-4 * np.pi * 0.05 / WAVELENGTH_M) == bowl[32, 32]
    rng = np.random.default_rng(3)
    topo, meta = phase_pattern(rng, 256, "topo")
    assert meta["height_of_ambiguity_m"] > 0
    assert np.hypot(*np.gradient(topo)).max() <= 2 * np.pi / MIN_FRINGE_PX + 1e-9
    both, meta = phase_pattern(rng, 128, "bowl+topo")
    assert {"bowl_depth_m", "relief_m"} <= set(meta) and np.ptp(both) > 2 * np.pi
    with pytest.raises(ValueError, match="unknown phase pattern"):
        phase_pattern(rng, 64, "ramp")


def test_coherence_follows_the_land_cover():
    classes = np.repeat(np.array([0, 2, 3], np.uint8), 64)[None, :].repeat(192, 0)
    gamma = coherence_map(np.random.default_rng(0), classes)
    field, urban, water = (gamma[:, 64 * k + 16 : 64 * k + 48].mean() for k in range(3))
    assert water < 0.2 < field < urban and gamma.max() <= np.float32(0.98) and gamma.min() >= 0


def test_pair_scene_truth_and_determinism():
    s1, s2, truth, meta = pair_scene(96, 5, "topo")
    again = pair_scene(96, 5, "topo")
    assert s1.dtype == s2.dtype == np.complex64 and meta["pattern"] == "topo"
    assert np.array_equal(s1, again[0]) and np.array_equal(truth["phase"], again[2]["phase"])
    assert truth["phase"].dtype == truth["coherence"].dtype == np.float32
    assert np.ptp(truth["phase"]) > 2 * np.pi  # fringes over the whole scene
    # the interferogram less the true phase, averaged over 4x4 blocks, is near 0 where coherent
    residual = (s1 * np.conj(s2) * np.exp(-1j * truth["phase"])).reshape(24, 4, 24, 4).sum(axis=(1, 3))
    coherent = truth["coherence"].reshape(24, 4, 24, 4).mean(axis=(1, 3)) > 0.6
    assert np.median(np.abs(np.angle(residual[coherent]))) < np.radians(20)


def test_dataset_files_are_deterministic_and_truth_is_kept_apart(tmp_path):
    counts = {"train": 1, "val": 1, "test": 0}
    written = generate_complex_dataset(tmp_path, counts, pairs=1, size=64, seed=2)
    assert len(written) == 6
    assert [p.name for p in list_rasters(tmp_path / "train")] == ["slc_0000.tif"]
    assert [p.name for p in list_rasters(tmp_path / "pairs")] == ["pair_0000_1.tif", "pair_0000_2.tif"]
    with rasterio.open(tmp_path / "pairs" / "pair_0000_2.tif") as ds:
        assert ds.dtypes[0] == "complex64" and ds.tags()["PATTERN"] == "bowl" and ds.crs is not None
    with rasterio.open(tmp_path / "pairs" / "truth" / "pair_0000_phase.tif") as ds:
        assert ds.dtypes[0] == "float32"
    assert generate_complex_dataset(tmp_path, counts, pairs=1, size=64, seed=2) == []  # kept
    with pytest.raises(SarcompError, match="differ from what the generator writes"):
        generate_complex_dataset(tmp_path, counts, pairs=1, size=64, seed=3)
    assert len(generate_complex_dataset(tmp_path, counts, pairs=1, size=64, seed=3, overwrite=True)) == 6


def test_script_writes_the_data_set_and_its_checksums(tmp_path, capsys):
    script = load_script("scripts/make_complex_synthetic.py")
    args = ["--root", str(tmp_path), "--size", "64", "--train", "1", "--val", "1", "--test", "1"]
    assert script.main([*args, "--pairs", "1"]) == 0
    sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 7 and any(line.endswith("pairs/truth/pair_0000_coherence.tif") for line in sums)
    assert "7 file(s) written" in capsys.readouterr().out
