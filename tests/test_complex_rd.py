"""RD measurements of complex codecs (issue 29): items, rows, the 10° crossing, the reports."""

from __future__ import annotations

import numpy as np
import pytest

from sarcomp.analysis.complex_rd import (
    PairItem,
    crossing,
    mean_rows,
    measure,
    protocol_test_bands,
    self_pair,
    synthetic_pairs,
)
from sarcomp.codec.baq import baq
from tests.helpers import REPO, SHARED_SAR, load_script


def identity(s: np.ndarray) -> tuple[np.ndarray, float]:
    return s.copy(), 64.0 * s.size


def baq2(s: np.ndarray) -> tuple[np.ndarray, float]:
    result = baq(s, 2)
    return result.recon, 8.0 * result.num_bytes


def test_crossing_interpolates_between_the_bracketing_points():
    assert crossing([(4, 20.0), (2, 40.0), (8, 5.0)], 10.0) == {
        "rate": pytest.approx(4 + (20 - 10) / (20 - 5) * 4),
        "measured": [(4, 20.0), (8, 5.0)],
    }
    assert crossing([(1, 3.0), (2, 1.0)], 10.0)["at_lowest"] and crossing([(1, 3.0)], 10.0)["rate"] == 1
    assert crossing([(1, 30.0), (2, 12.0)], 10.0)["rate"] is None


def test_measure_rows_for_identity_and_baq():
    item = synthetic_pairs(1, 64)[0]
    assert item.name == "pair_0000 (bowl)" and item.group == "synthetic"
    copy, coded = measure([item], [("copy", "-", identity), ("BAQ", "2 bits", baq2)], looks=(4, 4))
    assert copy["bits_per_sample"] == 64 and copy["amplitude_psnr_db"] == np.inf
    assert copy["ifg_phase_error_deg"] < 1e-9 and copy["coherence_bias"] == 0
    assert coded["bits_per_sample"] == 4 + 16 * 4 / 64**2
    assert coded["ifg_phase_error_deg"] > 1 and coded["coherence_bias"] < 0
    twice = mean_rows([copy, copy | {"item": "other", "bits_per_sample": 32.0}])
    assert len(twice) == 1 and twice[0]["n"] == 2 and twice[0]["bits_per_sample"] == 48


def test_self_pair_carries_one_fringe():
    s = np.ones((31, 157), complex)
    item = self_pair("band", s)
    assert isinstance(item, PairItem) and item.s1 is s
    phase = -np.angle(item.s2)  # s2 = s1 · exp(−jφ)
    assert phase.max() == pytest.approx(np.pi, abs=0.05)  # λ/2 of subsidence: one fringe at the centre


def test_protocol_test_bands_are_the_frozen_crops():
    if not SHARED_SAR.is_dir():
        pytest.skip("../shared/sar is not present")
    bands = protocol_test_bands(
        SHARED_SAR, REPO / "experiments/protocol/sar_splits.json", REPO / "configs/bands/shared_sar.yaml"
    )
    shapes = {name: s.shape for name, s in bands.items()}
    assert shapes == {"terrasarx_slc.tif": (51, 256), "sentinel1_slc_cargo_chip_29087_y5288.tif": (31, 157)}
    assert all(np.iscomplexobj(s) and np.abs(s).mean() > 1 for s in bands.values())


def test_representation_report_runs_small(tmp_path):
    script = load_script("experiments/complex_representation.py")
    items = synthetic_pairs(1, 64)
    trips = {name: script.round_trip(items, rep) for name, rep in script.CANDIDATES.items()}
    assert all(t["phase_error_deg_max"] < 1e-3 for t in trips.values())
    rep = script.CANDIDATES["iq p=0.5 c=p99.9"]
    coarse, fine = (script.quantiser(rep, step) for step in (1 / 8, 1 / 256))
    rows = measure(items, [("q", "1/8", coarse), ("q", "1/256", fine)])
    assert rows[0]["bits_per_sample"] < rows[1]["bits_per_sample"]
    assert rows[0]["ifg_phase_error_deg"] > rows[1]["ifg_phase_error_deg"]
    assert "float32 round trip" in script.markdown(trips, mean_rows(rows), 1.0, "cmd")


def test_baselines_report_runs_small(tmp_path):
    script = load_script("experiments/complex_baselines.py")
    chosen = [c for c in script.codecs() if c[1] in ("2 bits", "4 bits", "target 3", "target 8")]
    rows = mean_rows(measure(synthetic_pairs(1, 64), chosen))
    assert [(r["codec"], r["setting"]) for r in rows] == [
        ("BAQ", "2 bits"),
        ("BAQ", "4 bits"),
        ("JPEG 2000 I/Q", "target 3"),
        ("JPEG 2000 I/Q", "target 8"),
    ]
    cross = script.crossings(rows)
    text = script.markdown(rows, {"synthetic": ["pair_0000 (bowl) 64x64"]}, cross, 1.0, "cmd")
    assert "| synthetic (1) | BAQ | 2 bits | 4.02 |" in text and "goes below 10°" in text
    script.plot(rows, tmp_path / "rd.png")
    assert (tmp_path / "rd.png").stat().st_size > 10_000
