"""Evaluate a run (or every run of a sweep folder) and the classic codecs; print the table."""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from sarcomp.config import register_resolvers
from sarcomp.errors import SarcompError

register_resolvers()


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from sarcomp.evaluation.evaluate import evaluate_folder
    from sarcomp.evaluation.report import format_table, summary_rows

    classic = OmegaConf.to_container(cfg.classic, resolve=True) if cfg.get("classic") else None
    try:
        learned, sweep, paths = evaluate_folder(
            cfg.run_dir, cfg.get("data"), cfg.out, cfg.checkpoint, cfg.device, classic
        )
    except SarcompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(format_table(summary_rows(learned + sweep)))
    print("per-image rows and means:")
    for path in paths:
        print(f"  {path}")


if __name__ == "__main__":
    main()
