"""The metrics JSON schema is pinned by a golden file: a change to it must be deliberate.

Regenerate after an intended change with ``SARCOMP_UPDATE_GOLDEN=1 python -m pytest
tests/test_metrics_schema.py`` and review the diff of ``tests/golden/metrics_schema.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sarcomp.evaluation.evaluate import evaluate_folder
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
