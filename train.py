"""Train a SAR codec: python train.py experiment=cbam_bottleneck [debug=smoke] [key=value ...]

Several processes: ``torchrun --nproc_per_node=N train.py ...`` (DistributedDataParallel; rank 0
alone logs and writes the run folder). Sweeps: ``python train.py -m experiment=a,b`` (one job
after another), or on SLURM with ``hydra/launcher=slurm`` (see configs/hydra/launcher/slurm.yaml).
"""

import logging
import re
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from sarcomp.config import experiment_names, register_resolvers
from sarcomp.errors import SarcompError
from sarcomp.training.distributed import env_rank

register_resolvers()
# ${rank_zero:value}: the value on rank 0, null on the other ranks (their .hydra/ is not written)
if not OmegaConf.has_resolver("rank_zero"):
    OmegaConf.register_new_resolver("rank_zero", lambda value: value if env_rank() == 0 else None)

HYDRA_FILES = {".hydra", "train.log"}


def check_experiment_overrides(argv: list[str]) -> None:
    """Refuse ``experiment=<unknown>`` with one line listing the valid names (Hydra's own
    message spans a dozen lines). Sweep syntax other than ``a,b,c`` is left to Hydra."""
    valid = experiment_names()
    for arg in argv:
        match = re.fullmatch(r"\+{0,2}experiment=([\w\-]+(?:,[\w\-]+)*)", arg)
        if not match:
            continue
        unknown = [n for n in match.group(1).split(",") if n not in valid and n != "null"]
        if unknown:
            raise SarcompError(f"experiment={','.join(unknown)}: unknown experiment; valid: {', '.join(valid)}")


def quiet_other_ranks() -> None:
    """Ranks other than 0 log warnings and errors to the console only (no train.log)."""
    if env_rank() == 0:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)


def remove_bookkeeping_only(run_dir: Path) -> None:
    """After an error: a run folder holding only what Hydra wrote before training started
    (``.hydra/``, ``train.log``) is removed, so a failed command leaves no partial run."""
    if env_rank() != 0 or not run_dir.is_dir():
        return
    if not {p.name for p in run_dir.iterdir()} <= HYDRA_FILES:
        return
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == run_dir:
            logging.getLogger().removeHandler(handler)
            handler.close()
    shutil.rmtree(run_dir / ".hydra", ignore_errors=True)
    (run_dir / "train.log").unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:
        pass


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from sarcomp.training.trainer import train

    quiet_other_ranks()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        metrics = train(cfg, run_dir)
    except SarcompError as exc:
        remove_bookkeeping_only(run_dir)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return metrics.get("loss", float("nan"))


if __name__ == "__main__":
    try:
        check_experiment_overrides(sys.argv[1:])
    except SarcompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    main()
