"""Parameter and multiply-accumulate counts of a codec, for comparing attention variants."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, tile_size: int = 256, in_channels: int = 1) -> int:
    """MACs of one forward pass (analysis, entropy model and synthesis) on one tile.

    Counted by ``torch.utils.flop_counter`` (convolutions, matmuls, attention); MACs = FLOPs / 2.
    Element-wise work (GDN divisions, sigmoid gates, pooling) is not counted by the tool.
    """
    model = model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, in_channels, tile_size, tile_size))
    return counter.get_total_flops() // 2
