"""torchrun: two CPU processes (gloo) train one model with DistributedDataParallel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sarcomp.runs import checkpoint_path
from tests.helpers import REPO, smoke_overrides


@pytest.mark.slow  # a subprocess: a fresh interpreter and Hydra
def test_torchrun_two_cpu_ranks(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "train.py",
        *smoke_overrides(tiny_data, "trainer.device=cpu", "trainer.accumulate=2"),
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # both ranks ran the same steps and ended with the same weights (checked by the trainer)
    assert "all 2 ranks finished at step 4 with identical weights" in output

    state = torch.load(checkpoint_path(run_dir), weights_only=True)
    assert state["step"] == 4 and state["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # ranks seeded apart

    # rank 0 alone writes: one process's event files, one copy of each log line and of .hydra/
    events = [p.name for p in (run_dir / "tensorboard").iterdir() if p.name.startswith("events")]
    assert len({name.split(".")[-2] for name in events}) == 1, (
        events
    )  # events.out.tfevents.<t>.<host>.<pid>.<n>
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    log = (run_dir / "train.log").read_text()
    assert log.count("step 4 val:") == 1 and (run_dir / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]


def test_slurm_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the `slurm` extra is not installed")
    from hydra import compose, initialize_config_dir

    from sarcomp.config import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.gpus_per_node=4",
                "hydra.launcher.tasks_per_node=4",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert (
        launcher._target_.endswith("SlurmLauncher") and launcher.tasks_per_node == launcher.gpus_per_node == 4
    )
    assert launcher.max_num_timeout > 0  # requeue after a time-out: training resumes exactly
