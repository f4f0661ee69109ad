"""The shipped models' report (sarcomp/analysis/zoo.py, scripts/zoo_report.py)."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest

from sarcomp.analysis.zoo import build_zoo_report, render_zoo_markdown
from sarcomp.evaluation.results import mean_row
from sarcomp.models.zoo import export_run
from tests.forked import run_forked
from tests.helpers import REPO


def payload(name, codec, rows, **extra):
    images = [{"path": p, "image": p, "bpp": b, "psnr": d} for p, b, d in rows]
    return {"name": name, "codec": codec, "images": images, "mean": mean_row(images), **extra}


def sweep(codec, points):
    """A classic sweep over scenes a and b, both at the same (bpp, PSNR) per parameter."""
    return [
        payload(codec, codec, [("a", b, d), ("b", b, d)], param=float(i)) for i, (b, d) in enumerate(points)
    ]


def test_delta_is_per_scene_on_common_scenes_and_milestones_follow_it():
    # scene c is only in the learned results: it must be dropped everywhere
    learned = [
        payload("m", "learned", [("a", 0.5, 20.0), ("b", 0.5, 22.0), ("c", 0.5, 99.0)], lmbda=0.01),
        payload("m", "learned", [("a", 1.0, 23.0), ("b", 1.0, 25.0), ("c", 1.0, 99.0)], lmbda=0.04),
    ]
    matched = [
        [payload("J2K", "jpeg2000", [("a", 0.5, 20.2), ("b", 0.5, 21.0)])],
        [payload("J2K", "jpeg2000", [("a", 1.0, 24.0), ("b", 1.0, 25.0)])],
    ]
    anchor = sweep("jpeg2000", [(0.25, 18.0), (0.5, 20.5), (1.0, 24.5), (2.0, 28.0)])
    report = build_zoo_report(learned, matched, anchor)
    assert report["scenes"] == ["a", "b"]
    low, high = report["points"]
    assert low["psnr"] == pytest.approx(21.0)  # mean over a and b only
    assert low["delta_jpeg2000"]["mean"] == pytest.approx((-0.2 + 1.0) / 2)
    assert (low["delta_jpeg2000"]["min"], low["delta_jpeg2000"]["max"]) == pytest.approx((-0.2, 1.0))
    assert high["delta_jpeg2000"]["mean"] == pytest.approx(-0.5)
    model = report["models"]["m"]
    assert model["milestone_1"] is True  # -0.5 dB is within 0.5 dB
    # two points: no cubic fit, and the table says why
    assert "na" in model["bd"]["jpeg2000"]
    text = render_zoo_markdown(report)
    assert "N/A (2 RD point(s); the cubic fit needs 4)" in text and "+0.40 (-0.20 … +1.00)" in text


def test_a_point_more_than_half_a_db_below_fails_milestone_1():
    learned = [payload("m", "learned", [("a", 0.5, 20.0)], lmbda=0.01)]
    matched = [[payload("J2K", "jpeg2000", [("a", 0.5, 20.6)])]]
    report = build_zoo_report(learned, matched, sweep("jpeg2000", [(0.25, 18.0), (0.5, 20.5)]))
    assert report["models"]["m"]["milestone_1"] is False
    assert "| m | 1 (1) |" in render_zoo_markdown(report) and "not met" in render_zoo_markdown(report)


def test_milestones_count_only_the_rates_they_are_set_over():
    # four points: 0.1 and 3 bpp lie outside 0.25-2 bpp and are 3 dB below JPEG 2000 there
    rates = [0.1, 0.5, 1.0, 3.0]
    j2k = {r: 10 * math.log10(r) + 25 for r in [0.05, *rates, 4.0]}
    gap = {0.1: -3.0, 0.5: -0.2, 1.0: -0.3, 3.0: -3.0}
    learned = [payload("m", "learned", [("a", r, j2k[r] + gap[r])], lmbda=r) for r in rates]
    matched = [[payload("J2K", "jpeg2000", [("a", r, j2k[r])])] for r in rates]
    report = build_zoo_report(learned, matched, sweep("jpeg2000", sorted(j2k.items())))
    model = report["models"]["m"]
    assert model["points_in_range"] == 2 and model["milestone_1"] is True
    whole, in_range = model["bd"]["jpeg2000"]["bd_psnr"], model["bd_in_range"]["bd_psnr"]
    assert whole < in_range < 0  # the cubic fit through all four points, integrated over less of it
    text = render_zoo_markdown(report)
    assert "| m | 4 (2) |" in text and "BD-rate % over 0.25–2 bpp" in text


def test_single_lambda_models_of_one_curve_are_fitted_and_judged_together():
    j2k = {r: 10 * math.log10(r) + 25 for r in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)}
    rates = (0.25, 0.5, 1.0, 2.0)
    learned = [
        payload(f"s-l{i}", "learned", [("a", r, j2k[r] - 0.2)], lmbda=r, curve="s")
        for i, r in enumerate(rates)
    ]
    learned.append(payload("alone", "learned", [("a", 1.0, j2k[1.0])], lmbda=0.01))
    matched = [
        [payload("J2K", "jpeg2000", [("a", p["mean"]["bpp"], j2k[p["mean"]["bpp"]])])] for p in learned
    ]
    report = build_zoo_report(learned, matched, sweep("jpeg2000", sorted(j2k.items())))
    assert set(report["models"]) == {"s", "alone"}
    curve = report["models"]["s"]
    assert curve["points"] == 4 and curve["milestone_1"] is True
    assert curve["bd_in_range"]["bd_psnr"] == pytest.approx(-0.2, abs=1e-6)
    assert [p["name"] for p in report["points"][:4]] == ["s-l0", "s-l1", "s-l2", "s-l3"]


@pytest.mark.slow
def test_zoo_report_script_on_a_temporary_zoo(smoke_run, tiny_data, tmp_path):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    export_run(smoke_run, "tiny", "python train.py debug=smoke", {}, zoo_dir=zoo)
    out = tmp_path / "report" / "zoo.md"
    cmd = [
        sys.executable,
        "scripts/zoo_report.py",
        "data=geotiff",
        f"data.root={tiny_data}",
        "data.tile_size=32",
        "classic.codecs=[jpeg2000]",
        "classic.match_codecs=[jpeg2000]",
        f"out={out}",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    env = {**os.environ, "SARCOMP_ZOO": str(zoo), "PYTHONPATH": str(REPO)}
    result = run_forked(cmd, REPO, env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert len(report["scenes"]) == 2  # the test split; the run's train/val scenes never appear
    (point,) = report["points"]
    assert point["name"] == "tiny" and point["delta_jpeg2000"]["n"] == 2
    assert "ΔPSNR vs jpeg2000" in out.read_text() and out.with_name("zoo_rd_psnr.png").is_file()


def test_detection_table_shows_the_original_the_model_and_the_classic_codec_at_its_rates():
    det = {"det_pd": 0.9, "det_pd_ref": 0.95, "det_pd_change": -0.05, "det_f1": 0.8, "refl_psnr_ref": 30.0}
    learned = [payload("m", "learned", [("a", 0.5, 20.0)], lmbda=0.01)]
    learned[0]["images"][0].update(det)
    learned[0]["mean"] = mean_row(learned[0]["images"])
    matched = [[payload("J2K", "jpeg2000", [("a", 0.5, 20.6)])]]
    matched[0][0]["images"][0].update(det, det_pd=0.85, det_pd_change=-0.1)
    matched[0][0]["mean"] = mean_row(matched[0][0]["images"])
    text = render_zoo_markdown(build_zoo_report(learned, matched, sweep("jpeg2000", [(0.5, 20.5)])))
    assert "| original (uncompressed) | — | 0.950 | +0.00 | N/A | +0 | 1.000 |" in text
    assert "| m λ=0.01 | 0.500 | 0.900 | -5.00 | N/A | N/A | 0.800 |" in text
    assert "| &nbsp;&nbsp;jpeg2000 at these rates | 0.500 | 0.850 | -10.00 |" in text
