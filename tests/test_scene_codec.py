"""Whole-scene coding: .sarc files round-trip georeferenced scenes of any size, decode exactly to the
in-memory reconstruction (in another process too), refuse corrupt files and other models, and
evaluation bills what the file costs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from sarcomp.codec import modelref
from sarcomp.codec.commands import info_lines, main
from sarcomp.codec.container import ModelId, read_header
from sarcomp.codec.decompressor import decompress_file
from sarcomp.codec.modelref import model_hash, resolve_model
from sarcomp.codec.scaling import RangeRule, load_for_coding, training_representation
from sarcomp.codec.scene import code_scene, compress_file
from sarcomp.data.rasters import BandSpec
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import Scene
from sarcomp.errors import BitstreamError, SarcompError
from sarcomp.evaluation.classic import reference_images
from sarcomp.evaluation.scenes import evaluate_scenes
from sarcomp.runs import build_model, config_to_text
from tests.helpers import REPO, compose_train

NODATA = -9999.0


def _checkpoint(path: Path, seed: int, *overrides: str) -> Path:
    """An untrained tiny codec (smoke widths) saved as a sarcomp checkpoint."""
    cfg = compose_train(["debug=smoke", f"seed={seed}", *overrides], run_dir=path.parent)
    torch.manual_seed(seed)
    model = build_model(cfg.model)
    torch.save({"config": config_to_text(cfg), "model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", 0)


def _write_scene(path: Path, height: int, width: int, nodata: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:height, 0:width]
    texture = 0.05 * (1.5 + np.sin(rr / 23.0) * np.cos(cc / 31.0))
    values = (texture * rng.gamma(4.0, 0.25, (height, width))).astype(np.float32)
    if nodata:
        values[: height // 5, : width // 7] = NODATA
    profile = dict(
        driver="GTiff",
        dtype="float32",
        width=width,
        height=height,
        count=1,
        crs="EPSG:32633",
        transform=from_origin(500000.0, 4600000.0, 10.0, 10.0),
        nodata=NODATA if nodata else None,
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(values[None])
        ds.set_band_description(1, "VV")
    return path


@pytest.fixture(scope="module")
def odd_scene(tmp_path_factory) -> Path:
    return _write_scene(tmp_path_factory.mktemp("scene") / "odd.tif", 1000, 777)


def _coded_scene(ckpt: Path, path: Path, spec: BandSpec | None = None) -> Scene:
    """The scene as sarcomp compress codes it by default: the range chosen by the one rule."""
    cfg = resolve_model(ckpt).cfg
    rep = Representation(units="intensity")
    return load_for_coding(path, spec or BandSpec(), rep, RangeRule(), training_representation(cfg))


def _in_memory(ckpt: Path, path: Path, tile: int, overlap: int = 0):
    loaded = resolve_model(ckpt)
    return code_scene(loaded.model, _coded_scene(ckpt, path), loaded.identity, tile, overlap)


def test_odd_scene_round_trip_matches_memory_and_keeps_georeferencing(ckpt, odd_scene, tmp_path):
    sarc, out = tmp_path / "odd.sarc", tmp_path / "odd_decoded.tif"
    enc = compress_file(odd_scene, sarc, ckpt, tile=256, device="cpu", progress=False)
    dec = decompress_file(sarc, out, device="cpu", progress=False)
    assert enc["pixels"] == dec["pixels"] == 1000 * 777 and enc["bytes"] == sarc.stat().st_size
    assert enc["bpp"] == pytest.approx(8 * enc["bytes"] / (1000 * 777))
    with rasterio.open(odd_scene) as a, rasterio.open(out) as b:
        assert b.crs == a.crs and b.transform == a.transform and b.shape == a.shape
        assert b.nodata == NODATA and b.descriptions == ("VV",) and b.units == ("linear intensity",)
        np.testing.assert_array_equal(b.read_masks(1), a.read_masks(1))  # nodata kept
        decoded = b.read(1)
    coded = _in_memory(ckpt, odd_scene, 256)
    # the file holds exactly what evaluation codes and bills (less the georeferencing block)
    assert len(coded.container) == enc["billed_bytes"] < enc["bytes"]
    expected = coded.scene.representation.from_unit(coded.rec, coded.scene.scaling).astype(np.float32)
    np.testing.assert_array_equal(decoded[coded.valid], expected[coded.valid])


@pytest.mark.slow
def test_file_decodes_in_another_process_to_the_in_memory_reconstruction(ckpt, tmp_path):
    """Determinism: encoder here, decoder in a fresh process (same device, same thread count)."""
    src = _write_scene(tmp_path / "s.tif", 150, 230, seed=3)
    sarc, out = tmp_path / "s.sarc", tmp_path / "s_decoded.tif"
    compress_file(src, sarc, ckpt, tile=64, overlap=16, device="cpu", progress=False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    cmd = [sys.executable, "-m", "sarcomp.codec.commands", "decompress", str(sarc), str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    coded = _in_memory(ckpt, src, 64, 16)
    with rasterio.open(out) as ds:
        decoded = ds.read(1)
    expected = coded.scene.representation.from_unit(coded.rec, coded.scene.scaling).astype(np.float32)
    np.testing.assert_array_equal(decoded[coded.valid], expected[coded.valid])


def test_overlapping_tiles_cover_the_scene(ckpt, tmp_path):
    """128 px with 64-px tiles overlapping by 16: starts 0, 48, 96 per axis, blended into [0, 1]."""
    src = _write_scene(tmp_path / "smooth.tif", 128, 128, nodata=False)
    coded = _in_memory(ckpt, src, 64, 16)
    assert coded.tiles == 9 and np.isfinite(coded.rec).all() and 0 <= coded.rec.min() <= coded.rec.max() <= 1


def test_scene_costs_no_more_than_the_scene_it_was_cropped_from(ckpt, tmp_path):
    """Issue 9: padding is billed no more than the stride requires."""
    big = _write_scene(tmp_path / "big.tif", 208, 304, nodata=False)
    with rasterio.open(big) as ds:
        profile, data = ds.profile, ds.read()
    small = tmp_path / "small.tif"
    with rasterio.open(small, "w", **{**profile, "height": 200, "width": 300}) as ds:
        ds.write(data[:, :200, :300])
    for tile in (256, 128):
        a, b = _in_memory(ckpt, small, tile), _in_memory(ckpt, big, tile)
        assert a.coded_pixels == b.coded_pixels
        assert len(a.container) <= len(b.container), tile


def test_evaluation_bills_the_container(ckpt, odd_scene):
    loaded = resolve_model(ckpt)
    scene = Scene.load(odd_scene, BandSpec(), Representation(units="intensity"))
    rows, images = evaluate_scenes(loaded.model, [scene], 256, torch.device("cpu"), loaded.identity)
    coded = code_scene(loaded.model, scene, loaded.identity, 256)
    assert rows[0]["bytes"] == len(coded.container) and rows[0]["bpp"] == 8 * len(coded.container) / (
        1000 * 777
    )
    assert rows[0]["coded_pixels"] < (1000 + 16) * (777 + 16)
    np.testing.assert_array_equal(images[0].ref, coded.ref)
    # the classic codecs' stitched scene is the very image the learned codec coded
    np.testing.assert_array_equal(reference_images([scene], 256)[0].ref, coded.ref)


def test_another_model_is_refused_naming_both(ckpt, tmp_path):
    src = _write_scene(tmp_path / "s.tif", 48, 64)
    sarc = tmp_path / "s.sarc"
    compress_file(src, sarc, ckpt, tile=32, device="cpu", progress=False)
    other = _checkpoint(tmp_path / "other.pt", 1)
    mine = str(ModelId.hashed(model_hash(*_cfg_model(ckpt))))
    with pytest.raises(BitstreamError, match=f"made with model {mine}.*other.pt is weights"):
        decompress_file(sarc, tmp_path / "x.tif", model=other, device="cpu", progress=False)
    assert not (tmp_path / "x.tif").exists()


def _cfg_model(ckpt: Path):
    loaded = resolve_model(ckpt)
    return loaded.cfg, loaded.model


def test_unknown_model_reference_is_one_line_error(tmp_path):
    with pytest.raises(SarcompError, match="not a run folder"):
        resolve_model("no-such-model")


def _cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return exc.value.code, capsys.readouterr().err


def test_cli_round_trip_info_and_corruption(ckpt, tmp_path, capsys):
    src = _write_scene(tmp_path / "s.tif", 70, 90)
    sarc, out = tmp_path / "s.sarc", tmp_path / "s_out.tif"
    main(
        ["compress", str(src), str(sarc), "--model", str(ckpt), "--tile", "32", "--device", "cpu", "--quiet"]
    )
    text = "\n".join(info_lines(sarc))
    assert "70 x 90 px" in text and "EPSG:32633" in text and "ratio vs float32" in text and "s.tif" in text
    main(["info", str(sarc)])
    assert "bpp:" in capsys.readouterr().out
    data = sarc.read_bytes()
    for name, bad in [
        ("trunc", data[: len(data) // 2]),
        ("flip", data[:-9] + bytes([data[-9] ^ 4]) + data[-8:]),
    ]:
        broken = tmp_path / f"{name}.sarc"
        broken.write_bytes(bad)
        code, err = _cli(capsys, "decompress", str(broken), str(out), "--device", "cpu", "--quiet")
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and str(broken) in err
        assert not out.exists() and not list(tmp_path.glob(".*tmp*"))  # no partial output
    code, err = _cli(
        capsys, "compress", str(src), str(tmp_path / "t.sarc"), "--model", str(ckpt), "--tile", "40"
    )
    assert code == 2 and "multiple of 16" in err
    main(["decompress", str(sarc), str(out), "--device", "cpu", "--quiet"])
    assert out.exists()


def test_spain_scene_round_trip_keeps_crs(shared_sar, ckpt, tmp_path):
    src = shared_sar / "sentinel1_grd_vv_vh_db_spain.tif"
    sarc, out = tmp_path / "spain.sarc", tmp_path / "spain.tif"
    compress_file(src, sarc, ckpt, tile=128, device="cpu", progress=False)
    decompress_file(sarc, out, device="cpu", progress=False)
    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert a.crs == b.crs and a.transform == b.transform and b.units == ("dB",)
        ref, dec = a.read(1), b.read(1)
    ok = np.isfinite(ref)
    assert np.abs(np.clip(ref[ok], -30, 10) - dec[ok]).mean() < 10  # dB in, dB out (untrained model)


class _TwoGroupCodec(torch.nn.Module):
    """Stands in for a hyperprior, variable-rate model: two string groups per tile and ``lmbda=``."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner, self.lmbdas, self.lmbda, self.seen = inner, (0.01, 0.05), 0.02, []
        self.stride = inner.stride

    def compress(self, x, lmbda=None):
        self.seen.append(lmbda)
        out = self.inner.compress(x)
        return {"strings": [out["strings"][0], [b"z" * 3] * len(x)], "shape": out["shape"]}

    def decompress(self, strings, shape, lmbda=None):
        assert strings[1] == [b"z" * 3] * len(strings[0])
        self.seen.append(lmbda)
        return self.inner.decompress(strings[:1], shape)


def test_a_stride_8_model_pads_scenes_to_8_only_and_round_trips(tmp_path):
    ckpt8 = _checkpoint(tmp_path / "s8.pt", 0, "model.channels=[8,8]")
    src, sarc, out = _write_scene(tmp_path / "s.tif", 40, 70), tmp_path / "s.sarc", tmp_path / "d.tif"
    coded = _in_memory(ckpt8, src, 32)
    compress_file(src, sarc, ckpt8, tile=32, device="cpu", progress=False)
    with open(sarc, "rb") as fh:
        header, _ = read_header(fh, sarc.stat().st_size, sarc.name)
    assert header.shape_stride == 8 and header.grid.pad == 8  # 70 px pads to 72, not 80
    decompress_file(sarc, out, device="cpu", progress=False)
    with rasterio.open(out) as b:
        decoded = b.read(1)
    expected = coded.scene.representation.from_unit(coded.rec, coded.scene.scaling).astype(np.float32)
    np.testing.assert_array_equal(decoded[coded.valid], expected[coded.valid])


def test_several_string_groups_and_lmbda_round_trip(ckpt, tmp_path):
    loaded = resolve_model(ckpt)
    model = _TwoGroupCodec(loaded.model)
    src = _write_scene(tmp_path / "s.tif", 40, 70)
    scene = Scene.load(src, BandSpec(), Representation(units="intensity"))
    two = code_scene(model, scene, loaded.identity, 32, lmbda=0.02)
    one = code_scene(loaded.model, scene, loaded.identity, 32)
    np.testing.assert_array_equal(two.rec, one.rec)
    assert (
        set(model.seen) == {float(np.float32(0.02))} and len(model.seen) == 2 * 2 * 2
    )  # 2 tile rows x 2 batches (two 32-px tiles, one 16-px), both ways
    assert len(two.container) == len(one.container) + 6 * (1 + 3) + 4  # z lengths + strings + lmbda


def test_shipped_model_is_named_in_the_file_and_found_again(ckpt, tmp_path, monkeypatch):
    import types

    cfg, model = _cfg_model(ckpt)
    zoo = types.SimpleNamespace(
        shipped_names=lambda: ["tiny-demo"], load_pretrained=lambda name, device: (cfg, model)
    )
    monkeypatch.setitem(sys.modules, "sarcomp.models.zoo", zoo)
    monkeypatch.setattr(modelref, "zoo", zoo)
    src = _write_scene(tmp_path / "s.tif", 48, 64)
    sarc, out = tmp_path / "s.sarc", tmp_path / "s_out.tif"
    compress_file(src, sarc, "tiny-demo", tile=32, device="cpu", progress=False)
    assert "model: tiny-demo" in info_lines(sarc)
    decompress_file(sarc, out, device="cpu", progress=False)  # no --model: the name is in the file
    assert out.exists()
    with pytest.raises(SarcompError, match="shipped: tiny-demo"):
        resolve_model("other-name")


@pytest.mark.slow
def test_measure_whole_scene(ckpt, tmp_path):
    from sarcomp.bench.scene import measure_whole_scene

    out = measure_whole_scene(96, ckpt, 32, tmp_path, device="cpu")
    assert out["compress_mpix_s"] > 0 and out["decompress_mpix_s"] > 0 and 0 < out["bpp"] < 32
    assert out["compress_peak_rss_mb"] > 10 and out["decompress_peak_rss_mb"] > 10


def test_band_specs_file_reads_two_band_iq(shared_sar, ckpt, tmp_path):
    """The I/Q chip of ../shared/sar, read as I + jQ -> intensity by its band-spec entry: the file
    decodes to exactly the in-memory coding of that I/Q scene."""
    src = shared_sar / "sentinel1_slc_cargo_chip_29087_y5288.tif"
    sarc, out = tmp_path / "slc.sarc", tmp_path / "slc.tif"
    specs = REPO / "configs" / "bands" / "shared_sar.yaml"
    compress_file(src, sarc, ckpt, tile=64, device="cpu", progress=False, band_specs=specs)
    assert "units: intensity" in "\n".join(info_lines(sarc))
    decompress_file(sarc, out, device="cpu", progress=False)
    loaded = resolve_model(ckpt)
    scene = _coded_scene(ckpt, src, BandSpec(bands=(1, 2), iq=True))
    coded = code_scene(loaded.model, scene, loaded.identity, 64)
    expected = coded.scene.representation.from_unit(coded.rec, coded.scene.scaling).astype(np.float32)
    with rasterio.open(out) as b:
        assert b.units == ("linear intensity",)
        np.testing.assert_array_equal(b.read(1)[coded.valid], expected[coded.valid])
