"""torchrun/DDP context: rank and world size from the environment, main-rank helpers.

Where the ranks come from:

- ``torchrun --nproc_per_node=N train.py ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR`` and ``MASTER_PORT``;
- a submitit job with several tasks (Hydra's submitit launcher with ``tasks_per_node=N``, on
  SLURM or local) describes them in its own environment; submitit's
  ``TorchDistributedEnvironment`` exports them as torchrun's variables;
- ``srun --ntasks=N python train.py ...`` on one node: from ``SLURM_PROCID``/``SLURM_NTASKS``.

One process is one rank; there is no spawning here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from sarcomp.config import env_rank
from sarcomp.errors import SarcompError

log = logging.getLogger(__name__)


def _export_launcher_env() -> None:
    """Inside a multi-task submitit job (SLURM or local) or a plain ``srun --ntasks=N``, export
    torchrun's variables for ``init_process_group``'s env:// method. torchrun's own win."""
    if "WORLD_SIZE" in os.environ:
        return
    if os.environ.get("SUBMITIT_EXECUTOR"):
        from submitit import JobEnvironment
        from submitit.helpers import TorchDistributedEnvironment

        if JobEnvironment().num_tasks > 1:
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return
    ntasks = os.environ.get("SLURM_NTASKS", "1")
    if not ntasks.isdigit() or int(ntasks) <= 1 or "SLURM_PROCID" not in os.environ:
        return
    if "MASTER_ADDR" not in os.environ:
        if os.environ.get("SLURM_NNODES", "1") != "1":
            raise SarcompError(
                "srun with tasks on several nodes: export MASTER_ADDR (the first node) "
                "and MASTER_PORT, or use torchrun or the submitit launcher"
            )
        os.environ["MASTER_ADDR"] = "127.0.0.1"
    job = os.environ.get("SLURM_JOB_ID", "0")
    os.environ.setdefault("MASTER_PORT", str(20000 + int(job) % 20000 if job.isdigit() else 29500))
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = ntasks
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank 0 alone logs and writes checkpoints."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistContext:
        """Read torchrun's (or SLURM's) variables; :meth:`join` connects the ranks."""
        _export_launcher_env()
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(env_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))

    def join(self, device: torch.device) -> None:
        """Join the process group: NCCL for CUDA devices, gloo for CPU."""
        if not self.enabled or dist.is_initialized():
            return
        if device.type == "cuda":
            dist.init_process_group(backend="nccl", device_id=device)
        else:
            dist.init_process_group(backend="gloo")

    def any(self, flags: Sequence[bool], device: torch.device) -> list[bool]:
        """Per flag: True if it holds on at least one rank (one all-reduce for all flags).

        Ranks must take the same branch wherever a collective follows (skipping a step,
        stopping on a signal), so local decisions go through here first.
        """
        if not self.enabled:
            return [bool(f) for f in flags]
        t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def all_true(self, flag: bool, device: torch.device) -> bool:
        """True only if ``flag`` holds on every rank."""
        return not self.any([not flag], device)[0]

    def sum(self, values: Sequence[float], device: torch.device) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor(list(values), dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` from every rank, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` of a dataset, starting ``start`` items in (for resume).

    Why not ``torch.utils.data.DistributedSampler``: it can shuffle and pad, but always starts
    an epoch at its beginning, so a run resumed mid-epoch would either replay or skip samples
    (inexact resume), or have to iterate and discard the consumed part. Here shuffling is not
    needed (``RandomTiles`` draws a different random crop per (seed, epoch, index)), the
    remainder is dropped so every rank gets the same number of items (equal step counts on
    every rank, which DDP needs), and ``start`` skips exactly the items this rank already used
    in the current epoch.
    """

    def __init__(self, length: int, rank: int = 0, world_size: int = 1, start: int = 0):
        self.indices = list(range(rank, length - (length % world_size), world_size))[start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
