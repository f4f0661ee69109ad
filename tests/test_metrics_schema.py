"""The metrics JSON schema is pinned by a golden file: a change to it must be deliberate.

Regenerate after an intended change with ``SARCOMP_UPDATE_GOLDEN=1 python -m pytest
tests/test_metrics_schema.py`` and review the diff of ``tests/golden/metrics_schema.json``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from sarcomp.evaluation.evaluate import evaluate_folder
from sarcomp.fileio import write_json
from sarcomp.runs import load_results, matched_path, metrics_path

GOLDEN = Path(__file__).resolve().parent / "golden" / "metrics_schema.json"
CLASSIC = {
    "codecs": ["jpeg2000"],
    "bits": 16,
    "sweep": True,
    "match_rates": True,
    "match_codecs": None,
    "tol": 0.05,
}


def _shape(payload: dict) -> dict:
    """Key names of a payload, its rows and its mean (values vary; names are the schema)."""
    return {
        "payload": sorted(payload),
        "row": sorted(set().union(*(row.keys() for row in payload["images"]))),
        "mean": sorted(payload["mean"]),
        "hardware": sorted(payload["hardware"]),
    }


def test_metrics_json_keys_match_the_golden_file(smoke_run, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(smoke_run, sweep / "run", ignore=shutil.ignore_patterns("eval", "tensorboard"))
    learned, classic, _ = evaluate_folder(sweep, classic=CLASSIC)
    matched = load_results(matched_path(metrics_path(sweep / "run")))
    current = {
        "learned": _shape(learned[0]),
        "classic_sweep": _shape(classic[0]),
        "matched": _shape(matched[0]),
    }
    if os.environ.get("SARCOMP_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(GOLDEN.read_text())


def _reject(constant: str) -> None:
    raise ValueError(f"non-standard JSON constant {constant}")


def test_results_files_are_strict_json_and_read_back_na_as_nan(smoke_run, tmp_path):
    """N/A metrics (MS-SSIM of the 96-px scenes) are ``null`` in every file, never a bare NaN;
    :func:`load_results` gives them back as NaN."""
    sweep = tmp_path / "sweep"
    shutil.copytree(smoke_run, sweep / "run", ignore=shutil.ignore_patterns("eval", "tensorboard"))
    evaluate_folder(sweep, classic=CLASSIC)
    files = sorted(sweep.rglob("eval/*.json"))
    assert len(files) == 3  # metrics, matched, classic sweep
    for path in files:
        json.loads(path.read_text(), parse_constant=_reject)
    raw = json.loads(metrics_path(sweep / "run").read_text())
    assert raw["mean"]["ms_ssim"] is None and raw["mean"]["ms_ssim_n"] == 0
    assert all(row["ms_ssim"] is None for row in raw["images"])
    (payload,) = load_results(metrics_path(sweep / "run"))
    assert math.isnan(payload["mean"]["ms_ssim"]) and math.isnan(payload["images"][0]["ms_ssim"])
    assert payload["images"][0]["sha256"] == raw["images"][0]["sha256"]


def test_write_json_writes_nan_as_null_and_numpy_scalars_as_numbers(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": np.float32("nan"), "b": [np.int64(3), float("inf")], "c": tmp_path})
    assert json.loads(path.read_text(), parse_constant=_reject) == {
        "a": None,
        "b": [3, "inf"],
        "c": str(tmp_path),
    }
