"""Never write over a raster (issue 23, part 2): compress refuses a raster, a non-.sarc file, an existing
output without --force and a glob's extra paths, leaving them byte-identical; decompress refuses an
existing output without --force; compress says (and records) when it drops a complex band's phase or
the other bands of a file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sarcomp.codec.commands import info_lines, main
from sarcomp.codec.sarcfile import open_sarc
from sarcomp.codec.scene import compress_file
from tests.helpers import REPO, write_tif

MODEL = "baseline-ms-s8-l01"
CODE = ["--model", MODEL, "--tile", "64", "--device", "cpu", "--quiet"]


def _intensity(seed: int = 0, bands: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.05 * rng.gamma(4.0, 0.25, (bands, 64, 80))).astype(np.float32)


@pytest.fixture
def rasters(tmp_path) -> tuple[Path, Path]:
    return write_tif(tmp_path / "a.tif", _intensity(0)), write_tif(tmp_path / "b.tif", _intensity(1))


def _cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return exc.value.code, err


def _snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def _unchanged(before: dict[Path, bytes]) -> bool:
    return all(p.read_bytes() == data for p, data in before.items())


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_compress_never_writes_over_a_raster(rasters, capsys, force):
    """`sarcomp compress mydata/*.tif --model m` with two GeoTIFFs: the second is not replaced."""
    a, b = rasters
    before = _snapshot(a, b)
    code, err = _cli(capsys, "compress", str(a), str(b), *CODE, *force)
    assert code == 2 and str(b) in err and "readable raster (GTiff)" in err and "even with --force" in err
    assert "one input and one output" in err and "sarcomp compress *.tif -o <folder>" in err
    assert _unchanged(before)


def test_a_glob_of_three_rasters_is_refused_saying_how_to_code_several(rasters, tmp_path, capsys):
    a, b = rasters
    c = write_tif(tmp_path / "c.tif", _intensity(2))
    before = _snapshot(a, b, c)
    code, err = _cli(capsys, "compress", str(a), str(b), str(c), *CODE)
    assert code == 2 and "takes one input and one output, got 3 paths" in err and "glob" in err
    assert "several files into a folder: sarcomp compress *.tif -o <folder>" in err and _unchanged(before)
    code, err = _cli(capsys, "decompress", str(a), str(b), str(c))
    assert code == 2 and "decompress takes one input and one output" in err and _unchanged(before)


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_compress_refuses_an_existing_file_that_is_not_sarc(rasters, tmp_path, capsys, force):
    a, _ = rasters
    notes = tmp_path / "notes.sarc"
    notes.write_text("field notes, not a .sarc file")
    before = _snapshot(notes)
    code, err = _cli(capsys, "compress", str(a), str(notes), *CODE, *force)
    assert code == 2 and "exists and is not a .sarc file" in err and _unchanged(before)
    code, err = _cli(capsys, "compress", str(a), str(tmp_path), *CODE, *force)
    assert code == 2 and "is a folder" in err


def test_existing_sarc_is_replaced_only_with_force(rasters, tmp_path, capsys, cached_models):
    a, b = rasters
    sarc = tmp_path / "a.sarc"
    main(["compress", str(a), str(sarc), *CODE])
    before = _snapshot(sarc)
    code, err = _cli(capsys, "compress", str(b), str(sarc), *CODE)
    assert code == 2 and "output exists; pass --force to replace it" in err and _unchanged(before)
    main(["compress", str(b), str(sarc), *CODE, "--force"])
    assert not _unchanged(before) and "source: b.tif" in "\n".join(info_lines(sarc))
    assert not list(tmp_path.glob(".*tmp*"))


def test_decompress_overwrites_only_with_force_and_never_a_sarc(rasters, tmp_path, capsys, cached_models):
    a, b = rasters
    sarc, other = tmp_path / "a.sarc", tmp_path / "other.sarc"
    main(["compress", str(a), str(sarc), *CODE])
    main(["compress", str(a), str(other), *CODE])
    before = _snapshot(b, other)
    code, err = _cli(capsys, "decompress", str(sarc), str(b), "--device", "cpu", "--quiet")
    assert code == 2 and str(b) in err and "pass --force" in err and _unchanged(before)
    code, err = _cli(capsys, "decompress", str(sarc), str(other), "--device", "cpu", "--quiet", "--force")
    assert code == 2 and "output is a .sarc file" in err and _unchanged(before)
    main(["decompress", str(sarc), str(b), "--device", "cpu", "--quiet", "--force"])
    assert b.read_bytes() != before[b]


def _dropped(sarc: Path) -> tuple[str, ...]:
    fh, header, _ = open_sarc(sarc)
    fh.close()
    return header.notes.dropped


def test_phase_of_a_complex_band_is_said_and_recorded(tmp_path, cached_models, caplog):
    rng = np.random.default_rng(0)
    slc = (rng.normal(size=(64, 80)) + 1j * rng.normal(size=(64, 80))).astype(np.complex64)
    src, sarc = write_tif(tmp_path / "slc.tif", slc), tmp_path / "slc.sarc"
    with caplog.at_level(logging.INFO, logger="sarcomp.codec.guard"):
        compress_file(src, sarc, MODEL, tile=64, device="cpu", progress=False)
    (note,) = _dropped(sarc)
    assert "phase of the complex samples (complex band 1): coded as intensity" in note
    (record,) = [r for r in caplog.records if r.name == "sarcomp.codec.guard"]
    assert record.levelno == logging.WARNING and str(src) in record.getMessage()
    assert f"dropped: {note}" in info_lines(sarc)


def test_iq_bands_described_by_a_band_spec_record_the_phase_quietly(tmp_path, cached_models, caplog):
    rng = np.random.default_rng(1)
    iq = rng.normal(size=(3, 64, 80)).astype(np.float32)  # I, Q and a third band
    src, sarc = write_tif(tmp_path / "sentinel1_slc_x_chip_1.tif", iq), tmp_path / "iq.sarc"
    specs = REPO / "configs" / "bands" / "shared_sar.yaml"  # its slc chip entry: bands [1, 2], iq
    with caplog.at_level(logging.INFO, logger="sarcomp.codec.guard"):
        compress_file(src, sarc, MODEL, tile=64, device="cpu", progress=False, band_specs=specs)
    assert _dropped(sarc) == (
        "phase of the complex samples (I/Q bands 1, 2): coded as intensity",
        "band(s) 3 of 3: not coded (one channel per .sarc file)",
    )
    records = [r for r in caplog.records if r.name == "sarcomp.codec.guard"]
    assert len(records) == 2 and all(r.levelno == logging.INFO for r in records)  # the user said so


def test_other_bands_are_said_and_recorded(tmp_path, cached_models, caplog):
    src = write_tif(tmp_path / "three.tif", _intensity(0, bands=3))
    with caplog.at_level(logging.INFO, logger="sarcomp.codec.guard"):
        compress_file(
            src, tmp_path / "1.sarc", MODEL, tile=64, device="cpu", progress=False, units="intensity"
        )
        compress_file(src, tmp_path / "2.sarc", MODEL, tile=64, device="cpu", progress=False, band=2)
    assert _dropped(tmp_path / "1.sarc") == ("band(s) 2, 3 of 3: not coded (one channel per .sarc file)",)
    assert _dropped(tmp_path / "2.sarc") == ("band(s) 1, 3 of 3: not coded (one channel per .sarc file)",)
    first, second = [r for r in caplog.records if r.name == "sarcomp.codec.guard"]
    assert first.levelno == logging.WARNING and str(src) in first.getMessage()  # nobody asked
    assert second.levelno == logging.INFO  # --band 2 asked for one band
    assert "dropped: band(s) 2, 3 of 3: not coded (one channel per .sarc file)" in info_lines(
        tmp_path / "1.sarc"
    )


def test_nothing_dropped_records_nothing(rasters, tmp_path, cached_models):
    a, _ = rasters
    compress_file(a, tmp_path / "a.sarc", MODEL, tile=64, device="cpu", progress=False)
    assert _dropped(tmp_path / "a.sarc") == ()
    assert not [line for line in info_lines(tmp_path / "a.sarc") if line.startswith("dropped")]
