"""One optimiser step of a codec: the model, its optimisers and λ·D + bpp over micro-batches.

The trainer wraps it with data, validation, checkpoints and the non-finite/stop bookkeeping;
``training/memory.py`` and benchmarks call :meth:`TrainStep.__call__` on batches of their own.
Per step: ``accumulate`` micro-batches forward and backward (AMP on CUDA, the entropy model in
fp32), gradient clipping, Adam; then one step of the entropy model's auxiliary loss with its own
optimiser (groups: :mod:`sarcomp.training.optim`).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import torch
from omegaconf import DictConfig
from torch.nn.parallel import DistributedDataParallel

from sarcomp.errors import SarcompError
from sarcomp.runs import build_model
from sarcomp.training.distributed import DistContext
from sarcomp.training.loss import RateDistortionLoss
from sarcomp.training.optim import build_optimizers, parameter_groups

PRECISIONS = ("auto", "32", "bf16", "16")
LOSS_KEYS = ("loss", "bpp", "mse")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 where the GPU supports it, else fp16, and fp32 on CPU."""
    if precision not in PRECISIONS:
        raise SarcompError(
            f"trainer.precision: unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}"
        )
    if device.type != "cuda" or precision == "32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "16": torch.float16}[precision]


class TrainStep:
    """Model, optimisers, LR schedule, AMP scaler and loss of one run (see the module docstring)."""

    def __init__(
        self, model_cfg: DictConfig, t: DictConfig, device: torch.device, ctx: DistContext | None = None
    ):
        self.t, self.device, self.ctx = t, device, ctx or DistContext()
        self.amp_dtype = autocast_dtype(str(t.precision), device)
        self.model = build_model(model_cfg).to(device)
        self.channels_last = bool(t.channels_last) and device.type == "cuda"
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if t.compile:
            self.model.g_a.compile()
            self.model.g_s.compile()
        groups = parameter_groups(self.model)
        self.clipped = groups.network + groups.density
        self.optimizer, self.aux_optimizer = build_optimizers(
            self.model, float(t.lr), float(t.entropy_lr_scale), float(t.aux_lr), float(t.gamma_lr_scale)
        )
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=t.max_steps, eta_min=t.lr * t.min_lr_ratio
            )
            if t.lr_schedule == "cosine"
            else None
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.loss_fn = RateDistortionLoss(self.model.lmbda, self.model.distortion)
        # The entropy model's quantiles take no part in the R-D loss (only in the auxiliary
        # loss, stepped outside DDP), hence find_unused_parameters.
        self.net = (
            DistributedDataParallel(self.model, find_unused_parameters=True)
            if self.ctx.enabled
            else self.model
        )

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def to_device(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch["x"].to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, batch["mask"].to(self.device, non_blocking=True)

    def accumulate(self, batches: list[dict]) -> dict[str, float]:
        """Forward and backward over the micro-batches; their mean loss, bpp and MSE (one host sync),
        and the step's ``lmbda`` for a variable-rate model.

        Every rank runs every backward pass (DDP's gradient all-reduce is collective)."""
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(len(LOSS_KEYS), device=self.device)
        rate = self.sample_rate()
        for i, batch in enumerate(batches):
            x, mask = self.to_device(batch)
            last = i == len(batches) - 1
            with self.net.no_sync() if self.ctx.enabled and not last else nullcontext():
                with self.autocast():
                    out = self.net(x, **rate)
                parts = self.loss_fn(out, x, mask, **rate)
                self.scaler.scale(parts["loss"] / len(batches)).backward()
            sums += torch.stack([parts[k].detach().float() for k in LOSS_KEYS]) / len(batches)
        return dict(zip(LOSS_KEYS, sums.tolist())) | rate

    def sample_rate(self) -> dict[str, float]:
        """Variable-rate models (``model.lmbdas``): ``{"lmbda": λ}``, one of the list drawn uniformly
        per step (from the torch RNG, which checkpoints carry); ``{}`` for a fixed-rate model."""
        lmbdas = getattr(self.model, "lmbdas", ())
        if not lmbdas:
            return {}
        return {"lmbda": float(lmbdas[int(torch.randint(len(lmbdas), ()))])}

    def apply(self) -> dict[str, float] | None:
        """Clip and take the optimiser steps; None (nothing stepped) if the gradients are non-finite."""
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.clipped, self.t.grad_clip or math.inf)
        if not self.scaler.is_enabled() and not torch.isfinite(norm):
            return None  # finite loss, non-finite gradients (same on every rank)
        self.scaler.step(self.optimizer)  # with fp16, skips steps whose gradients overflowed
        self.scaler.update()
        if self.scheduler:
            self.scheduler.step()
        self.aux_optimizer.zero_grad(set_to_none=True)
        aux = self.model.aux_loss()
        aux.backward()
        self.aux_optimizer.step()
        return {
            "aux": float(aux.detach()),
            "lr": self.optimizer.param_groups[0]["lr"],
            "grad_norm": float(norm),
        }

    def discard(self) -> None:
        """Drop a non-finite step's gradients (fp16: also back off the loss scale)."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():
            self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())

    def __call__(self, batches: list[dict]) -> dict[str, float] | None:
        """One whole step: :meth:`accumulate` then :meth:`apply` (or :meth:`discard`)."""
        totals = self.accumulate(batches)
        applied = self.apply() if math.isfinite(totals["loss"]) else None
        if applied is None:
            self.discard()
            return None
        return totals | applied

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Optimiser, scheduler and scaler state; raises ValueError/KeyError/RuntimeError on a mismatch."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        if self.scheduler:
            if not state["scheduler"]:
                raise ValueError("it was saved without a learning-rate schedule")
            self.scheduler.load_state_dict(state["scheduler"])
            # a longer (or shorter) run than the saved one anneals over its own length
            self.scheduler.T_max = int(self.t.max_steps)
        self.scaler.load_state_dict(state["scaler"])
