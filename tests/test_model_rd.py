"""experiments/model_rd.py: a shipped model on the frozen test split against classic codecs."""

from __future__ import annotations

import json
import math

import pytest

from sarcomp.errors import SarcompError
from sarcomp.evaluation.classic import classic_codecs, default_sweep
from tests.helpers import load_script

INF = float("inf")


@pytest.fixture(scope="module")
def model_rd():
    return load_script("experiments/model_rd.py")


def test_the_study_ladder_is_coded_at_the_study_seven_lambdas(model_rd):
    study = load_script("experiments/attention_study.py")
    assert model_rd.eval_lmbdas([0.0003, 0.001, 0.003, 0.01]) == list(study.EVAL_LMBDAS)
    assert model_rd.eval_lmbdas([0.1, 0.3]) == [0.1, 0.17, 0.3]
    assert model_rd.eval_lmbdas([0.01, 0.01]) == [0.01]  # one point, once (refused: a curve needs 4)


def _anchor(cubic: float, pchip: float, deltas: list[float]) -> dict:
    stats = {f"bd_rate_{m}_scene_window": {"estimate": v} for m, v in (("cubic", cubic), ("pchip", pchip))}
    return {"stats": stats, "delta_per_point": deltas}


def _points(*bpps: float) -> list[dict]:
    return [{"bpp": b} for b in bpps]


def test_a_bd_target_needs_both_fits_and_a_model_that_spans_the_range(model_rd):
    spans = _points(0.2, 3.0, 4.2)
    met = {t["target"][:9]: t["met"] for t in model_rd.targets(_anchor(-21.0, -19.0, [0.1, 0.1, 0.2]), spans)}
    assert met == {"milestone": True, "goal: BD-": False, "no point ": True}
    failed_fit = model_rd.targets(_anchor(-25.0, math.nan, [0.1, 0.1, 0.2]), spans)
    assert not failed_fit[0]["met"] and not failed_fit[1]["met"]  # N/A meets nothing, in either order
    assert not model_rd.targets(_anchor(math.nan, -25.0, [0.1, 0.1, 0.2]), spans)[0]["met"]
    high_only = model_rd.targets(_anchor(-25.0, -25.0, [0.1, 0.2]), _points(1.4, 4.2))  # from 1.4 bpp
    assert not high_only[0]["met"] and not high_only[0]["covered"] and not high_only[1]["met"]


def test_no_loss_up_to_4_bpp_fails_on_one_point_below_or_an_uncovered_top(model_rd):
    below = model_rd.targets(_anchor(-5, -5, [0.3, -0.01, 0.2]), _points(0.5, 2.0, 4.1))[2]
    assert not below["met"] and below["value"] == pytest.approx(-0.01)
    short = model_rd.targets(_anchor(-5, -5, [0.3, 0.2]), _points(0.5, 3.0))[2]  # stops at 3 bpp
    assert not short["met"] and not short["covered"]
    gap = model_rd.targets(_anchor(-5, -5, [0.3, math.nan, 0.1]), _points(0.5, 3.5, 4.2))[2]
    assert not gap["met"]  # JPEG 2000's sweep does not reach 3.5 bpp: unmeasured is not met
    above = model_rd.targets(_anchor(-5, -5, [0.3, 0.2, -2.0]), _points(0.5, 3.9, 4.5))[2]
    assert above["met"]  # the point past 4 bpp is outside the target


def test_extra_jpeg2000_rates_extend_its_sweep_in_nominal_bpp():
    codec = classic_codecs(["jpeg2000"], 16)[0]
    base, extended = default_sweep(codec), default_sweep(codec, [4.0, 5.0])
    assert len(extended) == len(base) + 2 and {16 / 4.0, 16 / 5.0} <= set(extended)
    assert default_sweep(codec, [3.0]) == base  # a rate already in the grid is not coded twice


def test_ship_zoo_records_a_model_rd_report_into_that_model_only(tmp_path, monkeypatch):
    ship = load_script("experiments/ship_zoo.py")
    monkeypatch.setattr(ship, "zoo_root", lambda: tmp_path)
    (tmp_path / ship.MANIFEST).write_text(
        json.dumps({"models": [{"name": "m"}, {"name": "o", "metrics": 1}]})
    )
    stats = {"bd_rate_cubic_scene": {"estimate": -5.0, "low": -8.0, "high": -2.0}}
    report = {
        "model": "m",
        "scenes": ["a.tif"],
        "points": [{"lmbda": 0.01, "bpp": 1.0, "psnr": 30.0}],
        "anchors": {"jpeg2000": {"stats": stats, "verdict": "better", "points": []}},
        "targets": [{"target": "goal", "value": -5.0, "met": False}],
    }
    (tmp_path / "rd.json").write_text(json.dumps(report))
    ship.record(str(tmp_path / "rd.json"), "python experiments/model_rd.py --model m --out x")
    m, o = json.loads((tmp_path / ship.MANIFEST).read_text())["models"]
    assert m["metrics"]["against"]["jpeg2000"] == {"stats": stats, "verdict": "better"}
    assert m["metrics"]["command"].startswith("python experiments/model_rd.py") and o["metrics"] == 1


def test_a_per_range_curve_takes_each_models_lambda_inside_its_range(model_rd):
    planned = model_rd.plan_points(["fast-vr-s8:0.0003-0.0055", "highrate-vr-s4:0.003-0.3"])
    fast = [lm for name, lm in planned if name == "fast-vr-s8"]
    high = [lm for name, lm in planned if name == "highrate-vr-s4"]
    assert fast == [0.0003, 0.00055, 0.001, 0.0017, 0.003, 0.0055]  # its 0.01 left to the other
    assert high == [0.003, 0.0055, 0.01, 0.017, 0.03, 0.055, 0.1, 0.17, 0.3]
    assert model_rd.plan_points(["fast-vr-s8"])[-1] == ("fast-vr-s8", 0.01)  # no range: all of them
    with pytest.raises(SarcompError, match="needs 4"):
        model_rd.plan_points(["fast-vr-s8:0.001-0.002"])
    with pytest.raises(SarcompError, match="name:λlo-λhi"):
        model_rd.parse_spec("fast-vr-s8:0.001")
