"""What each variant of the attention study costs: parameters, MACs per pixel, train-step time.

    OMP_NUM_THREADS=1 python experiments/attention_cost.py [--repeats 12] [--out experiments/results/attention_study/cost.json]

The models are the study's (experiments/PROTOCOL.md: stride 8, widths 48/64, latent 96, variable
rate); the step is the trainer's own (sarcomp.bench.train_step.make_train_step) on a batch of
8 × 128² tiles. Steps go round-robin over the variants, so load from elsewhere hits all alike; the
ratio to V0 is the median over rounds of (step time / V0's step time in the same round).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from sarcomp.bench.train_step import make_train_step
from sarcomp.cli import run_cli
from sarcomp.config import register_resolvers
from sarcomp.fileio import write_json
from sarcomp.host_memory import retain_freed_memory
from sarcomp.models.complexity import count_macs, count_parameters

ROOT = Path(__file__).resolve().parents[1]
STUDY = ["data=study", "model.lmbdas=[0.0003,0.001,0.003,0.01]", "model.lmbda=0.01", "trainer.device=cpu"]
V3_GAIN = ["+model.attention.kwargs.gamma_init=0.1", "+model.attention.kwargs.layer_scale=true"]
VARIANTS: dict[str, list[str]] = {
    "V0": ["experiment=recipe_cpu"],
    "V1": ["experiment=[recipe_cpu,cbam_bottleneck]"],
    "V2": ["experiment=[recipe_cpu,cbam_everywhere]"],
    "V3": ["experiment=[recipe_cpu,selfattn_bottleneck]", *V3_GAIN],
    "V0-wide": ["experiment=recipe_cpu", "model.channels=[48,65]"],
    "cbam_encoder": ["experiment=[recipe_cpu,cbam_encoder]"],
    "cbam_decoder": ["experiment=[recipe_cpu,cbam_decoder]"],
    "se_bottleneck": ["experiment=[recipe_cpu,se_bottleneck]"],
    "eca_bottleneck": ["experiment=[recipe_cpu,eca_bottleneck]"],
    "spatial_bottleneck": ["experiment=[recipe_cpu,spatial_bottleneck]"],
}


def compose_variant(overrides: list[str]):
    register_resolvers()
    channels = [] if any(o.startswith("model.channels") for o in overrides) else ["model.channels=[48,64]"]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=[*overrides, *channels, *STUDY])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=12)
    p.add_argument(
        "--out", type=Path, default=ROOT / "experiments" / "results" / "attention_study" / "cost.json"
    )
    args = p.parse_args(argv)
    retain_freed_memory()
    device = torch.device("cpu")
    steps, rows = {}, {}
    for name, overrides in VARIANTS.items():
        cfg = compose_variant(overrides)
        step, model = make_train_step(cfg, device)
        steps[name] = step
        rows[name] = {
            "overrides": overrides,
            "params": count_parameters(model),
            "macs_per_pixel": count_macs(model, 128) / 128**2,
        }
        for _ in range(2):
            step()
    times: dict[str, list[float]] = {n: [] for n in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        ratios = [t / b for t, b in zip(ts, times["V0"])]
        rows[name] |= {"median_step_s": statistics.median(ts), "ratio_to_v0": statistics.median(ratios)}
    write_json(
        args.out,
        {"threads": torch.get_num_threads(), "batch": "8 x 128^2", "repeats": args.repeats, "rows": rows},
    )
    for name, r in rows.items():
        print(
            f"{name:20s} {r['params']:>9,d} params {r['macs_per_pixel']:>8.0f} MAC/px {r['ratio_to_v0']:.3f}x V0's step"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
