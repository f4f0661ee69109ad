"""The trainer: plain PyTorch, one loop, resumable, on CPU, one GPU or several (torchrun).

Per optimiser step: ``accumulate`` micro-batches of λ·D + bpp (AMP on CUDA, the entropy model in
fp32), gradient clipping, Adam; then one step of the entropy model's auxiliary loss with its own
optimiser. Validation (forward pass, likelihood rate) every ``val_every`` steps writes
TensorBoard scalars and images and ``best.pt``; ``last.pt`` is written every
``checkpoint_every`` steps, at validation, on SIGTERM and at the end.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from sarcomp.data.loaders import grid_loader, load_split
from sarcomp.errors import SarcompError
from sarcomp.metrics import psnr, ssim
from sarcomp.runs import (SCENES_FILE, build_model, checkpoint_path, config_to_text, load_checkpoint,
                          load_model_state, save_checkpoint, write_json)
from sarcomp.training.distributed import DistContext, ShardSampler
from sarcomp.training.loss import RateDistortionLoss
from sarcomp.data.tiles import RandomTiles

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Counters that a checkpoint carries across a restart."""

    step: int = 0
    best: float = math.inf
    nonfinite_total: int = 0
    nonfinite_streak: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str, ctx: DistContext) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise SarcompError("trainer.device=cuda, but no CUDA device is available")
        torch.cuda.set_device(ctx.local_rank)
        return torch.device("cuda", ctx.local_rank)
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 where the GPU supports it, else fp16, and fp32 on CPU."""
    if device.type != "cuda" or precision == "32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "16": torch.float16}[precision]


class Trainer:
    """Owns the model, optimisers and loop of one run; see the module docstring."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path):
        self.cfg, self.t = cfg, cfg.trainer
        self.run_dir = Path(run_dir)
        self.ctx = DistContext.from_env()
        seed_everything(int(cfg.seed) + self.ctx.rank)
        self.device = pick_device(self.t.device, self.ctx)
        self.amp_dtype = autocast_dtype(str(self.t.precision), self.device)

        self.train_scenes = load_split(cfg.data, "train")
        self.val_scenes = load_split(cfg.data, "val")
        self.dataset = RandomTiles(self.train_scenes, cfg.data.tile_size, cfg.data.train_samples,
                                   seed=int(cfg.seed))
        self.val_loader = grid_loader(cfg.data, self.val_scenes, max_tiles=self.t.val_max_tiles)
        per_rank = len(self.dataset) // self.ctx.world_size
        self.steps_per_epoch = per_rank // cfg.data.batch_size // self.t.accumulate
        if self.steps_per_epoch < 1:
            raise SarcompError("data.train_samples is too small for one step of "
                               f"batch_size={cfg.data.batch_size} x accumulate={self.t.accumulate}")

        self.model = build_model(cfg.model).to(self.device)
        if self.t.channels_last and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        if self.t.compile:
            self.model.g_a.compile()
            self.model.g_s.compile()
        named = list(self.model.named_parameters())
        # The factorised density's own parameters learn at lr x entropy_lr_scale: at the network's
        # lr the density contracts from its wide initialisation over thousands of steps and the
        # rate stays high meanwhile (see configs/trainer/default.yaml).
        density = [p for n, p in named if n.startswith("entropy_bottleneck.") and not n.endswith("quantiles")]
        network = [p for n, p in named if not n.startswith("entropy_bottleneck.")]
        self.optimizer = torch.optim.Adam(
            [{"params": network}, {"params": density, "lr": self.t.lr * self.t.entropy_lr_scale}],
            lr=self.t.lr)
        self.aux_optimizer = torch.optim.Adam([p for n, p in named if n.endswith("quantiles")], lr=self.t.aux_lr)
        self.scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=self.t.max_steps, eta_min=self.t.lr * self.t.min_lr_ratio)
            if self.t.lr_schedule == "cosine" else None)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.loss_fn = RateDistortionLoss(self.model.lmbda, self.model.distortion)
        self.net = (DistributedDataParallel(self.model, find_unused_parameters=True)
                    if self.ctx.enabled else self.model)
        self.progress = Progress()
        self.resumed = self._maybe_resume()
        self.writer = (SummaryWriter(self.run_dir / "tensorboard",
                                     purge_step=self.progress.step + 1 if self.resumed else None)
                       if self.ctx.is_main else None)
        self._stop_signal: int | None = None

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        p = self.progress
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "scaler": self.scaler.state_dict(),
            "step": p.step, "best": p.best, "nonfinite_total": p.nonfinite_total,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "config": config_to_text(self.cfg),
        }

    def save(self, name: str = "last") -> None:
        if self.ctx.is_main:
            save_checkpoint(checkpoint_path(self.run_dir, name), self._state())

    def _maybe_resume(self) -> bool:
        last = checkpoint_path(self.run_dir, "last")
        if not self.t.resume:
            if last.exists():
                raise SarcompError(f"{self.run_dir}: run folder already has checkpoints; add "
                                   "trainer.resume=true to continue it, or choose another run folder")
            return False
        if not last.exists():
            log.info("trainer.resume=true but %s does not exist: starting a new run", last)
            return False
        state = load_checkpoint(last, map_location=self.device)
        load_model_state(self.model, state["model"], last)
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        if self.scheduler:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        random.setstate(_as_tuple(state["rng"]["python"]))
        if torch.cuda.is_available() and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        self.progress = Progress(step=int(state["step"]), best=float(state["best"]),
                                 nonfinite_total=int(state["nonfinite_total"]))
        log.info("resumed from step %d (%s)", self.progress.step, last)
        return True

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, float]:
        """Train to ``trainer.max_steps``; returns the final validation metrics."""
        if self.ctx.is_main:
            write_json(self.run_dir / SCENES_FILE, {"train": [s.record() for s in self.train_scenes],
                                                    "val": [s.record() for s in self.val_scenes]})
            if not self.resumed:
                self.writer.add_text("config", _as_markdown_code(config_to_text(self.cfg)), 0)
        previous = signal.signal(signal.SIGTERM, self._on_signal) if _in_main_thread() else None
        bar = tqdm(total=self.t.max_steps, initial=self.progress.step, disable=not self.ctx.is_main,
                   desc=f"train {self.cfg.get('experiment_name', '')}".strip(), mininterval=2.0,
                   dynamic_ncols=True, file=sys.stdout)
        val: dict[str, float] = {}
        try:
            while self.progress.step < self.t.max_steps:
                for batches in self._epoch_batches():
                    metrics = self._train_step(batches)
                    step = self.progress.step
                    bar.update(1)
                    if metrics is not None:
                        bar.set_postfix(loss=f"{metrics['loss']:.3f}", bpp=f"{metrics['bpp']:.3f}",
                                        psnr=f"{metrics['psnr']:.2f}")
                        if step % self.t.log_every == 0 and self.writer:
                            for key, value in metrics.items():
                                self.writer.add_scalar(f"train/{key}", value, step)
                    if step % self.t.val_every == 0 or step == self.t.max_steps:
                        val = self.validate()
                    elif step % self.t.checkpoint_every == 0:
                        self.save("last")
                    if self._stop_signal is not None:
                        self.save("last")
                        log.warning("signal %d: checkpoint saved at step %d, exiting",
                                    self._stop_signal, step)
                        raise SystemExit(128 + self._stop_signal)
                    if step >= self.t.max_steps:
                        break
            if not val:
                val = self.validate()
            self.model.update(force=True)
            self.save("last")
            self._log_hparams(val)
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if self.writer:
                self.writer.close()
            self.ctx.close()
        return val

    def _epoch_batches(self):
        """Batches of micro-batches for the rest of the current epoch (resumes mid-epoch)."""
        epoch, in_epoch = divmod(self.progress.step, self.steps_per_epoch)
        self.dataset.epoch = epoch
        per_step = self.cfg.data.batch_size * self.t.accumulate
        sampler = ShardSampler(len(self.dataset), self.ctx.rank, self.ctx.world_size, in_epoch * per_step)
        loader = DataLoader(self.dataset, batch_size=self.cfg.data.batch_size, sampler=sampler,
                            drop_last=True, num_workers=self.cfg.data.num_workers,
                            pin_memory=self.cfg.data.pin_memory and self.device.type == "cuda")
        it = iter(loader)
        for _ in range(self.steps_per_epoch - in_epoch):
            yield [next(it) for _ in range(self.t.accumulate)]

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch["x"].to(self.device, non_blocking=True)
        if self.t.channels_last and self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x, batch["mask"].to(self.device, non_blocking=True)

    def _train_step(self, batches: list[dict]) -> dict[str, float] | None:
        """One optimiser step; returns its metrics, or None if it was skipped as non-finite."""
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        totals = {"loss": 0.0, "bpp": 0.0, "mse": 0.0}
        finite = True
        for i, batch in enumerate(batches):
            x, mask = self._to_device(batch)
            sync = self.ctx.enabled and i < len(batches) - 1
            with (self.net.no_sync() if sync else nullcontext()):
                with self._autocast():
                    out = self.net(x)
                parts = self.loss_fn(out, x, mask)
                loss = parts["loss"] / len(batches)
                finite &= bool(torch.isfinite(loss))
                if finite:
                    self.scaler.scale(loss).backward()
            for key in totals:
                totals[key] += float(parts[key].detach()) / len(batches)
        self.progress.step += 1
        if not self.ctx.all_true(finite, self.device):
            return self._skip_nonfinite()
        self.progress.nonfinite_streak = 0
        self.scaler.unscale_(self.optimizer)
        if self.t.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.t.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler:
            self.scheduler.step()
        self.aux_optimizer.zero_grad(set_to_none=True)
        aux = self.model.aux_loss()
        aux.backward()
        self.aux_optimizer.step()
        totals["aux"] = float(aux.detach())
        totals["psnr"] = 10 * math.log10(1 / max(totals["mse"], 1e-12))
        totals["lr"] = self.optimizer.param_groups[0]["lr"]
        return totals

    def _skip_nonfinite(self) -> None:
        p = self.progress
        p.nonfinite_total += 1
        p.nonfinite_streak += 1
        self.optimizer.zero_grad(set_to_none=True)
        log.warning("non-finite loss at step %d: step skipped (%d so far)", p.step, p.nonfinite_total)
        if self.writer:
            self.writer.add_scalar("train/nonfinite_steps", p.nonfinite_total, p.step)
        if p.nonfinite_streak >= self.t.max_nonfinite_streak:
            raise SarcompError(
                f"{self.run_dir}: loss was non-finite for {p.nonfinite_streak} steps in a row at step "
                f"{p.step}; stopped (last good checkpoint kept: {checkpoint_path(self.run_dir)}). "
                "Try a lower trainer.lr or trainer.precision=32")
        return None

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Forward pass over the validation tiles; logs, and writes last.pt and best.pt."""
        self.model.eval()
        sums = {"loss": 0.0, "bpp": 0.0, "psnr": 0.0, "ssim": 0.0}
        count, first = 0, None
        for batch in self.val_loader:
            x, mask = self._to_device(batch)
            with self._autocast():
                out = self.model(x)
            parts = self.loss_fn(out, x, mask)
            n = x.shape[0]
            x_hat = out["x_hat"].float().clamp(0, 1)
            sums["loss"] += float(parts["loss"]) * n
            sums["bpp"] += float(parts["bpp"]) * n
            sums["psnr"] += float(psnr(x, x_hat, mask).sum())
            sums["ssim"] += float(torch.nan_to_num(ssim(x, x_hat, mask)).sum())
            count += n
            first = first or (x[:4].float().cpu(), x_hat[:4].cpu())
        val = {k: v / max(count, 1) for k, v in sums.items()}
        step = self.progress.step
        if self.writer:
            for key, value in val.items():
                self.writer.add_scalar(f"val/{key}", value, step)
            if first is not None:
                self.writer.add_images("val/input", first[0], step)
                self.writer.add_images("val/reconstruction", first[1], step)
        log.info("step %d val: %s", step, ", ".join(f"{k}={v:.4f}" for k, v in val.items()))
        if val["loss"] < self.progress.best:
            self.progress.best = val["loss"]
            self.save("best")
        self.save("last")
        return val

    def _log_hparams(self, val: dict[str, float]) -> None:
        if not self.writer:
            return
        m = self.cfg.model
        hparams = {
            "experiment": str(self.cfg.get("experiment_name", "")),
            "attention": str(m.attention.type), "placement": str(m.attention.placement),
            "lmbda": float(m.lmbda), "distortion": str(m.distortion),
            "latent_channels": int(m.latent_channels), "lr": float(self.t.lr),
            "max_steps": int(self.t.max_steps), "batch_size": int(self.cfg.data.batch_size),
            "tile_size": int(self.cfg.data.tile_size), "seed": int(self.cfg.seed),
        }
        params = sum(p.numel() for p in self.model.parameters())
        metrics = {f"hparam/val_{k}": v for k, v in val.items()} | {"hparam/params": float(params)}
        self.writer.add_hparams(hparams, metrics, run_name=".", global_step=self.progress.step)

    def _on_signal(self, signum: int, _frame) -> None:
        self._stop_signal = signum


def _in_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def _as_markdown_code(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train one run described by a composed ``train.yaml`` config into ``run_dir``."""
    OmegaConf.resolve(cfg)
    return Trainer(cfg, run_dir).fit()
