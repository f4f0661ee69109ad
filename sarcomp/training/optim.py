"""The optimisers of a codec: which parameter learns in which group, checked.

Three disjoint groups that together hold every parameter (as CompressAI's examples check):

- ``network``: the transforms (and attention) — Adam at ``trainer.lr``;
- ``density``: the entropy bottlenecks' density parameters — the same Adam at
  ``lr × entropy_lr_scale`` (at the network's lr the density contracts from its wide
  initialisation over thousands of steps and the rate stays high meanwhile;
  configs/trainer/default.yaml says what was measured);
- ``aux``: the bottlenecks' ``quantiles``, which only the auxiliary loss trains — their own Adam
  at ``trainer.aux_lr``.

``trainer.gamma_lr_scale`` (default 1) can give the residual attention gains ``gamma`` a learning
rate of their own, within the main Adam.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from compressai.entropy_models import EntropyBottleneck
from torch import nn

from sarcomp.models.attention import ResidualAttention


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


def residual_gains(model: nn.Module) -> list[nn.Parameter]:
    """The residual attention gains ``gamma`` (``x + gamma * attention(x)``), in model order."""
    return [m.gamma for m in model.modules() if isinstance(m, ResidualAttention)]


def build_optimizers(
    model: nn.Module, lr: float, entropy_lr_scale: float, aux_lr: float, gamma_lr_scale: float = 1.0
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """(main Adam over network + density, auxiliary Adam over the quantiles).

    With ``gamma_lr_scale != 1`` the residual attention gains get their own group of the main Adam
    at ``lr × gamma_lr_scale`` (a third group: runs without it keep their two-group state)."""
    groups = parameter_groups(model)
    gains = residual_gains(model) if gamma_lr_scale != 1.0 else []
    network = [p for p in groups.network if all(p is not g for g in gains)]
    param_groups = [{"params": network}, {"params": groups.density, "lr": lr * entropy_lr_scale}]
    if gains:
        param_groups.append({"params": gains, "lr": lr * gamma_lr_scale})
    return torch.optim.Adam(param_groups, lr=lr), torch.optim.Adam(groups.aux, lr=aux_lr)
