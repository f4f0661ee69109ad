"""Does each experiment's default training fit the GPU memory budget?

    python scripts/memory_check.py [experiment=NAME[,NAME...]] [budget_gb=8] [steps=3] [overrides...]

With a CUDA device it measures real training steps and exits 1 if any experiment exceeds the
budget (or runs out of memory); without one it says so and prints a labelled ESTIMATE (exit 0).
How both work: :mod:`sarcomp.training.memory`. Other ``key=value`` arguments are Hydra overrides
applied to every experiment (``debug=smoke``, ``data.batch_size=16``, ...).
"""

from __future__ import annotations

import sys

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from sarcomp.cli import run_cli
from sarcomp.config import CONFIG_DIR, experiment_names, register_resolvers
from sarcomp.errors import SarcompError
from sarcomp.training.launch import check_experiment_overrides
from sarcomp.training.memory import estimate_cpu, measure_cuda

GB = 1e9
MB = 1e6


def parse_args(argv: list[str]) -> tuple[list[str], float, int, list[str]]:
    """(experiments, budget_gb, steps, hydra overrides)."""
    names, budget, steps, overrides = experiment_names(), 8.0, 3, []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise SarcompError(f"{arg}: expected key=value (experiment=..., budget_gb=..., steps=...)")
        if key in ("experiment", "+experiment"):
            check_experiment_overrides([arg])
            names = value.split(",")
        elif key == "budget_gb":
            budget = float(value)
        elif key == "steps":
            steps = int(value)
        else:
            overrides.append(arg)
    return names, budget, steps, overrides


def compose_experiment(name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=[f"experiment={name}", *overrides])


def main(argv: list[str] | None = None) -> int:
    """Print the table; 1 if a measured peak exceeds the budget (bad arguments: SarcompError)."""
    register_resolvers()
    names, budget, steps, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    cfgs = {name: compose_experiment(name, overrides) for name in names}
    first = next(iter(cfgs.values()))
    on_cuda = torch.cuda.is_available() and str(first.trainer.device) != "cpu"
    shape = (
        f"batch {first.data.batch_size} x accumulate {first.trainer.accumulate}, "
        f"tiles {first.data.tile_size}x{first.data.tile_size}"
    )
    if on_cuda:
        print(
            f"memory_check: MEASURED peak torch.cuda.max_memory_allocated over {steps} training steps "
            f"on {torch.cuda.get_device_name()}; budget {budget:g} GB; {shape}"
        )
        print(f"{'experiment':<22}{'params':>10}{'peak':>11}{'reserved':>11}{'s/step':>9}  verdict")
    else:
        print(
            "memory_check: no CUDA device here, so peak CUDA memory cannot be measured. "
            "Showing an ESTIMATE instead (see scripts/memory_check.py): fp32 parameters + gradients "
            "+ Adam state, plus the tensors one training forward pass saves for backward "
            "(one tile, x batch size), plus 2x the largest of them for the backward pass; "
            f"under AMP on CUDA activations are mostly 16-bit, so this is on the high side. "
            f"Budget {budget:g} GB; {shape}"
        )
        print(
            f"{'experiment':<22}{'params':>10}{'w+g+Adam':>11}{'activ.':>10}{'backward':>10}"
            f"{'estimate':>11}  verdict"
        )
    failed = []
    for name, cfg in cfgs.items():
        if on_cuda:
            try:
                r = measure_cuda(cfg, steps)
            except torch.cuda.OutOfMemoryError:
                failed.append(name)
                print(f"{name:<22}{'':>10}{'OOM':>11}{'':>11}{'':>9}  FAIL (out of memory)")
                continue
            over = r["peak"] > budget * GB
            failed += [name] if over else []
            print(
                f"{name:<22}{r['params'] / 1e6:>9.2f}M{r['peak'] / GB:>9.2f}GB{r['reserved'] / GB:>9.2f}GB"
                f"{r['s_per_step']:>9.3f}  {'FAIL (over budget)' if over else 'ok'}"
            )
        else:
            r = estimate_cpu(cfg)
            verdict = "over budget (estimate)" if r["peak"] > budget * GB else "within budget (estimate)"
            print(
                f"{name:<22}{r['params'] / 1e6:>9.2f}M{r['state'] / MB:>9.1f}MB{r['activations'] / GB:>8.2f}GB"
                f"{r['backward'] / GB:>8.2f}GB{r['peak'] / GB:>9.2f}GB  {verdict}"
            )
    if failed:
        print(f"over the {budget:g} GB budget: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
