"""Evaluate a run (or every run of a sweep folder) and the classic codecs; print the table."""

import hydra
from omegaconf import DictConfig, OmegaConf

from sarcomp.cli import run_cli
from sarcomp.config import register_resolvers

register_resolvers()


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from sarcomp.analysis.render import format_table, summary_rows
    from sarcomp.evaluation.evaluate import evaluate_folder

    classic = OmegaConf.to_container(cfg.classic, resolve=True) if cfg.get("classic") else None
    learned, sweep, paths = run_cli(
        evaluate_folder, cfg.run_dir, cfg.get("data"), cfg.out, cfg.checkpoint, cfg.device, classic
    )
    print(format_table(summary_rows(learned + sweep)))
    print("per-image rows and means:")
    for path in paths:
        print(f"  {path}")


if __name__ == "__main__":
    main()
