"""Evaluating a complex run (issue 29): ``scripts/evaluate.py`` measures complex samples (bits per
complex sample, amplitude PSNR in dB, phase error, interferometric errors on a self-pair) instead
of failing on a channel count; what is not meaningful for a complex run is one clear line."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest

from sarcomp.data.complex_synthetic import generate_complex_dataset
from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import evaluate_folder
from sarcomp.training.trainer import train
from tests.forked import run_forked
from tests.helpers import REPO, compose_train, load_script


@pytest.fixture(scope="module")
def complex_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("complex_data")
    generate_complex_dataset(root, {"train": 2, "val": 1, "test": 1}, pairs=0, size=64, seed=0)
    run = tmp_path_factory.mktemp("complex_run")
    overrides = ["debug=smoke", "data=complex_synthetic", "model=complex", f"data.root={root}"]
    train(compose_train(overrides, run), run)
    return run


def test_a_complex_run_is_evaluated_as_complex_samples(complex_run):
    learned, sweep, paths = evaluate_folder(
        complex_run,
        device="cpu",
        classic={
            "codecs": ["jpeg2000"],
            "sweep": True,
            "match_rates": True,
            "match_codecs": None,
            "bits": 16,
            "tol": 0.02,
        },
    )
    (payload,) = learned
    assert payload["codec"] == "learned-complex" and sweep == [] and paths == [paths[0]]
    row = payload["images"][0]
    assert row["complex"] == "iq" and row["bpp"] == 8 * row["bytes"] / (64 * 64)
    for key in ("amplitude_psnr_db", "phase_error_deg", "ifg_phase_error_deg", "coherence_bias"):
        assert math.isfinite(row[key]) and math.isfinite(payload["mean"][key])
    assert 0 <= row["ifg_phase_error_deg"] <= 180 and json.loads(paths[0].read_text())["images"][0]["image"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ablate": ["all"]}, "ablate= is not available"),
        ({"save_recon": True}, "save_recon=true is not available"),
    ],
)
def test_what_a_complex_run_cannot_do_is_one_line(complex_run, kw, message):
    with pytest.raises(SarcompError, match=message):
        evaluate_folder(complex_run, device="cpu", **kw)


def test_real_data_for_a_complex_run_is_refused(complex_run, tiny_data):
    data = compose_train([f"data.root={tiny_data}"]).data
    with pytest.raises(SarcompError, match="evaluates on complex data"):
        evaluate_folder(complex_run, data, device="cpu")


def test_evaluate_script_prints_the_complex_table(complex_run, tmp_path):
    out = tmp_path / "m.json"
    done = run_forked(
        [sys.executable, "scripts/evaluate.py", str(complex_run), f"out={out}", "classic.codecs=[]"],
        REPO,
        {**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bits/sample" in done.stdout and "ifg phase err" in done.stdout
    assert np.isfinite(json.loads(out.read_text())["mean"]["phase_error_deg"])


def test_complex_study_measures_a_run_beside_the_baselines(complex_run, tmp_path):
    from sarcomp.analysis.complex_rd import (
        baseline_codecs,
        family_crossings,
        mean_rows,
        measure,
        synthetic_pairs,
    )

    study = load_script("experiments/complex_study.py")
    learned, about = study.learned_codecs(complex_run, "best", None, 64)
    assert about["step"] == 4 and len(learned) == 1
    items = synthetic_pairs(1, 64)
    rows = measure(items, learned)
    assert rows[0]["codec"] == study.LEARNED and 0 < rows[0]["bits_per_sample"] < 64
    rows = mean_rows(rows + measure(items, baseline_codecs([2], study.matched_j2k(mean_rows(rows)))))
    assert [r["codec"] for r in rows] == [study.LEARNED, "BAQ", "JPEG 2000 I/Q"]
    cross = family_crossings(rows, study.FAMILIES, study.THRESHOLD_DEG)
    text = study.markdown(rows, about, cross, 1.0, "cmd")
    assert "| synthetic (1) | BAQ | 2 bits | 4.02 |" in text and "goes below 10°" in text


def test_complex_study_refuses_a_real_run(smoke_run):
    study = load_script("experiments/complex_study.py")
    with pytest.raises(SarcompError, match="not a complex run"):
        study.learned_codecs(smoke_run, "best", None, 64)


def test_the_cpu_recipe_composes_a_variable_rate_complex_model():
    from sarcomp.training.checks import check_channels, check_tile_sizes

    cfg = compose_train(["experiment=complex_cpu"])
    check_channels(cfg.data, cfg.model)
    check_tile_sizes(cfg.data, cfg.model)
    assert cfg.model.in_channels == 2 and len(cfg.model.lmbdas) == 4 and cfg.trainer.device == "cpu"
    roots = [str(s.root) for s in cfg.data.sources]
    assert roots[0].endswith("complex_synthetic") and roots[1].endswith("shared_sar_splits")
    assert cfg.data.complex.form == "iq"
