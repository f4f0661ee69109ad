"""Ground truth of the synthetic scenes (sarcomp.data.truth): targets and reflectivity."""

from __future__ import annotations

import hashlib
import json
import runpy

import numpy as np
import pytest
import rasterio

from sarcomp.data import synthetic as syn
from sarcomp.data import truth
from sarcomp.data.identity import file_sha256
from sarcomp.data.loaders import scene_paths
from sarcomp.errors import SarcompError
from tests.helpers import REPO

COUNTS = {"train": 1, "test": 2}
SIZE = 96


@pytest.fixture
def with_truth(tmp_path):
    syn.generate_dataset(tmp_path, COUNTS, size=SIZE, seed=3)
    written, files = truth.write_truth(tmp_path, COUNTS, SIZE, (1, 4), 3, reflectivity_splits=("test",))
    return tmp_path, written, files


def test_the_hook_leaves_the_scenes_byte_identical() -> None:
    """Recording the ground truth changes no pixel: a scene generated with the hook is byte for byte
    the scene generated without it. (Compared within one machine: digests recorded on one machine
    failed on another, an AMD EPYC without AVX-512, with scipy 1.15-1.17 and every OpenBLAS core
    type alike, so the generator's bytes depend on the CPU.)"""
    for args in ((64, 1, 3), (96, 4, 11)):
        record: dict = {}
        with_hook, _ = syn.generate_scene(*args, record=record)
        without, _ = syn.generate_scene(*args)
        assert hashlib.sha256(with_hook.tobytes()).digest() == hashlib.sha256(without.tobytes()).digest()
        assert record["rows"].size == record["cols"].size == record["gain_db"].size > 0


def test_targets_are_where_the_generator_put_them(with_truth) -> None:
    root, written, files = with_truth
    assert len(written) == len(files) == 3 + 2  # a targets file per scene, reflectivity for test
    scene = syn.scene_path(root, "test", 1)
    seed = syn.scene_seed(3, "test", 1)
    record: dict = {}
    syn.generate_scene(SIZE, syn.scene_looks((1, 4), "test", 1, seed), seed, record=record)
    data = json.loads(truth.targets_path(scene).read_text())
    assert data["scene_sha256"] == file_sha256(scene) and data["count"] == len(data["targets"])
    loaded = truth.load_truth(scene, file_sha256(scene))
    pixels = set(zip(record["rows"].tolist(), record["cols"].tolist()))
    assert set(zip(loaded.rows.tolist(), loaded.cols.tolist())) == pixels
    refl = record["reflectivity"].astype(np.float64)
    np.testing.assert_allclose(loaded.peak_db, 10 * np.log10(refl[loaded.rows, loaded.cols]), atol=1e-3)
    assert loaded.scr_db.min() >= 10.0 - 1e-3  # the generator's gains are 10..30 dB, summed per pixel
    assert set(loaded.cover) <= set(syn.CLASS_NAMES)
    np.testing.assert_array_equal(loaded.reflectivity, refl)
    with rasterio.open(truth.reflectivity_path(scene)) as r, rasterio.open(scene) as s:
        assert r.transform == s.transform and r.crs == s.crs
    assert truth.load_truth(syn.scene_path(root, "train", 0)).reflectivity is None


def test_truth_files_are_not_scenes(with_truth) -> None:
    root, _, _ = with_truth
    assert [p.name for p in scene_paths(root, "test")] == ["scene_0000.tif", "scene_0001.tif"]


def test_stale_or_edited_truth_is_refused(with_truth) -> None:
    root, _, _ = with_truth
    scene = syn.scene_path(root, "test", 0)
    with pytest.raises(SarcompError, match="ground truth of another scene"):
        truth.load_truth(scene, "0" * 64)
    path = truth.targets_path(scene)
    path.write_text(path.read_text().replace('"count"', '"count" ', 1))
    with pytest.raises(SarcompError, match=r"1 ground-truth file\(s\) differ.*--overwrite"):
        truth.write_truth(root, COUNTS, SIZE, (1, 4), 3, reflectivity_splits=("test",))
    written, _ = truth.write_truth(root, COUNTS, SIZE, (1, 4), 3, ("test",), overwrite=True)
    assert len(written) == 5
    assert truth.write_truth(root, COUNTS, SIZE, (1, 4), 3, ("test",))[0] == []


def test_make_synthetic_writes_truth_and_its_sums_beside_unchanged_scene_sums(tmp_path) -> None:
    main = runpy.run_path(str(REPO / "scripts" / "make_synthetic.py"))["main"]
    args = ["--root", str(tmp_path), "--size", "32", "--train", "1", "--val", "1", "--test", "2"]
    assert main([*args, "--reflectivity"]) == 0
    scene_sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert len(scene_sums) == 4 and all(line.endswith(".tif") for line in scene_sums)
    sums = (tmp_path / truth.SUMS).read_text().splitlines()
    names = [line.split()[1] for line in sums]
    assert len(names) == 4 + 2 and "test/reflectivity/scene_0001.tif" in names
    assert all(file_sha256(tmp_path / n) == h for h, n in (line.split() for line in sums))
