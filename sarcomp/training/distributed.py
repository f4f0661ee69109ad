"""torchrun/DDP context: rank and world size from the environment, main-rank helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


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
        """Read torchrun's variables and join the process group (gloo on CPU, NCCL on CUDA)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        ctx = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        return ctx

    def all_true(self, flag: bool, device: torch.device) -> bool:
        """True only if ``flag`` holds on every rank (ranks must agree on skipping a step)."""
        if not self.enabled:
            return flag
        t = torch.tensor([0 if flag else 1], device=device)
        dist.all_reduce(t)
        return int(t.item()) == 0

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` of a dataset, starting ``start`` items in (for resume)."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1, start: int = 0):
        self.indices = list(range(rank, length - (length % world_size), world_size))[start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
