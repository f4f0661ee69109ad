"""Complex samples as codec channels (issue 29): the representation and complex scenes."""

from __future__ import annotations

import numpy as np
import pytest

from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.data.complex_tiles import ComplexScene
from sarcomp.data.rasters import BandSpec, open_raster
from sarcomp.errors import RasterError
from sarcomp.metrics.interferometry import phase_error_deg
from tests.helpers import SHARED_SAR, write_tif

FORMS = [ComplexRepresentation(), ComplexRepresentation(exponent=1.0), ComplexRepresentation("logpolar")]


def speckle(shape=(64, 64), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * 10 ** rng.uniform(-1, 2, shape)


@pytest.mark.parametrize("rep", FORMS, ids=lambda r: f"{r.form}-{r.exponent}")
def test_representation_keeps_the_phase_through_float32(rep):
    s = speckle()
    scaling = rep.scaling(s)
    unit = rep.to_unit(s, scaling)
    assert unit.dtype == np.float32 and unit.shape == (rep.channels, 64, 64)
    assert unit.min() >= 0 and unit.max() <= 1
    back = rep.from_unit(unit, scaling)
    assert phase_error_deg(s, back) < 1e-3
    level = 20 * np.log10(np.abs(s))  # samples the representation does not clip:
    kept = np.abs(s) <= scaling.scale if rep.form == "iq" else (level >= scaling.lo) & (level <= scaling.hi)
    # float32 holds [0, 1] to ~6e-8: dark samples of plain I/Q keep an absolute, not a relative, precision
    assert np.allclose(np.abs(back[kept]), np.abs(s[kept]), rtol=1e-4, atol=1e-6 * scaling.scale)


def test_saturated_samples_keep_their_phase():
    s = speckle(seed=1)
    rep = ComplexRepresentation(percentile=50.0)  # half the samples saturate in amplitude
    scaling = rep.scaling(s)
    back = rep.from_unit(rep.to_unit(s, scaling), scaling)
    bright = np.abs(s) > scaling.scale
    assert np.allclose(np.abs(back[bright]), scaling.scale, rtol=1e-5)
    assert np.degrees(np.abs(np.angle(back * np.conj(s)))).max() < 1e-2  # radial clip, not per axis


def test_representation_config_errors():
    assert ComplexRepresentation.from_config({"form": "logpolar", "db_percentiles": [1, 99]}).channels == 3
    with pytest.raises(ValueError, match="form"):
        ComplexRepresentation("polar")
    with pytest.raises(ValueError, match="exponent"):
        ComplexRepresentation(exponent=2.0)
    with pytest.raises(ValueError, match="unknown key"):
        ComplexRepresentation.from_config({"form": "iq", "scale": 3})


def test_iq_bands_and_a_complex64_band_read_alike(tmp_path):
    """Two real bands read as I + jQ (``iq: true``) give the channels of the complex64 band."""
    s = speckle((32, 32), seed=2).astype(np.complex64)
    one = write_tif(tmp_path / "one.tif", s)
    two = write_tif(tmp_path / "two.tif", np.stack([s.real, s.imag]))
    a = ComplexScene.load(one, BandSpec(), ComplexRepresentation())
    b = ComplexScene.load(two, BandSpec((1, 2), iq=True), ComplexRepresentation())
    assert a.scaling == b.scaling and a.channels == 2
    with open_raster(one) as d1, open_raster(two) as d2:
        (ua, va), (ub, vb) = a.read_unit(d1, 4, 0, 16, 32), b.read_unit(d2, 4, 0, 16, 32)
    assert ua.shape == va.shape == (2, 16, 32) and np.array_equal(ua, ub) and va.all() and vb.all()
    with pytest.raises(RasterError, match="no phase"):
        ComplexScene.load(write_tif(tmp_path / "real.tif", s.real), BandSpec(), ComplexRepresentation())


def test_real_sentinel1_iq_chip_reads_as_complex():
    path = SHARED_SAR / "sentinel1_slc_cargo_chip_29087_y5288.tif"
    if not path.is_file():
        pytest.skip("../shared/sar is not present")
    scene = ComplexScene.load(path, BandSpec((1, 2), iq=True), ComplexRepresentation())
    with open_raster(path) as ds:
        unit, valid = scene.read_unit(ds, 0, 0, 32, 32)
    assert unit.shape == (2, 32, 32) and valid.all() and 0.3 < unit.mean() < 0.7
