"""Per-file band specs (bands.yaml) and the guesses of `units: auto`: logged, and refused when
the values contradict them (issue 9 item 5, issue 11 item 2)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from sarcomp.data.bandspecs import load_band_specs
from sarcomp.data.loaders import load_split
from sarcomp.errors import SarcompError
from tests.helpers import REPO, compose_train, write_tif

SHARED_SPEC = REPO / "configs" / "bands" / "shared_sar.yaml"


def data_cfg(root: Path, **extra) -> dict:
    """The data=geotiff config (units: auto, percentiles) for a folder."""
    cfg = compose_train(["data=geotiff", f"data.root={root}"]).data
    return OmegaConf.to_container(OmegaConf.merge(cfg, extra), resolve=True)


def folder_with_iq_and_amplitude(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    write_tif(root / "slc_chip.tif", (60 * rng.standard_normal((2, 40, 40))).astype(np.float32))
    write_tif(root / "grd_chip.tif", rng.rayleigh(50, (40, 40)).astype(np.float32))
    write_tif(root / "grd_chip2.tif", rng.rayleigh(50, (40, 40)).astype(np.float32))
    return root


def test_bands_yaml_in_the_data_folder_says_what_each_file_holds(tmp_path):
    root = folder_with_iq_and_amplitude(tmp_path / "data")
    (root / "bands.yaml").write_text(
        "files:\n"
        "  - {pattern: 'slc_*.tif', bands: [1, 2], iq: true}\n"
        "  - {pattern: 'grd_*.tif', units: amplitude}\n"
    )
    scenes = {s.path.name: s for s in load_split(data_cfg(root), "test")}
    slc = scenes["slc_chip.tif"]
    assert slc.spec.iq and slc.spec.bands == (1, 2) and slc.representation.units == "intensity"
    assert scenes["grd_chip.tif"].representation.units == "amplitude"
    assert scenes["grd_chip.tif"].record()["units"] == "amplitude" and slc.record()["iq"] is True


def test_auto_logs_every_guess_with_its_evidence(tmp_path, caplog):
    root = tmp_path / "data"
    root.mkdir()
    rng = np.random.default_rng(1)
    write_tif(root / "a_intensity.tif", rng.exponential(1.0, (32, 32)).astype(np.float32))
    write_tif(root / "b_db.tif", (-15 + 3 * rng.standard_normal((32, 32))).astype(np.float32))
    write_tif(root / "c_3band.tif", rng.exponential(1.0, (3, 32, 32)).astype(np.float32))
    with caplog.at_level(logging.INFO, logger="sarcomp"):
        load_split(data_cfg(root), "test")
    for name, units in (("a_intensity.tif", "intensity"), ("b_db.tif", "db"), ("c_3band.tif", "intensity")):
        line = next(
            r.getMessage() for r in caplog.records if name in r.getMessage() and "guessed" in r.getMessage()
        )
        assert f"guessed {units}" in line and "float32" in line and "negative" in line and ".." in line
    assert any(
        "c_3band.tif: has 3 bands" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records
    )
    assert any(
        "a_intensity.tif" in r.getMessage() and "amplitude looks alike" in r.getMessage()
        for r in caplog.records
    )


def test_iq_read_as_one_band_is_an_error_naming_file_and_fix(tmp_path):
    root = folder_with_iq_and_amplitude(tmp_path / "data")
    with pytest.raises(SarcompError) as exc:
        load_split(data_cfg(root), "test")
    msg = str(exc.value)
    assert "slc_chip.tif" in msg and "guessed dB" in msg and "iq: true" in msg and "data.band_specs" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("files: []\n", "non-empty list"),
        ("files:\n  - {bands: [1]}\n", r"files\[0\]: each entry needs a `pattern:`"),
        ("files:\n  - {pattern: '*', unit: db}\n", "unknown key.*unit"),
        ("files:\n  - {pattern: '*', units: decibel}\n", "units must be one of"),
        ("files:\n  - {pattern: '*', bands: [1, 2]}\n", "two with iq=true"),
        ("files: [\n", "cannot read band-spec file"),
    ],
)
def test_bad_band_spec_files_are_one_line_errors(tmp_path, text, match):
    path = tmp_path / "bands.yaml"
    path.write_text(text)
    with pytest.raises(SarcompError, match=match) as exc:
        load_band_specs(path)
    assert str(path) in str(exc.value)


def test_missing_band_spec_file_is_named(tmp_path):
    root = folder_with_iq_and_amplitude(tmp_path / "data")
    with pytest.raises(SarcompError, match=r"nope\.yaml: band-spec file not found \(data.band_specs\)"):
        load_split(data_cfg(root, band_specs=str(tmp_path / "nope.yaml")), "test")


# ---------------------------------------------------------------- ../shared/sar with its documented spec
PROVENANCE_UNITS = {
    "terrasarx_slc.tif": "intensity",
    "terrasarx_display_8bit.png": "display8",
    "sentinel1_grd_vv_db_geocoded.tif": "db",
    "sentinel1_grd_vv_vh_db_spain.tif": "db",
    "sentinel1_vh_intensity_city.tif": "intensity",
    "sentinel1_vh_intensity_hill.tif": "intensity",
    "sentinel1_grd_tanker_chip_15342_y11582.tif": "amplitude",
    "sentinel1_grd_cargo_chip_5258_y11247.tif": "amplitude",
    "sentinel1_grd_tanker_chip_11818_y9503.tif": "amplitude",
    "sentinel1_slc_cargo_chip_29087_y5288.tif": "intensity",  # |I + jQ|^2
    "esar_lband_3pol_intensity_dark.tif": "intensity",
    "esar_lband_hv_intensity_urban.tif": "intensity",
    "munich_intensity.tif": "intensity",
}


def test_shared_sar_spec_covers_every_file_as_provenance_says(shared_sar):
    specs = load_band_specs(SHARED_SPEC)
    files = sorted(p for p in shared_sar.iterdir() if p.suffix in (".tif", ".png"))
    assert {p.name for p in files} == set(PROVENANCE_UNITS)
    assert all(specs.match(p) is not None for p in files)
    scenes = load_split(data_cfg(shared_sar, band_specs=str(SHARED_SPEC)), "test")
    assert {s.path.name: s.representation.units for s in scenes} == PROVENANCE_UNITS
    slc = next(s for s in scenes if s.path.name.startswith("sentinel1_slc_"))
    assert slc.spec.iq and slc.spec.bands == (1, 2)


def test_shared_sar_without_spec_refuses_the_iq_file(shared_sar):
    with pytest.raises(SarcompError, match="sentinel1_slc_cargo_chip_29087_y5288.tif: units=auto guessed dB"):
        load_split(data_cfg(shared_sar), "test")
