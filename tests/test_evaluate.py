"""Evaluation rebuilds the model from a run folder and writes the metrics JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import evaluate_run
from tests.conftest import REPO


def test_evaluate_run_writes_json(smoke_run):
    payload, path = evaluate_run(smoke_run)
    assert path == smoke_run / "eval" / "metrics.json"
    saved = json.loads(path.read_text())
    assert saved["name"] == payload["name"] and len(saved["images"]) == 2
    row = saved["images"][0]
    assert row["bytes"] > 0 and row["bpp"] == pytest.approx(8 * row["bytes"] / (96 * 96))
    assert 0 < row["psnr"] < 60 and -1 <= row["ssim"] <= 1
    assert math.isnan(row["ms_ssim"])  # 96 px is below MS-SSIM's 161 px minimum: N/A, not a number
    assert row["encode_ms"] > 0 and row["decode_ms"] > 0 and saved["params"] > 0
    assert saved["mean"]["bpp"] == pytest.approx(sum(r["bpp"] for r in saved["images"]) / 2)


def test_evaluation_refuses_training_scenes(smoke_run, tiny_data):
    from omegaconf import OmegaConf

    from sarcomp.runs import load_run

    cfg, _, _ = load_run(smoke_run)
    data = OmegaConf.merge(cfg.data, {"root": str(tiny_data / "train")})
    with pytest.raises(SarcompError, match="used in training"):
        evaluate_run(smoke_run, data, out=str(smoke_run / "x.json"))


def test_evaluate_script_on_shared_sar(smoke_run, shared_sar, tmp_path):
    out = tmp_path / "sar.json"
    cmd = [sys.executable, "scripts/evaluate.py", f"run_dir={smoke_run}", f"out={out}",
           "data=geotiff", f"data.root={shared_sar}", "data.tile_size=64"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["images"]
    assert len(rows) == len(list(shared_sar.glob("*.tif")) + list(shared_sar.glob("*.png")))
    assert "PSNR" in result.stdout and all(math.isfinite(r["psnr"]) for r in rows)
