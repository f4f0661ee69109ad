"""Complex bands through ``sarcomp compress`` / ``decompress`` (issue 29): a complex model codes a
complex64 band or two I/Q bands with their phase into a ``.sarc`` file (header flag bit 5) and
decodes it to complex64 with its georeferencing; mismatched models and options are one-line errors;
real-valued files are unchanged."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from sarcomp.codec.commands import info_lines, main
from sarcomp.codec.complex_block import ComplexBlock
from sarcomp.codec.container import FLAG_COMPLEX, Grid, Header, ModelId, read_header, write_container
from sarcomp.codec.sarcfile import open_sarc
from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.errors import BitstreamError
from sarcomp.metrics.interferometry import phase_error_deg
from sarcomp.runs import build_model, config_to_text
from sarcomp.training.loss import RateDistortionLoss
from tests.helpers import compose_train
from tests.test_scene_codec import _checkpoint

SIZE = 64
TRANSFORM = from_origin(500000.0, 4600000.0, 10.0, 10.0)


def ramp_slc() -> np.ndarray:
    """A known pattern: a smooth amplitude and a linear phase ramp (1.5 cycles across, 1 down)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    amplitude = 0.8 + 0.2 * np.cos(2 * np.pi * yy / SIZE)
    return amplitude * np.exp(2j * np.pi * (1.5 * xx / SIZE + yy / SIZE))


@pytest.fixture(scope="module")
def complex_ckpt(tmp_path_factory) -> Path:
    """A tiny complex codec (stride 4) fitted for 300 steps to the ramp, saved as a checkpoint:
    not a trained codec, a check that I/Q go in and come out as the same phase."""
    path = tmp_path_factory.mktemp("model") / "complex.pt"
    overrides = ["data=complex_synthetic", "model=complex", "model.channels=[16]", "model.latent_channels=16"]
    cfg = compose_train([*overrides, "model.lmbda=0.1"], run_dir=path.parent)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    rep = ComplexRepresentation()
    s = ramp_slc()
    x = torch.from_numpy(rep.to_unit(s, rep.scaling(s)))[None]
    optimiser, loss = torch.optim.Adam(model.parameters(), 1e-2), RateDistortionLoss(0.1)
    for _ in range(300):
        optimiser.zero_grad()
        (loss(model(x), x)["loss"] + model.aux_loss()).backward()
        optimiser.step()
    torch.save({"config": config_to_text(cfg), "model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def real_ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("real") / "real.pt", 0)


def _write(path: Path, data: np.ndarray, nodata: float | None = None) -> Path:
    data = data if data.ndim == 3 else data[None]
    profile = dict(driver="GTiff", dtype=data.dtype, width=SIZE, height=SIZE, count=len(data), nodata=nodata)
    with rasterio.open(path, "w", crs="EPSG:32633", transform=TRANSFORM, **profile) as ds:
        ds.write(data)
        ds.set_band_description(1, "HH")
    return path


def _run(*args: str) -> None:
    main([*map(str, args), "--quiet"])


def _decoded(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(1), {
            "dtype": ds.dtypes[0],
            "crs": ds.crs,
            "transform": ds.transform,
            "nodata": ds.nodata,
        }


def _check_phase(s: np.ndarray, decoded: np.ndarray, sarc: Path, valid: np.ndarray) -> None:
    """Phase of the known pattern kept within the codec's own error: per sample at most
    arcsin(|codec error| / |signal|) in the representation's I/Q domain."""
    assert phase_error_deg(s, decoded, valid) < 5.0
    fh, header, _ = open_sarc(sarc)
    fh.close()
    block = header.complex
    rep, scaling = block.representation(), block.scaling(header.lo, header.hi)
    z, z_hat = (
        (2 * u[0] - 1) + 1j * (2 * u[1] - 1) for u in (rep.to_unit(s, scaling), rep.to_unit(decoded, scaling))
    )
    bound = np.arcsin(np.minimum(np.abs(z_hat - z) / np.abs(z), 1.0))
    assert np.all((np.abs(np.angle(decoded * np.conj(s))) <= bound + 1e-4)[valid])


def test_complex64_round_trip_keeps_phase_and_georeferencing(complex_ckpt, tmp_path, capsys):
    s = ramp_slc().astype(np.complex64)
    s[:4, :8] = 0  # nodata
    src = _write(tmp_path / "slc.tif", s, nodata=0.0)
    sarc, out = tmp_path / "slc.sarc", tmp_path / "back.tif"
    _run("compress", src, sarc, "--model", complex_ckpt, "--tile", "32")
    _run("decompress", sarc, out)
    decoded, meta = _decoded(out)
    assert meta == {
        "dtype": "complex64",
        "crs": rasterio.crs.CRS.from_epsg(32633),
        "transform": TRANSFORM,
        "nodata": 0.0,
    }
    valid = np.ones(s.shape, bool)
    valid[:4, :8] = False
    assert np.all(decoded[~valid] == 0)
    _check_phase(ramp_slc(), decoded, sarc, valid)
    with rasterio.open(out) as ds:
        assert ds.descriptions[0] == "HH" and ds.tags()["sarcomp_units"] == "complex"
    info = "\n".join(info_lines(sarc))
    assert "complex: complex samples with their phase (complex band 1): form iq" in info
    assert "dropped" not in info.replace("dropped information", "")  # the phase is kept
    assert "ratio vs complex64" in info
    assert 8 * sarc.stat().st_size / SIZE**2 < 64  # real bytes, fewer than complex64's 64 bits a sample


def test_two_band_iq_round_trip_with_iq_flag(complex_ckpt, tmp_path):
    s = ramp_slc()
    src = _write(tmp_path / "iq.tif", np.stack([s.real, s.imag]).astype(np.float32))
    sarc, out = tmp_path / "iq.sarc", tmp_path / "iq_back.tif"
    _run("compress", src, sarc, "--model", complex_ckpt, "--tile", "32", "--iq")
    _run("decompress", sarc, out)
    decoded, meta = _decoded(out)
    assert meta["dtype"] == "complex64" and meta["transform"] == TRANSFORM
    _check_phase(s, decoded, sarc, np.ones(s.shape, bool))
    assert "I/Q bands 1, 2" in "\n".join(info_lines(sarc))


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("real", [], "band 1 is real (float32), but model"),
        ("slc", ["--iq"], "--iq reads two real bands as I and Q, but the raster is complex"),
        ("real", ["--iq"], "I and Q need bands 1 and 2, but the raster has 1 band(s)"),
        ("slc", ["--range=-20,10"], "--range applies to real bands"),
        ("slc", ["--units", "db"], "--units applies to real bands"),
    ],
)
def test_bad_input_for_a_complex_model_is_one_line(complex_ckpt, tmp_path, capsys, which, extra, message):
    data = ramp_slc().astype(np.complex64) if which == "slc" else np.abs(ramp_slc()).astype(np.float32)
    src, dst = _write(tmp_path / f"{which}.tif", data), tmp_path / "x.sarc"
    with pytest.raises(SystemExit) as exc:
        _run("compress", src, dst, "--model", complex_ckpt, *extra)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1 and not dst.exists()


def test_iq_for_a_real_model_and_a_complex_file_for_a_real_model_are_refused(
    complex_ckpt, real_ckpt, tmp_path, capsys
):
    s = ramp_slc()
    src = _write(tmp_path / "iq.tif", np.stack([s.real, s.imag]).astype(np.float32))
    with pytest.raises(SystemExit):
        _run("compress", src, tmp_path / "x.sarc", "--model", real_ckpt, "--iq")
    assert "codes real bands" in capsys.readouterr().err
    sarc = tmp_path / "c.sarc"
    _run("compress", _write(tmp_path / "slc.tif", s.astype(np.complex64)), sarc, "--model", complex_ckpt)
    with pytest.raises(SystemExit):
        _run("decompress", sarc, tmp_path / "x.tif", "--model", real_ckpt)
    err = capsys.readouterr().err
    assert "made with model" in err and err.count("\n") == 1 and not (tmp_path / "x.tif").exists()


def _header(block: ComplexBlock | None) -> Header:
    return Header(
        Grid(32, 32, 32), "amplitude", -3.0, 2.0, ModelId.hashed(b"\1" * 8), 1, 4, [3], complex=block
    )


def test_complex_block_round_trips_and_real_headers_are_unchanged():
    block = ComplexBlock("iq", 0.5, 99.9, 1.25, True, (1, 2))
    buf = io.BytesIO()
    write_container(buf, _header(block), [b"abc"])
    parsed, _ = read_header(buf, len(buf.getvalue()), "x")
    assert parsed.complex == replace(block, percentile=float(np.float32(99.9))) and parsed.channels == 2
    assert buf.getvalue()[5] & FLAG_COMPLEX
    real = _header(None).pack()
    assert not real[5] & FLAG_COMPLEX and len(_header(block).pack()) == len(real) + 1 + len(block.pack())


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (ComplexBlock("iq", 0.5, 99.9, -1.0), "invalid complex scaling"),
        (ComplexBlock("iq", 0.5, 99.9, 1.0, True, (2, 2)), "invalid complex source bands"),
    ],
)
def test_a_bad_complex_block_is_a_bitstream_error(block, message):
    buf = io.BytesIO()
    write_container(buf, _header(block), [b"abc"])
    with pytest.raises(BitstreamError, match=message):
        read_header(buf, len(buf.getvalue()), "x")


def test_python_api_codes_a_complex_array_and_decodes_complex64(complex_ckpt):
    from sarcomp.api import compress, decompress

    s = ramp_slc()
    coded = compress(s.astype(np.complex64), complex_ckpt, tile=32, device="cpu")
    assert coded.header.complex is not None and coded.header.channels == 2
    decoded = decompress(coded.data, model=complex_ckpt, device="cpu")
    assert decoded.array.dtype == np.complex64 and decoded.array.shape == s.shape and decoded.valid.all()
    assert phase_error_deg(s, decoded.array) < 5.0
    iq = compress(np.stack([s.real, s.imag]).astype(np.float32), complex_ckpt, tile=32, device="cpu", iq=True)
    assert iq.header.complex.iq and iq.header.complex.bands == (1, 2)
