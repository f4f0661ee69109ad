"""The run's hyperparameters and final validation metrics in TensorBoard's HPARAMS tab."""

from __future__ import annotations

from omegaconf import DictConfig
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from sarcomp.models.complexity import count_parameters


def log_hparams(
    writer: SummaryWriter | None, cfg: DictConfig, model: nn.Module, val: dict[str, float], step: int
) -> None:
    if not writer:
        return
    m, t = cfg.model, cfg.trainer
    hparams = {
        "experiment": str(cfg.get("experiment_name", "")),
        "attention": str(m.attention.type),
        "placement": str(m.attention.placement),
        "entropy": str(m.get("entropy", "factorized")),
        "lmbda": float(m.lmbda),
        "distortion": str(m.distortion),
        "channels": "-".join(str(int(c)) for c in m.channels),
        "width_max": int(max(m.channels)),
        "latent_channels": int(m.latent_channels),
        "lr": float(t.lr),
        "max_steps": int(t.max_steps),
        "batch_size": int(cfg.data.batch_size),
        "tile_size": int(cfg.data.tile_size),
        "seed": int(cfg.seed),
    }
    metrics = {f"hparam/val_{k}": v for k, v in val.items()} | {
        "hparam/params": float(count_parameters(model))
    }
    writer.add_hparams(hparams, metrics, run_name=".", global_step=step)
