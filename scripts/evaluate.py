"""Evaluate a run (or every run of a sweep folder) and the classic codecs; print the tables.

    python scripts/evaluate.py <run or sweep folder> [key=value ...]
    python scripts/evaluate.py run_dir=<run or sweep folder> [key=value ...]

A folder path is taken as it is, also when it holds "=" or "," (sarcomp.config.quote_path_overrides).
"""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from sarcomp.cli import run_cli
from sarcomp.config import quote_path_overrides, register_resolvers

register_resolvers()


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from sarcomp.analysis.render import format_table, summary_rows
    from sarcomp.codec.scaling import parse_range
    from sarcomp.evaluation.evaluate import evaluate_folder
    from sarcomp.host_memory import retain_freed_memory
    from sarcomp.runs import load_results
    from sarcomp.training.checks import check_data_config

    retain_freed_memory()  # as the sarcomp CLI: coding reuses its buffers (sarcomp/host_memory.py)
    if cfg.get("data") is not None:
        run_cli(check_data_config, cfg.data)
    classic = OmegaConf.to_container(cfg.classic, resolve=True) if cfg.get("classic") else None
    rule = run_cli(parse_range, cfg.range, "range=")
    if cfg.get("model") and cfg.model.get("pretrained"):
        from sarcomp.evaluation.pretrained import evaluate_pretrained, written_paths

        payload, path = run_cli(
            evaluate_pretrained,
            cfg.model.pretrained,
            cfg.get("data"),
            cfg.out,
            cfg.paths.log_dir,
            cfg.device,
            classic,
            cfg.lmbda,
            range_rule=rule,
        )
        learned, sweep, paths = [payload], [], written_paths(path, cfg.get("data"), classic)
    elif not cfg.run_dir:
        run_cli(_missing_run_dir)
    else:
        learned, sweep, paths = run_cli(
            evaluate_folder,
            cfg.run_dir,
            cfg.get("data"),
            cfg.out,
            cfg.checkpoint,
            cfg.device,
            classic,
            bool(cfg.save_recon),
            cfg.lmbda,
            list(cfg.ablate) if cfg.ablate else None,
            rule,
        )
    complex_ = [p for p in learned if p.get("codec") == "learned-complex"]
    real = [p for p in learned if p not in complex_] + sweep
    if real:
        print(format_table(summary_rows(real)))
    if complex_:
        from sarcomp.evaluation.complex_eval import COMPLEX_COLUMNS

        print("complex runs (bits per complex sample; interferometric errors on each scene's self-pair):")
        print(format_table(summary_rows(complex_), COMPLEX_COLUMNS))
    matched = [p for path in paths if "matched" in path.name for p in load_results(path)]
    if matched:
        print("\nclassic codecs at each run's per-scene rates (rate-matched):")
        print(format_table(summary_rows(matched)))
    print("files written (per-image rows and means; reconstructions with save_recon=true):")
    for path in paths:
        print(f"  {path}")


def _missing_run_dir() -> None:
    from sarcomp.errors import SarcompError

    raise SarcompError("give run_dir=<run or sweep folder>, or model=pretrained name=<shipped model>")


if __name__ == "__main__":
    sys.argv[1:] = quote_path_overrides(sys.argv[1:], positional_key="run_dir")
    main()
