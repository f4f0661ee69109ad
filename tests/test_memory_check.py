"""scripts/memory_check.py: a CPU estimate here, a measurement where CUDA is available."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import load_script

memory_check = load_script("scripts/memory_check.py")
TINY = ["debug=smoke", "trainer.device=cpu"]


def test_cpu_estimate_is_labelled_and_flags_the_budget(capsys):
    assert memory_check.main(["experiment=baseline,cbam_everywhere", *TINY]) == 0
    out = capsys.readouterr().out
    assert "cannot be measured" in out and "ESTIMATE" in out
    rows = [line for line in out.splitlines() if line.startswith(("baseline", "cbam_everywhere"))]
    assert len(rows) == 2 and all(r.endswith("within budget (estimate)") for r in rows)

    assert memory_check.main(["experiment=baseline", "budget_gb=1e-6", *TINY]) == 0  # nothing measured
    assert "over budget (estimate)" in capsys.readouterr().out


def test_estimate_counts_parameters_and_scales_with_the_batch():
    cfg = memory_check.compose_experiment("baseline", TINY)
    one = memory_check.estimate_cpu(cfg)
    cfg.data.batch_size = 2 * cfg.data.batch_size
    two = memory_check.estimate_cpu(cfg)
    assert one["state"] == two["state"] == 4 * 4 * one["params"]  # fp32 weights, grads, 2 Adam moments
    assert two["activations"] == 2 * one["activations"] > 0


def test_unknown_experiment_is_refused(capsys):
    from sarcomp.cli import run_cli

    with pytest.raises(SystemExit) as info:
        run_cli(memory_check.main, ["experiment=nope"])
    assert info.value.code == 2
    assert "unknown experiment; valid: baseline" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_measurement():
    cfg = memory_check.compose_experiment("baseline", ["debug=smoke", "trainer.device=cuda"])
    result = memory_check.measure_cuda(cfg, steps=2)
    assert result["peak"] > 0 and result["reserved"] >= result["peak"]
