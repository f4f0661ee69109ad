"""Hydra multirun sweeps: each run in its own folder named by what it varied."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sarcomp.config import data_root_suffix, experiment_names
from sarcomp.runs import checkpoint_path
from tests.forked import run_forked
from tests.helpers import REPO, compose_train


def run_sweep(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "train.py",
        "-m",
        *overrides,
        "debug=smoke",
        "trainer.max_steps=2",
        "trainer.val_every=2",
        f"hydra.sweep.dir={tmp_path}",
    ]
    result = run_forked(cmd, REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow  # the command line end to end (tests.forked)
def test_placement_sweep_names_runs_by_override(tiny_data, tmp_path):
    run_sweep(
        tmp_path,
        "experiment=cbam_bottleneck",
        "model.attention.placement=bottleneck,encoder,decoder,everywhere",
        f"data.root={tiny_data}",
    )
    for placement in ("bottleneck", "encoder", "decoder", "everywhere"):
        name = (
            f"debug-smoke__experiment-cbam_bottleneck__model.attention.placement-{placement}__"
            f"trainer.max_steps-2__trainer.val_every-2{data_root_suffix(tiny_data)}"  # sweep jobs: data hash too
        )
        assert checkpoint_path(tmp_path / name).is_file(), sorted(p.name for p in tmp_path.iterdir())


@pytest.mark.slow  # the command line end to end (tests.forked)
def test_every_experiment_sweep(tiny_data, tmp_path):
    """Every experiment that ``data.root`` steers (those training on a mix of sources, such as
    ``complex_cpu``'s I/Q data or the study mix, read their own folders, absent in a fresh clone)."""
    mixed = [n for n in experiment_names() if compose_train([f"experiment={n}"]).data.get("sources")]
    assert {"complex_cpu", "fast_cpu"} <= set(mixed) and "baseline" not in mixed
    run_sweep(tmp_path, f"experiment=glob(*,exclude=[{','.join(mixed)}])", f"data.root={tiny_data}")
    runs = [p for p in tmp_path.iterdir() if p.is_dir() and (p / "checkpoints").is_dir()]
    expected = [n for n in experiment_names() if n not in mixed]
    assert sorted(r.name.split("experiment-")[1].split("__")[0] for r in runs) == expected
