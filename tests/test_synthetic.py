"""Tests for the synthetic SAR scene generator (sarcomp.data.synthetic)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from sarcomp.data import speckle, terrain  # noqa: E402
from sarcomp.data import synthetic as syn  # noqa: E402
from sarcomp.data import synthetic_tiff as tiff  # noqa: E402


def _read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(1), {
            "crs": ds.crs,
            "transform": ds.transform,
            "count": ds.count,
            "dtype": ds.dtypes[0],
            "tags": ds.tags(),
        }


def test_config_defaults() -> None:
    cfg = syn.SyntheticConfig()
    assert cfg.size == 512 and cfg.looks == (1, 4) and cfg.seed == 0
    assert cfg.counts == {"train": 16, "val": 4, "test": 4}


def test_scene_is_deterministic_per_seed() -> None:
    a, meta_a = syn.generate_scene(128, 1, 7)
    b, meta_b = syn.generate_scene(128, 1, 7)
    c, _ = syn.generate_scene(128, 1, 8)
    assert a.dtype == np.float32 and a.shape == (128, 128)
    np.testing.assert_array_equal(a, b)
    assert meta_a == meta_b and meta_a["looks"] == 1 and meta_a["seed"] == 7
    assert not np.array_equal(a, c)
    r1 = terrain.generate_reflectivity(np.random.default_rng(3), 96)
    r2 = terrain.generate_reflectivity(np.random.default_rng(3), 96)
    np.testing.assert_array_equal(r1, r2)


def test_looks_only_change_the_speckle() -> None:
    one, _ = syn.generate_scene(128, 1, 5)
    four, meta = syn.generate_scene(128, 4, 5)
    assert meta["looks"] == 4
    # same reflectivity underneath: strongly correlated in dB, but not identical
    assert not np.array_equal(one, four)
    r = np.corrcoef(np.log(one).ravel(), np.log(four).ravel())[0, 1]
    assert r > 0.3


@pytest.mark.parametrize("correlation", [0.0, speckle.SPECKLE_CORRELATION])
@pytest.mark.parametrize("looks", [1, 4])
def test_speckle_enl_matches_looks(looks: int, correlation: float) -> None:
    rng = np.random.default_rng(123)
    refl = np.full((256, 256), 0.05, np.float32)
    speckled = speckle.apply_speckle(rng, refl, looks, correlation)
    assert speckled.dtype == np.float32 and speckled.shape == refl.shape
    speckled = speckled.astype(np.float64)
    mean, var = speckled.mean(), speckled.var()
    assert mean == pytest.approx(0.05, rel=0.03)
    assert mean**2 / var == pytest.approx(looks, rel=0.1)


def test_speckle_correlation_is_spatial_only() -> None:
    rng = np.random.default_rng(0)
    white = speckle.apply_speckle(rng, np.ones((256, 256)), 1, 0.0)
    corr = speckle.apply_speckle(rng, np.ones((256, 256)), 1, speckle.SPECKLE_CORRELATION)

    def lag1(x: np.ndarray) -> float:
        x = x - x.mean()
        return float((x[:, 1:] * x[:, :-1]).mean() / x.var())

    assert abs(lag1(white)) < 0.05
    assert 0.35 < lag1(corr) < 0.65  # Sentinel-1 GRD is ~0.5
    with pytest.raises(ValueError):
        speckle.apply_speckle(rng, np.ones((4, 4)), 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scene_has_bright_targets_and_dark_water(seed: int) -> None:
    refl = terrain.generate_reflectivity(np.random.default_rng(seed), 128)
    assert np.isfinite(refl).all() and (refl > 0).all()
    med = np.median(refl)
    assert refl.max() / med > 100  # point targets +10..+30 dB
    assert np.percentile(refl, 1) < 0.2 * med  # water ~10 dB below fields

    scene, meta = syn.generate_scene(256, 1 + 3 * (seed % 2), seed)
    assert np.isfinite(scene).all() and (scene > 0).all()
    assert scene.max() / np.median(scene) > 100
    assert meta["frac_water"] > 0 and meta["targets"] > 0
    fracs = [meta[f"frac_{name}"] for name in terrain.CLASS_NAMES]
    assert sum(fracs) == pytest.approx(1.0, abs=1e-3)


def test_tiny_scene_sizes_work() -> None:
    for size in (16, 33, 64):
        scene, _ = syn.generate_scene(size, 4, size)
        assert scene.shape == (size, size)
        assert np.isfinite(scene).all() and (scene > 0).all()


def test_write_scene_roundtrip(tmp_path: Path) -> None:
    scene, meta = syn.generate_scene(64, 4, 11)
    path = tmp_path / "sub" / "scene_0000.tif"
    tiff.write_scene(path, scene, meta, index=0)
    data, info = _read(path)
    assert info["count"] == 1 and info["dtype"] == "float32"
    assert info["crs"] is not None and info["crs"].to_epsg() == 32633
    assert info["transform"].a == pytest.approx(tiff.PIXEL_SIZE_M)
    assert info["transform"].e == pytest.approx(-tiff.PIXEL_SIZE_M)
    assert info["tags"]["LOOKS"] == "4" and info["tags"]["SEED"] == "11"
    np.testing.assert_array_equal(data, scene)
    assert [p.name for p in path.parent.iterdir()] == ["scene_0000.tif"]  # no temp left

    other = tmp_path / "scene_0001.tif"
    tiff.write_scene(other, scene, meta, index=1)
    assert _read(other)[1]["transform"] != info["transform"]  # distinct origin


def test_generate_dataset_is_idempotent(tmp_path: Path) -> None:
    counts = {"train": 2, "val": 1, "test": 1}
    written = syn.generate_dataset(tmp_path, counts, size=48, looks=(1, 4), seed=3)
    expected = [
        tmp_path / "train" / "scene_0000.tif",
        tmp_path / "train" / "scene_0001.tif",
        tmp_path / "val" / "scene_0000.tif",
        tmp_path / "test" / "scene_0000.tif",
    ]
    assert written == expected and all(p.is_file() for p in expected)
    mtimes = {p: p.stat().st_mtime_ns for p in expected}

    assert syn.generate_dataset(tmp_path, counts, size=48, looks=(1, 4), seed=3) == []
    assert {p: p.stat().st_mtime_ns for p in expected} == mtimes

    arrays = {p: _read(p)[0] for p in expected}
    tags = {p: _read(p)[1] for p in expected}
    for i, p in enumerate(expected):
        assert tags[p]["tags"]["LOOKS"] in {"1", "4"}
        for q in expected[i + 1 :]:
            assert not np.array_equal(arrays[p], arrays[q])
            assert tags[p]["tags"]["SEED"] != tags[q]["tags"]["SEED"]
            assert tags[p]["transform"] != tags[q]["transform"]

    # per-scene seeds depend on (seed, split, index) only
    assert syn.scene_seed(3, "val", 0) == int(tags[expected[2]]["tags"]["SEED"])
    assert syn.scene_seed(3, "val", 0) != syn.scene_seed(3, "test", 0)
    assert syn.scene_seed(3, "val", 0) != syn.scene_seed(4, "val", 0)

    rewritten = syn.generate_dataset(tmp_path, {"val": 1}, size=48, seed=3, overwrite=True)
    assert rewritten == [expected[2]]
    np.testing.assert_array_equal(_read(expected[2])[0], arrays[expected[2]])


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "make_synthetic.py"
    main = runpy.run_path(str(script))["main"]
    args = ["--root", str(tmp_path), "--size", "32", "--train", "2", "--val", "1", "--test", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 4 and out[0].startswith("wrote ") and "3 written" in out[-1]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "0 written, 3 kept" in out[0]
