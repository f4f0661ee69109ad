"""Train a SAR codec: python train.py experiment=cbam_bottleneck [debug=smoke] [key=value ...]"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sarcomp.config import register_resolvers
from sarcomp.errors import SarcompError

register_resolvers()


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from sarcomp.training.trainer import train

    try:
        metrics = train(cfg, HydraConfig.get().runtime.output_dir)
    except SarcompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return metrics.get("loss", float("nan"))


if __name__ == "__main__":
    main()
