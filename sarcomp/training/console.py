"""What the trainer tells its user: the opening lines (run folder, device, model, budget), an
estimated time after the first few steps, and which step was best at the end."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from sarcomp.models.complexity import count_parameters
from sarcomp.runs import checkpoint_path

log = logging.getLogger("sarcomp.training.trainer")

CPU_RECIPE = "experiment=recipe_cpu"
ETA_AFTER_STEPS = 5  # steps timed (after the first, which warms up) before estimating the time
LONG_ON_CPU_S = 1800.0  # a CPU run estimated longer than this points to the CPU recipe


def describe_device(device: torch.device, amp_dtype: torch.dtype | None, world_size: int) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        precision = str(amp_dtype).replace("torch.", "") if amp_dtype is not None else "fp32"
        return f"{device} ({name}, {precision}) x {world_size} rank(s)"
    return f"cpu ({torch.get_num_threads()} thread(s); for a CPU-sized budget: {CPU_RECIPE})"


def log_start(
    cfg: DictConfig,
    run_dir: Path,
    model: torch.nn.Module,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    world_size: int,
    start_step: int,
) -> None:
    """The first lines of a run: where it writes, on what, which model and how long."""
    m, d, t = cfg.model, cfg.data, cfg.trainer
    log.info("run folder: %s", run_dir.resolve())
    log.info("device: %s", describe_device(device, amp_dtype, world_size))
    attention = (
        "no attention" if m.attention.type == "none" else f"{m.attention.type} at {m.attention.placement}"
    )
    log.info(
        "model: %s parameters (widths %s, latent %d, %s, lambda %g)",
        f"{count_parameters(model):,}",
        list(m.channels),
        int(m.latent_channels),
        attention,
        float(m.lmbda),
    )
    log.info(
        "steps: %d of %d to go (batch %d x accumulate %d x %d rank(s), %d-px tiles); "
        "validation every %d, checkpoint every %d",
        int(t.max_steps) - start_step,
        int(t.max_steps),
        int(d.batch_size),
        int(t.accumulate),
        world_size,
        int(d.tile_size),
        int(t.val_every),
        int(t.checkpoint_every),
    )


class StepTimer:
    """Logs once, after :data:`ETA_AFTER_STEPS` timed steps, how long the rest will take."""

    def __init__(self, start_step: int, max_steps: int, on_cpu: bool):
        self.first, self.max_steps, self.on_cpu = start_step + 1, max_steps, on_cpu
        self.t0: float | None = None
        self.done = False

    def step(self, step: int) -> None:
        if self.done:
            return
        if step == self.first:  # the first step warms up (allocations, kernels): not timed
            self.t0 = time.perf_counter()
        elif self.t0 is not None and step - self.first >= ETA_AFTER_STEPS:
            per_step = (time.perf_counter() - self.t0) / (step - self.first)
            left = per_step * (self.max_steps - step)
            log.info(
                "estimated time: %s for the remaining %d steps (%.2f s/step, validation not included)",
                format_duration(left),
                self.max_steps - step,
                per_step,
            )
            if self.on_cpu and left > LONG_ON_CPU_S:
                log.warning(
                    "this budget is sized for a GPU; on CPU, %s trains a smaller model in less time",
                    CPU_RECIPE,
                )
            self.done = True


def format_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def log_end(run_dir: Path, best_step: int, best_loss: float, step: int) -> None:
    log.info(
        "finished at step %d; best validation loss %.4f at step %d (%s)",
        step,
        best_loss,
        best_step,
        checkpoint_path(run_dir.resolve(), "best"),
    )
    log.info("run folder: %s", run_dir.resolve())
