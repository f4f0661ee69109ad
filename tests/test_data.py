"""Reading rasters, masks, complex data, the dB representation and tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarcomp.data.loaders import scene_paths
from sarcomp.data.rasters import BandSpec, open_raster, read_window
from sarcomp.data.representation import Representation, Scaling
from sarcomp.data.tiles import GridTiles, RandomTiles, Scene, grid_windows, spread_counts
from sarcomp.errors import RasterError
from tests.helpers import write_tif


# ---------------------------------------------------------------- representation round trips
@pytest.mark.parametrize("units", ["intensity", "amplitude", "db"])
def test_representation_round_trip_is_exact_inside_range(units):
    rep = Representation(units=units, db_range=(-30.0, 10.0))
    level = np.linspace(-29.5, 9.5, 101)
    values = {"intensity": 10 ** (level / 10), "amplitude": 10 ** (level / 20), "db": level}[units]
    scaling = rep.scaling(values, np.ones_like(values, bool))
    unit = rep.to_unit(values, scaling)
    assert unit.dtype == np.float32 and unit.min() >= 0 and unit.max() <= 1
    np.testing.assert_allclose(rep.from_unit(unit, scaling), values, rtol=1e-5, atol=1e-6)


def test_representation_clips_outside_range_and_floors_zero():
    rep = Representation(units="intensity", db_range=(-30.0, 10.0))
    unit = rep.to_unit(np.array([0.0, 1e-9, 1e6]), Scaling(-30.0, 10.0))
    np.testing.assert_array_equal(unit, [0.0, 0.0, 1.0])


def test_percentile_scaling_is_recorded_and_inverts():
    rep = Representation(units="intensity", db_range=None, percentiles=(1.0, 99.0))
    values = np.random.default_rng(0).gamma(1.0, 1.0, size=10_000)
    scaling = rep.scaling(values, np.ones_like(values, bool))
    level = 10 * np.log10(values)
    assert scaling.lo == pytest.approx(np.percentile(level, 1))
    inside = (level > scaling.lo) & (level < scaling.hi)
    back = rep.from_unit(rep.to_unit(values, scaling), scaling)
    np.testing.assert_allclose(back[inside], values[inside], rtol=1e-5)


def test_display8_round_trip():
    rep = Representation(units="display8")
    values = np.arange(256, dtype=np.float64)
    s = rep.scaling(values, np.ones_like(values, bool))
    np.testing.assert_allclose(rep.from_unit(rep.to_unit(values, s), s), values, atol=1e-4)


def test_auto_units():
    rep = Representation(units="auto", db_range=None, percentiles=(1, 99))
    assert rep.resolve("uint8", np.array([3.0])).units == "display8"
    assert rep.resolve("complex64", np.array([3.0])).units == "intensity"
    assert rep.resolve("float32", np.array([-20.0, -3.0])).units == "db"
    assert rep.resolve("float32", np.array([0.1, 3.0])).units == "intensity"


# ---------------------------------------------------------------- raster reading
def test_nodata_nan_and_inf_are_masked(tmp_path):
    data = np.ones((8, 8), np.float32)
    data[0, 0], data[1, 1], data[2, 2] = -99, np.nan, np.inf
    with open_raster(write_tif(tmp_path / "a.tif", data, nodata=-99)) as ds:
        values, valid = read_window(ds, BandSpec())
    assert valid.sum() == 61 and not valid[0, 0] and not valid[1, 1] and not valid[2, 2]


def test_complex_to_intensity_and_amplitude(tmp_path):
    data = (np.full((4, 4), 3.0) + 4.0j * np.ones((4, 4))).astype(np.complex64)
    path = write_tif(tmp_path / "slc.tif", data)
    with open_raster(path) as ds:
        assert np.allclose(read_window(ds, BandSpec())[0], 25.0)
        assert np.allclose(read_window(ds, BandSpec(complex_to="amplitude"))[0], 5.0)
        with pytest.raises(RasterError, match="complex"):
            read_window(ds, BandSpec(complex_to="error"))


def test_two_real_bands_as_iq(tmp_path):
    data = np.stack([np.full((4, 4), 3.0), np.full((4, 4), -4.0)]).astype(np.float32)
    with open_raster(write_tif(tmp_path / "iq.tif", data)) as ds:
        values, _ = read_window(ds, BandSpec(bands=(1, 2), iq=True))
    assert np.allclose(values, 25.0)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32", "float64"])
def test_real_dtypes_read_as_float64(tmp_path, dtype):
    data = (np.arange(16).reshape(4, 4) + 1).astype(dtype)
    with open_raster(write_tif(tmp_path / f"{dtype}.tif", data)) as ds:
        values, valid = read_window(ds, BandSpec())
    assert values.dtype == np.float64 and valid.all() and np.array_equal(values, data.astype(np.float64))


def test_bad_inputs_give_one_line_errors(tmp_path):
    with pytest.raises(RasterError, match="file not found"):
        open_raster(tmp_path / "missing.tif")
    (tmp_path / "text.tif").write_text("not a raster")
    with pytest.raises(RasterError, match="not a readable raster"):
        open_raster(tmp_path / "text.tif")
    path = write_tif(tmp_path / "one.tif", np.ones((4, 4), np.float32))
    with open_raster(path) as ds, pytest.raises(RasterError, match="band 2 out of range"):
        read_window(ds, BandSpec(bands=(2,)))
    nodata = write_tif(tmp_path / "empty.tif", np.full((4, 4), -99, np.float32), nodata=-99)
    with pytest.raises(RasterError, match="all pixels are nodata"):
        Scene.load(nodata, BandSpec(), Representation())


# ---------------------------------------------------------------- tiles
def test_grid_windows_cover_image_exactly():
    for h, w in [(96, 96), (100, 70), (20, 300)]:
        covered = np.zeros((h, w), int)
        for r, c, th, tw in grid_windows(h, w, 32, 32):
            covered[r : r + th, c : c + tw] += 1
        assert covered.min() == 1 and covered.max() == 1


def test_grid_tiles_pad_and_mask_small_images(tmp_path):
    path = write_tif(
        tmp_path / "small.tif", np.random.default_rng(0).gamma(1, 1, (20, 30)).astype(np.float32)
    )
    tiles = GridTiles([Scene.load(path, BandSpec(), Representation())], tile_size=32)
    item = tiles[0]
    assert item["x"].shape == (1, 32, 32) and item["mask"][0, :20, :30].all()
    assert not item["mask"][0, 20:].any() and not item["mask"][0, :, 30:].any()


def test_random_tiles_are_deterministic_and_skip_small_scenes(tiny_data, tmp_path, caplog):
    small = write_tif(tmp_path / "small.tif", np.ones((16, 16), np.float32))
    scenes = [Scene.load(p, BandSpec(), Representation()) for p in scene_paths(tiny_data, "train")]
    scenes.append(Scene.load(small, BandSpec(), Representation()))
    a = RandomTiles(scenes, 32, samples=4, seed=1)
    b = RandomTiles(scenes, 32, samples=4, seed=1)
    assert "smaller than one 32 tile" in caplog.text
    assert torch.equal(a[2]["x"], b[2]["x"])
    assert a[2]["x"].shape == (1, 32, 32) and 0 <= a[2]["x"].min() and a[2]["x"].max() <= 1
    a.epoch = 1
    assert not torch.equal(a[2]["x"], b[2]["x"])


def test_flat_folder_split_by_scene(tmp_path):
    for i in range(10):
        write_tif(tmp_path / f"s{i}.tif", np.ones((4, 4), np.float32))
    train, val = scene_paths(tmp_path, "train"), scene_paths(tmp_path, "val")
    assert len(val) == 2 and not set(train) & set(val) and len(scene_paths(tmp_path, "test")) == 10


# ---------------------------------------------------------------- the real files in ../shared/sar
EXPECTED_UNITS = {
    "terrasarx_slc.tif": "intensity",  # complex64 -> |s|^2
    "terrasarx_display_8bit.png": "display8",
    "sentinel1_grd_vv_db_geocoded.tif": "db",  # nodata -99
    "sentinel1_grd_vv_vh_db_spain.tif": "db",  # NaN nodata, two bands
}


def test_shared_sar_files_load(shared_sar):
    rep = Representation(units="auto", db_range=None, percentiles=(1.0, 99.0))
    for path in sorted(shared_sar.glob("*.tif")) + sorted(shared_sar.glob("*.png")):
        if path.name.startswith("sentinel1_slc_"):  # I/Q in two bands: auto refuses it (test_bandspecs)
            continue
        scene = Scene.load(path, BandSpec(), rep)
        if path.name in EXPECTED_UNITS:
            assert scene.representation.units == EXPECTED_UNITS[path.name], path.name
        tiles = GridTiles([scene], tile_size=64)
        item = tiles[len(tiles) - 1]
        assert item["x"].shape == (1, 64, 64)
        assert torch.isfinite(item["x"]).all() and 0 <= item["x"].min() and item["x"].max() <= 1
        assert scene.scaling.hi > scene.scaling.lo


def test_shared_sar_masks_and_round_trip(shared_sar):
    rep = Representation(units="auto", db_range=None, percentiles=(1.0, 99.0))
    geo = Scene.load(shared_sar / "sentinel1_grd_vv_db_geocoded.tif", BandSpec(), rep)
    spain = Scene.load(shared_sar / "sentinel1_grd_vv_vh_db_spain.tif", BandSpec(bands=(2,)), rep)
    # both declare nodata (-99 and NaN) although no pixel holds it; masks are tested on written files
    assert geo.info.nodata == -99 and np.isnan(spain.info.nodata)
    with open_raster(geo.path) as ds:
        values, valid = read_window(ds, geo.spec)
    assert not np.any(values[valid] == -99)
    level = values[valid]
    inside = (level > geo.scaling.lo) & (level < geo.scaling.hi)
    back = geo.representation.from_unit(geo.representation.to_unit(level, geo.scaling), geo.scaling)
    np.testing.assert_allclose(back[inside], level[inside], atol=1e-4)
    slc = Scene.load(
        shared_sar / "sentinel1_slc_cargo_chip_29087_y5288.tif",
        BandSpec(bands=(1, 2), iq=True),
        Representation(units="intensity"),
    )
    with open_raster(slc.path) as ds:
        values, valid = read_window(ds, slc.spec)
    assert valid.all() and values.min() >= 0 and values.shape == (157, 157)


# ---------------------------------------------------------------- validation composition
def test_capped_grid_samples_every_scene_not_a_prefix(tmp_path):
    """The validation cap must take tiles from every scene (a mix's real scenes come after its
    synthetic ones): a ``[:max_tiles]`` prefix of the scene list would keep only the first two."""
    rng = np.random.default_rng(0)
    big = [
        write_tif(tmp_path / f"synthetic_{i}.tif", rng.gamma(1, 1, (64, 64)).astype(np.float32))
        for i in range(3)
    ]
    small = [
        write_tif(tmp_path / f"real_{i}.tif", rng.gamma(1, 1, (20, 40)).astype(np.float32)) for i in range(4)
    ]
    scenes = [Scene.load(p, BandSpec(), Representation()) for p in big + small]
    tiles = GridTiles(scenes, tile_size=16, max_tiles=10)
    per_scene = np.bincount([k for k, *_ in tiles.items], minlength=len(scenes))
    assert len(tiles) == 10
    # real scenes have 2x3 = 6 tiles each and the synthetic 16: every scene gets one or two
    assert per_scene.min() >= 1 and per_scene.max() - per_scene.min() <= 1
    # a scene's tiles are spread over it, not its first rows
    grid = GridTiles(scenes[:1], tile_size=16, max_tiles=4)
    assert [row for _, row, *_ in grid.items] == [0, 16, 32, 48]


@pytest.mark.parametrize(
    ("sizes", "cap", "expected"),
    [
        ([16, 16, 2, 2], 12, [4, 4, 2, 2]),
        ([16, 16], None, [16, 16]),
        ([3, 1], 10, [3, 1]),
        ([5, 5, 5], 4, [2, 1, 1]),
    ],
)
def test_spread_counts_share_the_cap(sizes, cap, expected):
    assert spread_counts(sizes, cap) == expected
