"""The optimisers of a codec: which parameter learns in which group, checked.

Three disjoint groups that together hold every parameter (as CompressAI's examples check):

- ``network``: the transforms (and attention) — Adam at ``trainer.lr``;
- ``density``: the entropy bottlenecks' density parameters — the same Adam at
  ``lr × entropy_lr_scale`` (at the network's lr the density contracts from its wide
  initialisation over thousands of steps and the rate stays high meanwhile;
  configs/trainer/default.yaml says what was measured);
- ``aux``: the bottlenecks' ``quantiles``, which only the auxiliary loss trains — their own Adam
  at ``trainer.aux_lr``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from compressai.entropy_models import EntropyBottleneck
from torch import nn


@dataclass
class ParamGroups:
    network: list[nn.Parameter]
    density: list[nn.Parameter]
    aux: list[nn.Parameter]


def parameter_groups(model: nn.Module) -> ParamGroups:
    """Split ``model``'s parameters (see the module docstring); raises ``RuntimeError`` if the groups
    overlap or miss a parameter."""
    bottlenecks = [name for name, m in model.named_modules() if isinstance(m, EntropyBottleneck)]
    named = dict(model.named_parameters())
    aux = {n for n in named if n.endswith("quantiles")}
    density = {n for n in named if n not in aux and any(n.startswith(b + ".") for b in bottlenecks)}
    network = {n for n in named if n not in aux and n not in density}
    groups = (network, density, aux)
    overlap = set.union(*(a & b for i, a in enumerate(groups) for b in groups[i + 1 :]))
    missing = set(named) - set.union(*groups)
    if overlap or missing:
        raise RuntimeError(f"parameter groups: overlapping {sorted(overlap)}, missing {sorted(missing)}")
    return ParamGroups(*([p for n, p in named.items() if n in g] for g in groups))  # model order


def build_optimizers(
    model: nn.Module, lr: float, entropy_lr_scale: float, aux_lr: float
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """(main Adam over network + density, auxiliary Adam over the quantiles)."""
    groups = parameter_groups(model)
    main = torch.optim.Adam(
        [{"params": groups.network}, {"params": groups.density, "lr": lr * entropy_lr_scale}], lr=lr
    )
    return main, torch.optim.Adam(groups.aux, lr=aux_lr)
