"""Choosing the rate (issue 24, part 1): ``--lmbda`` for a variable-rate model, ``--quality N`` on
the shipped curve's points, ``--bpp T`` searched per scene; ``sarcomp info`` says what was used."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sarcomp.codec.commands import info_lines, main
from sarcomp.codec.container import float32
from sarcomp.codec.rate import Curve, Point, RateRequest, choose, curve_for, search_bpp
from sarcomp.codec.sarcfile import open_sarc
from sarcomp.codec.scene import compress_file
from sarcomp.errors import SarcompError
from tests.helpers import write_tif

VR = "baseline-ms-vr-s8"  # trained λ 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1
CURVE = "baseline-ms-s8"  # baseline-ms-s8-l001, -l0015, -l003, -l01, -l03
OPTS = {"tile": 64, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    texture = 0.05 * (1.5 + np.sin(np.arange(96)[:, None] / 9.0) * np.cos(np.arange(112)[None] / 13.0))
    data = (texture * rng.gamma(4.0, 0.25, (96, 112))).astype(np.float32)
    return write_tif(tmp_path_factory.mktemp("rate") / "scene.tif", data)


def _header(path: Path):
    fh, header, _ = open_sarc(path)
    fh.close()
    return header


def test_lmbda_codes_a_variable_rate_model_at_that_point(scene, tmp_path, cached_models):
    low = compress_file(scene, tmp_path / "low.sarc", VR, lmbda=0.003, **OPTS)
    high = compress_file(scene, tmp_path / "high.sarc", VR, **OPTS)  # the model's default: its top λ
    assert _header(tmp_path / "low.sarc").lmbda == float32(0.003) and low["quality"] == 3
    assert high["lmbda"] == pytest.approx(0.1) and "default λ" in high["rate"]
    assert low["bytes"] < high["bytes"]
    text = "\n".join(info_lines(tmp_path / "low.sarc"))
    assert "rate: λ 0.003 of baseline-ms-vr-s8's variable-rate range [0.0003, 0.1], quality 3 of 6" in text


def test_lmbda_on_a_fixed_rate_model_is_a_one_line_error(scene, tmp_path, capsys, cached_models):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "compress",
                str(scene),
                str(tmp_path / "x.sarc"),
                "--model",
                "baseline-ms-s8-l003",
                "--lmbda",
                "0.003",
            ]
        )
    err = capsys.readouterr().err
    assert (
        exc.value.code == 2 and err.count("\n") == 1 and "fixed-rate model" in err and "--quality 1..5" in err
    )
    assert not (tmp_path / "x.sarc").exists()
    with pytest.raises(SarcompError, match=r"outside the trained range \[0.0003, 0.1\]"):
        compress_file(scene, tmp_path / "x.sarc", VR, lmbda=0.5, **OPTS)


def test_quality_picks_the_curves_models_and_the_variable_rate_models_lambdas(scene, tmp_path, cached_models):
    out = compress_file(scene, tmp_path / "c2.sarc", CURVE, quality=2, **OPTS)
    assert out["model"] == "baseline-ms-s8-l0015" and str(_header(tmp_path / "c2.sarc").model) == out["model"]
    assert "quality 2 of 5 of the shipped curve baseline-ms-s8" in "\n".join(info_lines(tmp_path / "c2.sarc"))
    member = compress_file(scene, tmp_path / "m4.sarc", "baseline-ms-s8-l003", quality=4, **OPTS)
    assert member["model"] == "baseline-ms-s8-l01"  # a curve's model reaches the curve's other points
    vr = compress_file(scene, tmp_path / "v1.sarc", VR, quality=1, **OPTS)
    assert vr["lmbda"] == pytest.approx(0.0003) and _header(tmp_path / "v1.sarc").lmbda == float32(0.0003)
    with pytest.raises(SarcompError, match="has 6 operating point"):
        compress_file(scene, tmp_path / "x.sarc", VR, quality=7, **OPTS)
    with pytest.raises(SarcompError, match="names a curve of 5 shipped models"):
        compress_file(scene, tmp_path / "x.sarc", CURVE, **OPTS)


@pytest.mark.parametrize("model", [VR, CURVE])
def test_bpp_lands_at_or_under_the_target(scene, tmp_path, cached_models, model):
    lowest = compress_file(scene, tmp_path / "lo.sarc", model, quality=1, **OPTS)["bpp"]
    highest = compress_file(scene, tmp_path / "hi.sarc", model, quality=5, **OPTS)["bpp"]
    target = math.sqrt(lowest * highest)
    out = compress_file(scene, tmp_path / "t.sarc", model, bpp=target, **OPTS)
    assert out["bpp"] <= target and out["bpp"] == 8 * (tmp_path / "t.sarc").stat().st_size / (96 * 112)
    assert out["encodings"] > 1 and "--bpp" in out["rate"]
    if model == VR:  # bisection in log λ: close under the target
        assert out["bpp"] > 0.9 * target
    else:  # the next point of the curve would overshoot
        above = compress_file(scene, tmp_path / "n.sarc", model, quality=out["quality"] + 1, **OPTS)
        assert above["bpp"] > target
    with pytest.raises(SarcompError, match="the lowest rate of"):
        compress_file(scene, tmp_path / "x.sarc", model, bpp=0.5 * lowest, **OPTS)


def test_search_bpp_on_known_curves():
    def vr_measure(p: Point) -> float:  # bpp = 10 λ^0.5: the answer for 0.5 is λ = 0.0025
        return 10 * p.lmbda**0.5

    lmbdas = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)
    vr = Curve("m", "m", tuple(Point("m", v, v) for v in lmbdas), variable_rate=True)
    point, bpp, probes = search_bpp(0.5, vr, vr_measure)
    assert bpp <= 0.5 and bpp > 0.5 * 0.99 and point.lmbda == pytest.approx(0.0025, rel=0.03) and probes <= 12
    assert search_bpp(5.0, vr, vr_measure)[0].lmbda == 0.1  # the top point fits: one encoding
    rates = [0.2, 0.4, 0.9, 1.8, 2.7]
    curve = Curve("c", "c", tuple(Point(f"m{i}", None, i) for i in range(5)))
    point, bpp, probes = search_bpp(1.0, curve, lambda p: rates[int(p.rank)])
    assert point.model == "m2" and bpp == 0.9 and probes == 4
    with pytest.raises(SarcompError, match="lowest rate of c on this scene is 0.2000"):
        search_bpp(0.1, curve, lambda p: rates[int(p.rank)])


def test_a_run_folders_fixed_model_has_one_point(smoke_run):
    curve = curve_for(str(smoke_run), lambda: ())
    assert len(curve.points) == 1 and not curve.variable_rate
    assert choose(RateRequest(), curve).model == str(smoke_run)
    with pytest.raises(SarcompError, match="has 1 operating point"):
        choose(RateRequest(quality=2), curve)
    with pytest.raises(SarcompError, match="give one of --lmbda, --quality and --bpp"):
        RateRequest(lmbda=0.01, bpp=1.0)
