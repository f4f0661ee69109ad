"""Train a SAR codec: python train.py experiment=cbam_bottleneck [debug=smoke] [key=value ...]

Several processes: ``torchrun --nproc_per_node=N train.py ...`` (DistributedDataParallel; rank 0
alone logs and writes the run folder). Sweeps: ``python train.py -m experiment=a,b`` (one job
after another), or on SLURM with ``hydra/launcher=slurm`` (see configs/hydra/launcher/slurm.yaml).
"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sarcomp.cli import run_cli
from sarcomp.config import quote_path_overrides, register_resolvers
from sarcomp.training.launch import check_experiment_overrides, quiet_other_ranks, remove_bookkeeping_only

register_resolvers()


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from sarcomp.training.trainer import train

    quiet_other_ranks()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    log_dir = Path(cfg.paths.log_dir)
    metrics = run_cli(train, cfg, run_dir, on_error=lambda: remove_bookkeeping_only(run_dir, log_dir))
    return metrics.get("loss", float("nan"))


if __name__ == "__main__":
    run_cli(check_experiment_overrides, sys.argv[1:])
    sys.argv[1:] = quote_path_overrides(sys.argv[1:])
    main()
