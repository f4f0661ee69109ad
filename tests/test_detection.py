"""Detection and reflectivity fidelity (sarcomp.metrics.detection, .reflectivity, .operator) with
known answers, down to a metrics row of a scene whose targets are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sarcomp.data import truth
from sarcomp.data.bandspecs import BandSpec
from sarcomp.data.representation import Representation, Scaling
from sarcomp.data.tiles import Scene, stitch_scene
from sarcomp.fileio import json_safe
from sarcomp.metrics import detection, reflectivity
from sarcomp.metrics.cfar import Detections
from sarcomp.metrics.scene import scene_metrics
from tests.helpers import write_tif

CLUTTER = 0.01  # -20 dB
TARGETS = [(20, 20), (20, 60), (60, 40), (90, 100), (100, 20)]


def dets(rows, cols, peak, shape=(32, 32)) -> Detections:
    labels = np.zeros(shape, np.int32)
    for i, (r, c) in enumerate(zip(rows, cols)):
        labels[round(r), round(c)] = i + 1
    return Detections(labels, np.asarray(rows, float), np.asarray(cols, float), np.asarray(peak, float))


def test_matching_pairs_within_the_radius_one_to_one() -> None:
    ref = dets([5, 5, 20], [5, 8, 20], [10, 10, 10])
    rec = dets([5, 20.5, 28], [6, 21, 28], [5, 10, 10])
    i, j = detection.match(ref, rec)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 0), (2, 1)]
    out = detection.against_reference(ref, rec)
    assert out["det_f1"] == pytest.approx(2 * 2 / 6)
    assert out["det_peak_bias_db"] == pytest.approx(10 * np.log10(0.5) / 2)
    assert out["det_peak_err_db"] == pytest.approx(-out["det_peak_bias_db"])
    assert out["det_shift_px"] == pytest.approx((1 + math.hypot(0.5, 1)) / 2)
    none = detection.against_reference(dets([], [], []), dets([], [], []))
    assert math.isnan(none["det_f1"]) and math.isnan(none["det_shift_px"])
    assert detection.against_reference(dets([3], [3], [1]), dets([], [], []))["det_f1"] == 0.0


def test_detection_probability_and_false_alarms_against_known_targets() -> None:
    found = dets([10, 12, 25], [10, 30, 5], [1, 1, 1])
    rows, cols = np.array([11, 11, 2]), np.array([11, 31, 2])  # two within 2 px, one missed
    valid = np.ones((32, 32), bool)
    pd, fa = detection.against_truth(found, rows, cols, valid)
    assert pd == pytest.approx(2 / 3) and fa == pytest.approx(1e6 / 1024)  # the one at (25, 5)


def test_looks_estimate_of_gamma_speckle() -> None:
    image = np.random.default_rng(0).gamma(4, 0.25, (128, 128))
    assert detection.estimate_looks(image, np.ones(image.shape, bool)) == pytest.approx(4, rel=0.25)
    assert detection.estimate_looks(np.ones((4, 40)), np.ones((4, 40), bool)) == 1.0  # no 8x8 window


def test_reflectivity_metrics_know_signal_from_speckle() -> None:
    rng = np.random.default_rng(1)
    refl = np.exp(rng.normal(-4, 1, (64, 64)))
    valid = np.ones(refl.shape, bool)
    scaling = Scaling(-40.0, 20.0)
    speckled = refl * rng.gamma(1, 1, refl.shape)
    out = reflectivity.reflectivity_metrics(speckled, 2 * refl, refl, valid, scaling)
    assert out["refl_rmse_db"] == pytest.approx(10 * math.log10(2), rel=1e-4)  # 3 dB off everywhere
    assert out["refl_psnr"] == pytest.approx(-20 * math.log10(10 * math.log10(2) / 60), rel=1e-4)
    assert out["refl_rmse_db_ref"] > 1.0  # one-look speckle left after a 5x5 multilook
    perfect = reflectivity.reflectivity_metrics(speckled, refl, refl, valid, scaling)
    assert perfect["refl_psnr"] == math.inf and perfect["refl_rmse_db"] == 0.0


def known_scene(tmp_path):
    """A 128x128 4-look scene at -20 dB with five 20 dB point targets, and its ground truth."""
    rng = np.random.default_rng(7)
    clean = np.full((128, 128), CLUTTER)
    psf = np.outer([0.2, 1.0, 0.2], [0.2, 1.0, 0.2])
    for r, c in TARGETS:
        clean[r - 1 : r + 2, c - 1 : c + 2] += 100 * CLUTTER * psf
    scene = tmp_path / "scene.tif"
    write_tif(scene, (clean * rng.gamma(4, 0.25, clean.shape)).astype(np.float32))
    rows, cols = np.array(TARGETS).T
    record = {
        "rows": rows,
        "cols": cols,
        "gain_db": np.full(len(TARGETS), 20.0),
        "reflectivity": clean.astype(np.float32),
        "classes": np.zeros(clean.shape, np.uint8),
    }
    meta = {"seed": 0, "looks": 4, "size": 128}
    (tmp_path / "scene.targets.json").write_text(truth.targets_text(record, scene, meta))
    truth.reflectivity_path(scene).parent.mkdir()
    write_tif(truth.reflectivity_path(scene), clean.astype(np.float32))
    return stitch_scene(Scene.load(scene, BandSpec(), Representation(db_range=(-40.0, 10.0))), 128), clean


def as_unit(image, intensity: np.ndarray) -> np.ndarray:
    return image.scene.representation.to_unit(intensity, image.scene.scaling)


def test_metrics_row_of_a_scene_with_known_targets(tmp_path) -> None:
    image, clean = known_scene(tmp_path)
    same = scene_metrics(image, image.ref)
    assert same["det_targets"] == len(TARGETS) and same["det_pd_ref"] == 1.0
    assert same["det_pd"] == 1.0 and same["det_pd_change"] == 0.0 and same["det_fa_change"] == 0.0
    assert same["det_f1"] == 1.0 and same["det_peak_err_db"] == 0.0 and same["det_shift_px"] == 0.0
    assert same["refl_psnr"] == same["refl_psnr_ref"] and "truth_note" not in same

    ref_intensity = image.scene.representation.from_unit(image.ref, image.scene.scaling)
    erased = ref_intensity.copy()
    erased[88:93, 98:103] = CLUTTER  # the codec lost one target
    row = scene_metrics(image, as_unit(image, erased))
    n = same["det_ref_n"]
    assert row["det_pd"] == pytest.approx(0.8) and row["det_pd_change"] == pytest.approx(-0.2)
    assert row["det_n"] == n - 1 and row["det_f1"] == pytest.approx(2 * (n - 1) / (2 * n - 1))

    despeckled = scene_metrics(image, as_unit(image, clean))  # kept the signal, dropped the speckle
    assert despeckled["refl_rmse_db"] < 0.1 < same["refl_rmse_db_ref"]
    assert despeckled["det_pd"] == 1.0


def test_scenes_without_truth_have_null_truth_metrics(tmp_path) -> None:
    image, _ = known_scene(tmp_path)
    truth.targets_path(image.scene.path).unlink()
    row = json.loads(json.dumps(json_safe(scene_metrics(image, image.ref))))
    assert row["det_f1"] == 1.0 and "ground truth" in row["truth_note"]
    assert all(row[k] is None for k in (*detection.TRUTH_KEYS, *reflectivity.KEYS))
