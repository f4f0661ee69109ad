"""RISE (Petsiuk et al., 2018) for a codec: black-box importance of each pixel for the
reconstruction error, from random smooth masks, evaluated in batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.errors import SarcompError


def rise_masks(
    n: int, size: tuple[int, int], cells: int = 8, p: float = 0.5, generator: torch.Generator | None = None
) -> Tensor:
    """``n`` RISE masks ``[n, 1, H, W]`` in [0, 1]: a ``cells × cells`` Bernoulli(p) grid,
    upsampled bilinearly to one cell more than the image and cropped at a random offset."""
    h, w = size
    ch, cw = -(-h // cells), -(-w // cells)
    grid = (torch.rand(n, 1, cells, cells, generator=generator) < p).float()
    big = F.interpolate(grid, size=((cells + 1) * ch, (cells + 1) * cw), mode="bilinear", align_corners=False)
    dy = torch.randint(0, ch, (n,), generator=generator)
    dx = torch.randint(0, cw, (n,), generator=generator)
    return torch.stack([big[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


@torch.no_grad()
def rise(
    model: nn.Module,
    x: Tensor,
    n_masks: int = 256,
    batch: int = 16,
    cells: int = 8,
    p: float = 0.5,
    seed: int = 0,
    roi: Tensor | None = None,
) -> Tensor:
    """RISE map ``[1, 1, H, W]`` of one image ``x`` ``[1, C, H, W]``.

    Each mask ``M_i`` keeps part of the image (``x·M_i``); its score ``e_i`` is the codec's
    squared reconstruction error of the masked image (inside ``roi`` if given). The map is
    ``Σ_i e_i M_i / (n·p)``: the expected error when a pixel is present. Masks come from a
    generator seeded with ``seed`` (same seed, same map) and run ``batch`` at a time.
    """
    if x.shape[0] != 1:
        raise SarcompError(f"rise: one image at a time, got a batch of {x.shape[0]}")
    if n_masks < 1 or batch < 1 or not 0 < p < 1:
        raise SarcompError(f"rise: need n_masks >= 1, batch >= 1 and 0 < p < 1 (got {n_masks}, {batch}, {p})")
    gen = torch.Generator().manual_seed(seed)
    masks = rise_masks(n_masks, tuple(x.shape[-2:]), cells, p, gen).to(x.device)
    weight = torch.ones_like(x[:, :1]) if roi is None else roi.to(x)
    total = torch.zeros_like(x[:, :1], dtype=torch.float32)
    for start in range(0, n_masks, batch):
        m = masks[start : start + batch]
        xm = x * m
        err = ((model(xm)["x_hat"].float() - xm.float()) ** 2 * weight).mean(1, keepdim=True)
        scores = err.sum((2, 3)) / weight.sum().clamp_min(1e-12)  # [b, 1]
        total += (scores[:, :, None, None] * m).sum(0, keepdim=True)
    return total / (n_masks * p)
