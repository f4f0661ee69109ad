"""The clip range follows the scene (issue 23, part 1): uncalibrated, calibrated, dB and nodata rasters
round-trip through a shipped model at a sane PSNR with small clipped shares; ``--range model`` on
uncalibrated digital numbers clips most pixels and warns; ``--range=LO,HI`` is honoured; ``sarcomp
info`` shows the range, its rule and the clipped shares; evaluation codes a scene as compress does."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sarcomp.codec.commands import info_lines, main
from sarcomp.codec.container import FLAG_GEO, iter_strings, write_container
from sarcomp.codec.decompressor import decompress_file
from sarcomp.codec.sarcfile import open_sarc
from sarcomp.codec.scaling import CLIP_WARN, RangeRule, parse_range
from sarcomp.codec.scene import compress_file
from sarcomp.data.representation import Representation
from sarcomp.errors import SarcompError
from tests.helpers import write_tif

MODEL = "baseline-ms-s8-l01"  # a shipped model: loads without training
SIZE = (96, 128)


def _texture(seed: int) -> np.ndarray:
    """Fields, a bright block and speckle: a linear intensity around 1 (0 dB), ~30 dB of contrast."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    base = 10 ** ((6 * np.sin(rr / 9.0) * np.cos(cc / 13.0) + 3 * (cc > 64)) / 10)
    base[20:40, 30:50] *= 100.0  # buildings: +20 dB
    return base * rng.gamma(4.0, 0.25, SIZE)


def uncalibrated_amplitude(path: Path) -> Path:
    """GRD-like digital numbers: uint16 amplitude, DN 0..4000 (levels ~35..72 dB)."""
    dn = np.clip(np.rint(300 * np.sqrt(_texture(0))), 0, 4000).astype(np.uint16)
    assert dn.max() == 4000 and dn.min() < 100
    return write_tif(path, dn)


def calibrated_intensity(path: Path) -> Path:
    """Calibrated sigma nought, linear intensity (levels ~ -25..+5 dB)."""
    return write_tif(path, (0.02 * _texture(1)).astype(np.float32))


def db_product(path: Path) -> Path:
    """Backscatter already in dB (float32, negative values)."""
    return write_tif(path, (10 * np.log10(0.02 * _texture(2))).astype(np.float32))


def with_nodata(path: Path) -> Path:
    """Calibrated intensity with a nodata corner (-9999)."""
    values = (0.02 * _texture(3)).astype(np.float32)
    values[:30, :40] = -9999.0
    return write_tif(path, values, nodata=-9999.0)


SCENES = {
    "uncalibrated": (uncalibrated_amplitude, "amplitude"),
    "calibrated": (calibrated_intensity, "intensity"),
    "db": (db_product, "db"),
    "nodata": (with_nodata, "intensity"),
}


def _round_trip(src: Path, tmp: Path, units: str, tag: str = "", **kw) -> tuple[dict, float]:
    """Compress and decompress ``src`` (to ``<stem><tag>.sarc``); return compress's result and the PSNR
    of the decoded levels against the source's (dB domain, peak = the source's level span, over
    valid pixels)."""
    sarc, out = tmp / f"{src.stem}{tag}.sarc", tmp / f"{src.stem}{tag}_out.tif"
    enc = compress_file(src, sarc, MODEL, tile=64, device="cpu", progress=False, units=units, **kw)
    decompress_file(sarc, out, device="cpu", progress=False)
    rep = Representation(units=units)
    with rasterio.open(src) as a, rasterio.open(out) as b:
        valid = a.read_masks(1) > 0
        ref, dec = rep.to_level(a.read(1))[valid], rep.to_level(b.read(1))[valid]
        assert np.array_equal(b.read_masks(1) > 0, valid)  # nodata stays nodata
    rmse = float(np.sqrt(np.mean((ref - dec) ** 2)))
    return enc, 20 * math.log10((ref.max() - ref.min()) / rmse)


@pytest.mark.parametrize("kind", list(SCENES))
def test_scene_range_round_trips_every_kind(kind, tmp_path, cached_models, caplog):
    make, units = SCENES[kind]
    src = make(tmp_path / f"{kind}.tif")
    with caplog.at_level(logging.WARNING, logger="sarcomp.codec.scaling"):
        enc, psnr = _round_trip(src, tmp_path, units)
    assert psnr > 25, (kind, psnr, enc["range"])
    assert enc["clipped_low"] <= CLIP_WARN and enc["clipped_high"] <= CLIP_WARN
    assert enc["clipped_low"] + enc["clipped_high"] > 0  # measured, not assumed
    assert "scene percentiles" in enc["range"]
    assert not [r for r in caplog.records if r.name == "sarcomp.codec.scaling"]  # no clipping warning


def test_model_range_on_digital_numbers_clips_and_warns(tmp_path, cached_models, caplog):
    src = uncalibrated_amplitude(tmp_path / "dn.tif")
    with caplog.at_level(logging.WARNING, logger="sarcomp.codec.scaling"):
        enc, psnr = _round_trip(src, tmp_path, "amplitude", "_model", range_rule="model")
    assert enc["clipped_high"] > 0.9 and psnr < 15  # [-30, 10] dB: every DN above 3 is clipped
    (warning,) = [r for r in caplog.records if r.name == "sarcomp.codec.scaling"]
    assert str(src) in warning.getMessage() and "[-30, 10] dB" in warning.getMessage()
    text = "\n".join(info_lines(tmp_path / "dn_model.sarc"))
    assert "range: [-30, 10] dB (model's training range, fixed)" in text
    assert "% above" in text and f"{100 * enc['clipped_high']:.2f}% above" in text
    _, default_psnr = _round_trip(src, tmp_path, "amplitude")
    assert default_psnr > psnr + 10


def test_given_range_is_honoured_and_shown_by_info(tmp_path, cached_models, capsys):
    src = calibrated_intensity(tmp_path / "s.tif")
    sarc = tmp_path / "s.sarc"
    args = ["compress", str(src), str(sarc), "--model", MODEL, "--tile", "64", "--device", "cpu"]
    main([*args, "--units", "intensity", "--range=-20.5,8", "--quiet"])
    printed = capsys.readouterr().out
    assert "range [-20.5, 8] dB (given)" in printed and "clipped" in printed
    fh, header, _ = open_sarc(sarc)
    fh.close()
    assert (header.lo, header.hi) == (-20.5, 8.0) and header.notes.range_rule == "[-20.5, 8] dB (given)"
    assert "range: [-20.5, 8] dB (given)" in info_lines(sarc)


@pytest.mark.parametrize("bad", ["10,-10", "a,b", "5", "nan,1", "scenes"])
def test_bad_range_is_one_line_error(bad):
    with pytest.raises(SarcompError, match="give scene, model, or LO,HI"):
        parse_range(bad)
    assert parse_range([-3, 4.5]) == RangeRule("given", (-3.0, 4.5))  # as Hydra gives range=[-3,4.5]


def test_evaluation_codes_a_scene_as_compress_does(tmp_path, cached_models):
    """Evaluating a shipped model (scripts/evaluate.py model=pretrained) picks the range compress
    picks and bills the bytes of compress's file less its metadata."""
    from omegaconf import OmegaConf

    from sarcomp.evaluation.pretrained import evaluate_pretrained

    folder = tmp_path / "scenes"
    folder.mkdir()
    src = uncalibrated_amplitude(folder / "dn.tif")
    enc = compress_file(
        src, tmp_path / "dn.sarc", MODEL, tile=64, device="cpu", progress=False, units="amplitude"
    )
    data = OmegaConf.load(Path(__file__).resolve().parents[1] / "configs" / "data" / "synthetic.yaml")
    data.update({"root": str(folder), "tile_size": 64, "stride": 64})
    data.representation.units = "amplitude"  # its fixed db_range is not what picks the range
    payload, _ = evaluate_pretrained(MODEL, data, str(tmp_path / "m.json"), tmp_path, device="cpu")
    (row,) = payload["images"]
    fh, header, _ = open_sarc(tmp_path / "dn.sarc")
    fh.close()
    assert row["scaling"] == {"lo": header.lo, "hi": header.hi}
    assert row["bytes"] == enc["billed_bytes"]
    assert (row["clipped_low"], row["clipped_high"]) == (enc["clipped_low"], enc["clipped_high"])


def test_a_file_without_notes_decodes_and_shows_in_info(tmp_path, cached_models):
    """Backward compatibility: the same file less its notes block (flag bit 3 clear, as every file
    written before the block existed) decodes to the same pixels, and info says what it lacks."""
    src = calibrated_intensity(tmp_path / "s.tif")
    _round_trip(src, tmp_path, "intensity")
    fh, header, offset = open_sarc(tmp_path / "s.sarc")
    with fh:
        strings = [s for tile in iter_strings(fh, header, offset) for s in tile]
    header.notes, old = None, tmp_path / "old.sarc"
    with open(old, "wb") as out:
        write_container(out, header, strings)
    assert old.read_bytes()[5] == FLAG_GEO  # the flags byte of a pre-notes file with georeferencing
    decompress_file(old, tmp_path / "old.tif", device="cpu", progress=False)
    with rasterio.open(tmp_path / "old.tif") as a, rasterio.open(tmp_path / "s_out.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    assert any("not recorded (file from an older sarcomp)" in line for line in info_lines(old))
