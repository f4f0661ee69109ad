"""The Python API (issue 24, part 3): ``sarcomp.compress`` / ``decompress`` / ``load_model`` give the
bytes and pixels of the command line; README.md's example block runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import sarcomp
from sarcomp.codec.commands import main
from sarcomp.codec.decompressor import decompress_file
from tests.helpers import REPO, write_tif


def _scene(path: Path, shape=(120, 136)) -> Path:
    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    texture = 0.05 * (1.5 + np.sin(rows / 11.0) * np.cos(cols / 17.0))
    return write_tif(path, (texture * rng.gamma(4.0, 0.25, shape)).astype(np.float32))


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_example_runs(tmp_path, monkeypatch, cached_models):
    (block,) = readme_python_blocks()
    _scene(tmp_path / "scene.tif")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["packed"].bpp == 8 * (tmp_path / "scene_api.sarc").stat().st_size / (120 * 136)
    assert scope["image"].array.shape == (120, 136) and str(scope["image"].crs) == "EPSG:32633"
    assert scope["small"].bpp <= 0.5 and scope["back"].shape == (256, 256)
    assert scope["model"] is sarcomp.load_model("baseline-ms-vr-s8")  # loaded once per process


def test_api_bytes_and_pixels_are_the_commands(tmp_path, capsys, cached_models):
    src = _scene(tmp_path / "s.tif")
    main(
        [
            "compress",
            str(src),
            str(tmp_path / "s.sarc"),
            "--model",
            "baseline-ms-vr-s8",
            "--quality",
            "2",
            "--quiet",
        ]
    )
    packed = sarcomp.compress(src, model="baseline-ms-vr-s8", quality=2)
    assert packed.data == (tmp_path / "s.sarc").read_bytes() and packed.lmbda == pytest.approx(0.001)
    decompress_file(tmp_path / "s.sarc", tmp_path / "d.tif", progress=False)
    with rasterio.open(tmp_path / "d.tif") as ds:
        expected = ds.read(1)
    decoded = sarcomp.decompress(packed.data)
    assert np.array_equal(decoded.array, expected) and decoded.valid.all() and decoded.units == "intensity"
    assert decoded.transform == from_origin(500000, 5000000, 10, 10)
    with pytest.raises(sarcomp.errors.SarcompError, match="output exists; pass --force"):
        packed.save(tmp_path / "s.sarc")
    with pytest.raises(sarcomp.errors.SarcompError, match="readable raster"):
        packed.save(src, force=True)


def test_an_array_is_georeferenced_as_given(cached_models):
    image = np.random.default_rng(1).gamma(2.0, 0.05, (80, 96)).astype(np.float32)
    transform = from_origin(300000, 6000000, 20, 20)
    packed = sarcomp.compress(image, model="baseline-ms-s8-l01", crs="EPSG:32632", transform=transform)
    decoded = sarcomp.decompress(packed.data)
    assert str(decoded.crs) == "EPSG:32632" and decoded.transform == transform
    assert packed.header.geo.source == "array.tif" and decoded.array.shape == (80, 96)
    bare_data = sarcomp.compress(image, model="baseline-ms-s8-l01").data
    bare = sarcomp.decompress(bare_data)
    assert bare.crs is None
    assert sarcomp.compress(image[None], model="baseline-ms-s8-l01").data == bare_data  # one band first
    with pytest.raises(sarcomp.errors.SarcompError, match="2-D array"):
        sarcomp.compress(image[None, None], model="baseline-ms-s8-l01")


def test_import_sarcomp_names_the_api_lazily():
    assert sorted(sarcomp.__all__) == ["compress", "decompress", "load_model"]
    assert {"compress", "decompress", "load_model"} <= set(dir(sarcomp))
    with pytest.raises(AttributeError):
        sarcomp.nothing  # noqa: B018
