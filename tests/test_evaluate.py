"""Evaluation rebuilds the model from a run folder and writes the metrics JSON; classic codecs
are evaluated on the same stitched scenes with the same metrics and schema."""

from __future__ import annotations

import json
import math
import shutil
import sys

import numpy as np
import pytest

from sarcomp.data.representation import Representation, Scaling
from sarcomp.data.tiles import SceneImage
from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import evaluate_folder, evaluate_run
from sarcomp.metrics.scene import SAR_KEYS, scene_metrics
from sarcomp.runs import find_runs, load_results
from tests.forked import run_forked
from tests.helpers import REPO


def test_evaluate_run_writes_json(smoke_run):
    payload, path = evaluate_run(smoke_run)
    assert path == smoke_run / "eval" / "metrics.json"
    saved = json.loads(path.read_text())
    assert saved["name"] == payload["name"] and saved["codec"] == "learned" and len(saved["images"]) == 2
    row = saved["images"][0]
    assert row["bytes"] > 0 and row["bpp"] == pytest.approx(8 * row["bytes"] / (96 * 96))
    assert 0 < row["psnr"] < 60 and -1 <= row["ssim"] <= 1
    assert row["ms_ssim"] is None  # 96 px is below MS-SSIM's 161 px minimum: N/A (null), not a number
    assert "161" in row["ms_ssim_note"]
    # RMSE in dB is the [0, 1] RMSE scaled by the clip range (synthetic: fixed [-30, 10] dB)
    span = row["scaling"]["hi"] - row["scaling"]["lo"]
    assert row["rmse_db"] == pytest.approx(span * 10 ** (-row["psnr"] / 20), rel=1e-3)
    assert all(math.isfinite(row[k]) for k in SAR_KEYS)
    assert row["encode_ms"] >= row["encode_ms_tile"] > 0 and row["decode_ms"] >= row["decode_ms_tile"] > 0
    assert saved["params"] > 0 and saved["mean"]["ms_ssim_n"] == 0
    assert saved["mean"]["bpp"] == pytest.approx(sum(r["bpp"] for r in saved["images"]) / 2)


def test_evaluation_refuses_training_scenes(smoke_run, tiny_data):
    from omegaconf import OmegaConf

    from sarcomp.runs import load_run

    cfg, _, _ = load_run(smoke_run)
    data = OmegaConf.merge(cfg.data, {"root": str(tiny_data / "train")})
    with pytest.raises(SarcompError, match="used in training"):
        evaluate_run(smoke_run, data, out=str(smoke_run / "x.json"))


def _scene(units: str, lo: float = -30.0, hi: float = 10.0):
    """A stand-in for Scene with just what the metrics use."""

    class _S:
        path = REPO / "no_such_scene.tif"  # no ground truth beside it
        representation = Representation(units=units, db_range=(lo, hi))
        scaling = Scaling(lo, hi)

    return _S()


@pytest.mark.parametrize("units", ["intensity", "amplitude", "db"])
def test_to_intensity_inverts_the_representation(units):
    rng = np.random.default_rng(0)
    intensity = 10 ** rng.uniform(-2.5, 0.5, size=(8, 8))
    physical = {"intensity": intensity, "amplitude": np.sqrt(intensity), "db": 10 * np.log10(intensity)}[
        units
    ]
    scene = _scene(units)
    unit = scene.representation.to_unit(physical, scene.scaling)
    rep = scene.representation
    assert rep.to_intensity(rep.from_unit(unit, scene.scaling)) == pytest.approx(intensity, rel=1e-4)


def test_scene_metrics_known_answers():
    """A constant offset δ in [0, 1] gives RMSE δ·(hi − lo) dB and a radiometric gain 10^(δ·40/10)."""
    rng = np.random.default_rng(1)
    ref = rng.uniform(0.2, 0.7, size=(64, 64)).astype(np.float32)
    valid = np.ones_like(ref, dtype=bool)
    image = SceneImage(_scene("intensity"), ref, valid)
    out = scene_metrics(image, ref + 0.01)
    assert out["rmse_db"] == pytest.approx(0.4, rel=1e-4)
    assert out["psnr"] == pytest.approx(40.0, abs=1e-3)
    gain = 10 ** (0.4 / 10)  # +0.4 dB everywhere
    assert out["mean_preservation"] == pytest.approx(gain, rel=1e-4)
    assert out["ratio_mean"] == pytest.approx(1 / gain, rel=1e-4) and out["ratio_var"] < 1e-10
    assert out["epi"] > 0.99 and out["enl_ratio"] == pytest.approx(1.0, rel=1e-3)
    perfect = scene_metrics(image, ref)
    assert perfect["rmse_db"] == 0 and perfect["ssim"] == pytest.approx(1.0)
    display = scene_metrics(SceneImage(_scene("display8", 0, 255), ref, valid), ref)
    assert (
        math.isnan(display["enl_ratio"])
        and math.isnan(display["rmse_db"])
        and "display8" in display["sar_note"]
    )


def test_sweep_folder_with_classic_codecs(smoke_run, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(smoke_run, sweep / "seed=1", ignore=shutil.ignore_patterns("eval", "tensorboard"))
    assert find_runs(sweep) == [sweep / "seed=1"] and find_runs(sweep / "seed=1") == [sweep / "seed=1"]
    classic = {"codecs": ["jpeg", "jpeg2000"], "bits": 16, "sweep": True, "match_rates": True, "tol": 0.02}
    learned, results, paths = evaluate_folder(sweep, classic=classic)
    assert len(learned) == 1 and sweep / "eval" / "classic.json" in paths
    swept = load_results(sweep / "eval" / "classic.json")
    assert {p["name"] for p in swept} == {"JPEG", "JPEG2000 16-bit"} and len(swept) == len(results) == 20
    encoder_only = {
        "tiles",
        "coded_pixels",
        "encode_ms_tile",
        "decode_ms_tile",
        "clipped_low",
        "clipped_high",
    }
    keys = set(learned[0]["images"][0]) - encoder_only
    for payload in swept:  # same schema and same scenes as the learned codec
        assert keys <= set(payload["images"][0]) | {"param"} and payload["headers_counted"]
        assert [r["path"] for r in payload["images"]] == [r["path"] for r in learned[0]["images"]]
    matched = load_results(sweep / "seed=1" / "eval" / "matched.json")
    assert [p["codec"] for p in matched] == ["jpeg", "jpeg2000"]
    for row, target in zip(matched[1]["images"], learned[0]["images"]):
        assert row["target_bpp"] == target["bpp"]
    jpeg_bpp = [p["mean"]["bpp"] for p in swept if p["codec"] == "jpeg"]
    assert jpeg_bpp == sorted(jpeg_bpp)  # quality grid ascends, so does the rate


@pytest.mark.slow  # the command line end to end (tests.forked)
def test_evaluate_script_on_shared_sar(smoke_run, shared_sar, tmp_path):
    out = tmp_path / "sar.json"
    cmd = [
        sys.executable,
        "scripts/evaluate.py",
        f"run_dir={smoke_run}",
        f"out={out}",
        "data=geotiff",
        f"data.root={shared_sar}",
        "data.band_specs=configs/bands/shared_sar.yaml",
        "data.tile_size=64",
        "classic.codecs=[jpeg]",
        "classic.sweep=false",
    ]
    result = run_forked(cmd, REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (payload,) = load_results(out)  # N/A metrics, null in the file, read back as NaN
    rows = payload["images"]
    assert len(rows) == len(list(shared_sar.glob("*.tif")) + list(shared_sar.glob("*.png")))
    assert "PSNR" in result.stdout and all(math.isfinite(r["psnr"]) for r in rows)
    units = {r["image"]: r["units"] for r in rows}
    assert (
        units["sentinel1_grd_cargo_chip_5258_y11247.tif"] == "amplitude"
    )  # per configs/bands/shared_sar.yaml
    assert units["sentinel1_slc_cargo_chip_29087_y5288.tif"] == "intensity"  # I/Q in two bands, included
    display = [r for r in rows if r["units"] == "display8"]
    assert display and all(math.isnan(r["enl_ratio"]) for r in display)
    assert all(math.isfinite(r["epi"]) for r in rows if r["units"] != "display8")
    matched = load_results(tmp_path / "sar.matched.json")
    assert matched[0]["codec"] == "jpeg" and len(matched[0]["images"]) == len(rows)
