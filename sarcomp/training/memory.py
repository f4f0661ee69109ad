"""Does a training configuration fit a GPU memory budget? Measured on CUDA, estimated on CPU.

**Measured** (:func:`measure_cuda`): ``steps`` optimiser steps of the trainer's own
:class:`~sarcomp.training.step.TrainStep` (AMP, channels_last, accumulation, both optimisers) on
random tiles of the configured batch and tile size; the peak of ``torch.cuda.max_memory_allocated``.

**Estimated** (:func:`estimate_cpu`), where no GPU can measure: parameters, their gradients and
Adam's two moments (fp32), plus the tensors that one training forward pass (codec + loss) saves for
backward, counted with autograd's saved-tensor hooks on one tile and multiplied by the batch size,
plus twice the largest of them as the backward pass's working set. Activations are counted in
fp32; under AMP on CUDA most are 16-bit, so the estimate is on the high side.
"""

from __future__ import annotations

import gc
import time

import torch
from omegaconf import DictConfig, OmegaConf

from sarcomp.models.complexity import count_parameters
from sarcomp.runs import build_model
from sarcomp.training.loss import RateDistortionLoss
from sarcomp.training.step import TrainStep


def random_batch(cfg: DictConfig) -> dict[str, torch.Tensor]:
    """Random tiles of the configured batch, tile size and input channels (2 for a complex model)."""
    n, t, c = int(cfg.data.batch_size), int(cfg.data.tile_size), int(cfg.model.get("in_channels", 1))
    return {"x": torch.rand(n, c, t, t), "mask": torch.ones(n, 1, t, t, dtype=torch.bool)}


def measure_cuda(cfg: DictConfig, steps: int) -> dict[str, float]:
    """Peak ``max_memory_allocated`` over model/optimiser creation and ``steps`` training steps."""
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step = TrainStep(cfg.model, cfg.trainer, torch.device("cuda"))
    batch = random_batch(cfg)
    start = time.perf_counter()
    try:
        for _ in range(steps):
            step([batch] * int(cfg.trainer.accumulate))
        torch.cuda.synchronize()
        elapsed = (time.perf_counter() - start) / max(steps, 1)
        return {
            "peak": torch.cuda.max_memory_allocated() - base,
            "reserved": torch.cuda.max_memory_reserved(),
            "s_per_step": elapsed,
            "params": count_parameters(step.model),
        }
    finally:
        del step
        gc.collect()
        torch.cuda.empty_cache()


def estimate_cpu(cfg: DictConfig) -> dict[str, float]:
    """See the module docstring: parameter state exactly, activations from saved tensors."""
    model = build_model(cfg.model).train()
    params = count_parameters(model)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in param_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    one = random_batch(OmegaConf.merge(cfg, {"data": {"batch_size": 1}}))
    x, mask = one["x"], one["mask"]
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
