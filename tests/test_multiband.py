"""Several bands of one raster in one ``.sarc`` file (``--bands``): round trips keep band order,
descriptions and per-band clip ranges; each band is coded exactly as a single-band file codes it;
single-band files do not change; bad ``--bands`` values are one-line errors."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from sarcomp.api import compress, decompress
from sarcomp.codec.bands import BandTable, band_views
from sarcomp.codec.commands import info_lines, main
from sarcomp.codec.container import FLAG_BANDS, write_container
from sarcomp.codec.decompressor import decompress_file
from sarcomp.codec.sarcfile import open_sarc
from sarcomp.codec.scene import compress_file
from sarcomp.errors import BitstreamError, SarcompError
from tests.helpers import REPO
from tests.test_scene_codec import _checkpoint

NODATA = -9999.0
NAMES = ("HH", "HV", "VV")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", 0)


@pytest.fixture(scope="module")
def three_bands(tmp_path_factory) -> Path:
    """A 3-band intensity raster whose bands differ in level by 10 dB each, band 2 with nodata."""
    path = tmp_path_factory.mktemp("scene") / "pol.tif"
    rng = np.random.default_rng(3)
    rr, cc = np.mgrid[0:70, 0:90]
    texture = 1.5 + np.sin(rr / 9.0) * np.cos(cc / 13.0)
    bands = np.stack([10.0**-k * texture * rng.gamma(4.0, 0.25, rr.shape) for k in range(3)])
    bands = bands.astype(np.float32)
    bands[1, :10, :20] = NODATA
    profile = dict(driver="GTiff", dtype="float32", width=90, height=70, count=3, nodata=NODATA)
    profile.update(crs="EPSG:32633", transform=from_origin(500000.0, 4600000.0, 10.0, 10.0))
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands)
        for k, name in enumerate(NAMES, 1):
            ds.set_band_description(k, name)
    return path


def _compress(ckpt: Path, src: Path, dst: Path, **kw) -> dict:
    return compress_file(src, dst, ckpt, tile=32, device="cpu", progress=False, units="intensity", **kw)


def _strings(path: Path) -> list[bytes]:
    """Each band's tile strings, in file order."""
    fh, header, offset = open_sarc(path)
    with fh:
        out = []
        for view, start in band_views(header, offset):
            fh.seek(start)
            out.append(fh.read(sum(view.lengths)))
    return out


@pytest.mark.parametrize("bands", [[3, 1], [2, 3, 1]])
def test_bands_round_trip_in_order_with_descriptions_and_their_own_ranges(ckpt, three_bands, tmp_path, bands):
    sarc, out = tmp_path / "pol.sarc", tmp_path / "pol_out.tif"
    result = _compress(ckpt, three_bands, sarc, bands=bands)
    assert result["bands"] == bands and len(result["ranges"]) == len(bands)
    assert result["bpp"] == pytest.approx(8 * result["bytes"] / (70 * 90 * len(bands)))
    decompress_file(sarc, out, device="cpu", progress=False)
    with rasterio.open(three_bands) as a, rasterio.open(out) as b:
        assert b.count == len(bands) and b.descriptions == tuple(NAMES[k - 1] for k in bands)
        assert b.crs == a.crs and b.transform == a.transform and b.nodata == NODATA
        assert b.dtypes == ("float32",) * len(bands) and b.units == ("linear intensity",) * len(bands)
        for k, band in enumerate(bands, 1):
            ref, dec = a.read(band), b.read(k)
            valid = ref != NODATA
            assert np.array_equal(dec == NODATA, ~valid)  # each band its own nodata mask
            ratio = np.median(dec[valid] / ref[valid])
            assert 0.2 < ratio < 5  # the band's own level (bands differ by 10x): its own clip range
    fh, header, _ = open_sarc(sarc)
    fh.close()
    los = [e.lo for e in header.band_table.entries]
    assert [e.source for e in header.band_table.entries] == bands and len(set(los)) == len(bands)
    text = "\n".join(info_lines(sarc))
    assert f"bands: {len(bands)} in one file" in text and f"x {len(bands)} bands" in text
    assert f"band 1: source band {bands[0]} '{NAMES[bands[0] - 1]}'" in text


def test_each_band_is_coded_as_its_single_band_file_and_single_files_are_unchanged(
    ckpt, three_bands, tmp_path
):
    multi = tmp_path / "multi.sarc"
    _compress(ckpt, three_bands, multi, bands=[2, 1])
    singles = []
    for band in (2, 1):
        single = tmp_path / f"b{band}.sarc"
        _compress(ckpt, three_bands, single, band=band)
        again = tmp_path / f"again{band}.sarc"
        _compress(ckpt, three_bands, again, bands=[band])  # one band: today's single-band file
        assert again.read_bytes() == single.read_bytes()
        assert single.read_bytes()[5] & FLAG_BANDS == 0
        singles.append(_strings(single)[0])
    assert _strings(multi) == singles
    fh, header, _ = open_sarc(tmp_path / "b2.sarc")
    fh.close()
    assert header.bands == 1 and header.band_table is None


@pytest.mark.parametrize(
    ("value", "message"), [("1,4", "band 4 outside 1..3"), ("2,2", "named twice"), ("1,x", "band numbers")]
)
def test_bad_bands_are_one_line_errors(ckpt, three_bands, tmp_path, capsys, value, message):
    dst = tmp_path / "bad.sarc"
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(three_bands), str(dst), "--model", str(ckpt), "--bands", value, "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1 and not dst.exists()


def test_band_and_bands_together_are_refused(ckpt, three_bands, tmp_path):
    with pytest.raises(SarcompError, match="not both"):
        _compress(ckpt, three_bands, tmp_path / "x.sarc", band=1, bands=[1, 2])


def test_api_codes_a_bands_first_array_and_decodes_it_back(ckpt):
    rng = np.random.default_rng(1)
    array = np.stack([rng.gamma(4.0, 0.25, (48, 40)) * s for s in (1.0, 0.01)]).astype(np.float32)
    coded = compress(array, ckpt, units="intensity", tile=32, device="cpu")
    assert coded.header.bands == 2 and coded.bpp == pytest.approx(8 * len(coded.data) / (48 * 40 * 2))
    decoded = decompress(coded.data, ckpt, device="cpu")
    assert decoded.array.shape == (2, 48, 40) and decoded.valid.shape == (2, 48, 40)
    ratio = np.median(decoded.array / array, axis=(1, 2))
    assert np.all((ratio > 0.2) & (ratio < 5))


def test_spain_vv_vh_in_one_file(shared_sar, ckpt, tmp_path):
    src = shared_sar / "sentinel1_grd_vv_vh_db_spain.tif"
    sarc, out = tmp_path / "spain.sarc", tmp_path / "spain.tif"
    result = compress_file(
        src, sarc, ckpt, bands=[1, 2], tile=128, device="cpu", progress=False, band_specs=_specs()
    )
    assert result["bands"] == [1, 2] and result["dropped"] == []
    decompress_file(sarc, out, device="cpu", progress=False)
    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert b.count == 2 and a.crs == b.crs and a.transform == b.transform and b.units == ("dB", "dB")
        assert b.descriptions == a.descriptions[:2]
        for k in (1, 2):
            ref, dec = a.read(k), b.read(k)
            ok = np.isfinite(ref) & np.isfinite(dec)
            assert ok.mean() > 0.5 and np.abs(ref[ok] - dec[ok]).mean() < 10  # dB in, dB out (untrained)


def _specs() -> Path:
    return REPO / "configs" / "bands" / "shared_sar.yaml"


def _rewritten(path: Path, **changes) -> bytes:
    """The file at ``path`` with its header changed and a valid CRC (what a hostile writer could make)."""
    fh, header, offset = open_sarc(path)
    with fh:
        fh.seek(offset)
        strings = fh.read(sum(header.lengths))
    buf = io.BytesIO()
    write_container(buf, replace(header, **changes), [strings])
    return buf.getvalue()


def test_a_bad_band_table_is_a_one_line_error(ckpt, three_bands, tmp_path):
    sarc = tmp_path / "pol.sarc"
    _compress(ckpt, three_bands, sarc, bands=[1, 2])
    fh, header, _ = open_sarc(sarc)
    fh.close()
    first, second = header.band_table.entries
    cases = {
        "twice": BandTable((first, replace(second, source=first.source))),
        "disagrees": BandTable((replace(first, lo=first.lo - 1), second)),
        "invalid band scaling": BandTable((first, replace(second, hi=second.lo))),
        "clipped shares": BandTable((first, replace(second, clipped_high=2.0))),
    }
    for message, table in cases.items():
        bad = tmp_path / "bad.sarc"
        bad.write_bytes(_rewritten(sarc, band_table=table))
        with pytest.raises(BitstreamError, match=message) as exc:
            open_sarc(bad)
        assert str(bad) in str(exc.value) and "\n" not in str(exc.value)


def test_many_files_with_bands(ckpt, three_bands, tmp_path, capsys):
    out = tmp_path / "out"
    main(["compress", str(three_bands), "-o", str(out), "--mkdir", "--model", str(ckpt), "--bands", "1,3"])
    fh, header, _ = open_sarc(out / "pol.sarc")
    fh.close()
    assert header.bands == 2 and "all 1 of 1" in capsys.readouterr().out


def test_a_later_band_alone_with_missing_pixels_decodes_them_as_nan(ckpt, tmp_path):
    src, sarc, out = tmp_path / "nan.tif", tmp_path / "nan.sarc", tmp_path / "nan_out.tif"
    values = np.random.default_rng(2).gamma(4.0, 0.25, (2, 40, 48)).astype(np.float32)
    values[1, :8, :8] = np.nan  # no nodata value: only the second band has missing pixels
    with rasterio.open(src, "w", driver="GTiff", dtype="float32", width=48, height=40, count=2) as ds:
        ds.write(values)
    _compress(ckpt, src, sarc, bands=[1, 2])
    decompress_file(sarc, out, device="cpu", progress=False)
    with rasterio.open(out) as b:
        first, second = b.read(1), b.read(2)
    assert np.isfinite(first).all() and np.array_equal(np.isnan(second), np.isnan(values[1]))


def test_a_constant_band_is_refused_naming_it(ckpt, tmp_path):
    src = tmp_path / "flat.tif"
    values = np.random.default_rng(4).gamma(4.0, 0.25, (2, 40, 48)).astype(np.float32)
    values[1] = 0.0
    with rasterio.open(src, "w", driver="GTiff", dtype="float32", width=48, height=40, count=2) as ds:
        ds.write(values)
    with pytest.raises(SarcompError, match="flat.tif band 2: every valid pixel has the same value"):
        _compress(ckpt, src, tmp_path / "flat.sarc", bands=[1, 2])
