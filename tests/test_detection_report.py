"""Detection fidelity over rate (sarcomp.analysis.detection): pooled points, thresholds, the goal."""

from __future__ import annotations

import math

import pytest

from sarcomp.analysis.detection import goal, keeps, pooled, threshold, threshold_table


def row(**values):
    base = {"bpp": 1.0, "height": 100, "width": 100, "valid_fraction": 1.0}
    return base | values


def test_pooled_weights_pd_by_targets_and_f1_by_detections() -> None:
    rows = [
        row(det_targets=10, det_pd=0.5, det_pd_ref=0.6, det_fa_mpx=100.0, det_fa_mpx_ref=0.0)
        | {"det_n": 4, "det_ref_n": 4, "det_f1": 0.5, "det_peak_err_db": 1.0, "det_shift_px": 2.0},
        row(det_targets=30, det_pd=1.0, det_pd_ref=1.0, det_fa_mpx=0.0, det_fa_mpx_ref=0.0, bpp=3.0)
        | {"det_n": 0, "det_ref_n": 0, "det_f1": math.nan, "det_peak_err_db": math.nan},
    ]
    p = pooled(rows)
    assert p["det_pd"] == pytest.approx((5 + 30) / 40) and p["det_pd_change"] == pytest.approx(-1 / 40)
    assert p["det_fa_mpx"] == pytest.approx(50.0) and p["bpp"] == pytest.approx(2.0)
    assert p["det_f1"] == pytest.approx(0.5) and p["det_peak_err_db"] == pytest.approx(1.0)
    assert p["targets"] == 40 and p["ref_detections"] == 4


def test_real_scenes_pool_f1_from_pair_counts() -> None:
    rows = [row(det_n=9, det_ref_n=10, det_f1=18 / 19), row(det_n=1, det_ref_n=0, det_f1=0.0)]
    assert pooled(rows)["det_f1"] == pytest.approx(18 / 20)
    assert math.isnan(pooled(rows)["det_pd"])


def point(bpp, change_pp=None, f1=None):
    return {"bpp": bpp, "det_pd_change": None if change_pp is None else change_pp / 100, "det_f1": f1}


def test_keeps_is_within_the_tolerance_either_way_or_f1_without_truth() -> None:
    assert keeps(point(1, -0.9)) and keeps(point(1, +1.0)) and not keeps(point(1, -1.2))
    assert not keeps(point(1, +1.5))  # a different answer, even a better one, is not the same answer
    assert keeps(point(1, f1=0.995)) and not keeps(point(1, f1=0.98)) and keeps(point(1)) is None


def test_threshold_is_the_lowest_rate_from_which_every_higher_point_keeps_detection() -> None:
    pts = [point(0.2, -5), point(0.4, -0.5), point(0.8, -3), point(1.6, -0.8), point(3.2, -0.1)]
    t = threshold(pts)
    assert t["status"] == "kept from" and t["bpp"] == 1.6 and t["below"] == 0.8
    # -3 pp at 0.8 bpp, -0.8 at 1.6: |ΔPd| = 1 at a fraction 2/2.2 of the way in log rate
    assert t["interpolated"] == pytest.approx(math.exp(math.log(0.8) + (2 / 2.2) * math.log(2)))
    assert threshold([point(0.5, -0.2), point(1, 0.1)])["status"] == "kept at every rate"
    assert threshold([point(0.5, -0.2), point(1, -2)]) == {
        "status": "not kept",
        "bpp": None,
        "below": 1,
        "interpolated": None,
    }


def test_goal_is_fit_free_where_the_points_allow_and_says_so_otherwise() -> None:
    learned = threshold([point(0.3, -2), point(0.5, -0.5), point(1.0, -0.2)])
    assert goal(learned, threshold([point(0.5, -1.5), point(0.8, -0.9)]))[0] == "met"
    assert goal(learned, threshold([point(0.3, -3), point(0.45, -0.3)]))[0] == "not met"
    assert goal(learned, threshold([point(0.6, -0.1)])) == (
        "undetermined",
        "JPEG 2000 was not measured below 0.600 bpp",
    )
    verdict, why = goal(learned, threshold([point(0.2, -4), point(0.9, 0)]))  # crossings between points
    assert verdict == "met" and why.startswith("by interpolation")
    assert goal(threshold([point(1, -5)]), learned)[0] == "not met"
    assert goal(threshold([point(1, -5)]), threshold([point(2, -3)])) == (
        "not met",
        "the learned curve does not keep detection at any measured rate (up to 1.000 bpp); "
        "nor does JPEG 2000 (up to 2.000 bpp)",
    )
    assert goal(learned, threshold([point(1, -5)]))[0] == "met"


def test_threshold_table_names_where_each_codec_keeps_detection() -> None:
    pts = {
        "learned": [point(0.5, -2) | {"det_fa_change": 5.0}, point(1.0, -0.5) | {"det_fa_change": -3.0}],
        "jpeg2000": [point(0.5, -4), point(1.0, -3)],
    }
    text = threshold_table(pts, {c: threshold(p) for c, p in pts.items()})
    assert "| learned | 2 (0.50–1.00) | 1.000 bpp | 0.500 | 0.794 | ΔPd [pp] -0.50 | -3 |" in text
    assert "| jpeg2000 | 2 (0.50–1.00) | not kept (up to the highest rate) | 1.000 | N/A | — |" in text
