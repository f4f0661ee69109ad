"""Evaluate a run folder's codec on test scenes and print the table (plumbing only)."""

import sys

import hydra
from omegaconf import DictConfig

from sarcomp.config import register_resolvers
from sarcomp.errors import SarcompError

register_resolvers()


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from sarcomp.evaluation.evaluate import evaluate_run
    from sarcomp.evaluation.report import format_table, summary_rows

    try:
        payload, path = evaluate_run(cfg.run_dir, cfg.get("data"), cfg.out, cfg.checkpoint, cfg.device)
    except SarcompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(format_table(summary_rows([payload])))
    print(f"per-image rows and means: {path}")


if __name__ == "__main__":
    main()
