"""Does each experiment's default training fit the GPU memory budget?

    python scripts/memory_check.py [experiment=NAME[,NAME...]] [budget_gb=8] [steps=3] [overrides...]

With a CUDA device: trains ``steps`` optimiser steps of each experiment (the trainer's own step:
AMP, channels_last, accumulation, both optimisers) on random tiles at the configured batch and
tile size, and reports the peak of ``torch.cuda.max_memory_allocated``; exits 1 if any exceeds
the budget (or runs out of memory).

Without one it cannot measure, and says so: it reports an ESTIMATE instead, from what it can
compute on the CPU: parameters, their gradients and Adam's two moments (fp32), plus the tensors
that one training forward pass (codec + loss) saves for backward, counted with autograd's
saved-tensor hooks on one tile and multiplied by the batch size, plus twice the largest of them
as the backward pass's working set. Activations are counted in fp32; under AMP on CUDA most are
16-bit, so the estimate is on the high side. It exits 0 (nothing was measured).

Other ``key=value`` arguments are Hydra overrides applied to every experiment (``debug=smoke``,
``data.batch_size=16``, ...). Everything else about the experiment comes from configs/.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from sarcomp.config import CONFIG_DIR, experiment_names, register_resolvers  # noqa: E402
from sarcomp.errors import SarcompError  # noqa: E402

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
            names = value.split(",")
            unknown = [n for n in names if n not in experiment_names()]
            if unknown:
                raise SarcompError(
                    f"experiment={','.join(unknown)}: unknown experiment; valid: "
                    f"{', '.join(experiment_names())}"
                )
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


def random_batch(cfg: DictConfig) -> dict[str, torch.Tensor]:
    n, t = int(cfg.data.batch_size), int(cfg.data.tile_size)
    return {"x": torch.rand(n, 1, t, t), "mask": torch.ones(n, 1, t, t, dtype=torch.bool)}


# ---------------------------------------------------------------- measured, on CUDA
def measure_cuda(cfg: DictConfig, steps: int) -> dict[str, float]:
    """Peak ``max_memory_allocated`` over model/optimiser creation and ``steps`` training steps."""
    from sarcomp.training.trainer import Trainer

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    trainer = Trainer.for_measurement(cfg, torch.device("cuda"))
    batch = random_batch(cfg)
    start = time.perf_counter()
    try:
        for _ in range(steps):
            trainer._train_step([batch] * int(cfg.trainer.accumulate))
        torch.cuda.synchronize()
        elapsed = (time.perf_counter() - start) / max(steps, 1)
        return {
            "peak": torch.cuda.max_memory_allocated() - base,
            "reserved": torch.cuda.max_memory_reserved(),
            "s_per_step": elapsed,
            "params": sum(p.numel() for p in trainer.model.parameters()),
        }
    finally:
        del trainer
        gc.collect()
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- estimated, on CPU
def estimate_cpu(cfg: DictConfig) -> dict[str, float]:
    """See the module docstring: parameter state exactly, activations from saved tensors."""
    from sarcomp.runs import build_model
    from sarcomp.training.loss import RateDistortionLoss

    model = build_model(cfg.model).train()
    params = sum(p.numel() for p in model.parameters())
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in param_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    t = int(cfg.data.tile_size)
    x = torch.rand(1, 1, t, t)
    mask = torch.ones(1, 1, t, t, dtype=torch.bool)
    loss_fn = RateDistortionLoss(model.lmbda, model.distortion)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(model(x), x, mask)["loss"]
    del loss
    batch = int(cfg.data.batch_size)
    activations = batch * sum(saved.values())
    backward = batch * 2 * max(saved.values(), default=0)
    state = 4 * param_bytes  # weights, gradients, Adam exp_avg and exp_avg_sq
    return {
        "params": params,
        "state": state,
        "activations": activations,
        "backward": backward,
        "peak": state + activations + backward,
    }


def main(argv: list[str] | None = None) -> int:
    register_resolvers()
    try:
        names, budget, steps, overrides = parse_args(sys.argv[1:] if argv is None else argv)
        cfgs = {name: compose_experiment(name, overrides) for name in names}
    except SarcompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    sys.exit(main())
