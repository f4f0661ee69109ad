"""Is the attention on? Gate statistics, residual gains, and switching modules off (ablation).

Each attention module of a codec (``g_a.4``, ``g_s.0``, ...) is described by what it does to
its input:

- gated modules (``se``, ``eca``, ``spatial``, ``cbam``; CBAM has a channel and a spatial gate):
  the mean and spread (standard deviation over samples, channels and positions) of each sigmoid
  gate. A gate that stays at one value everywhere is a fixed scale, not attention.
- residual modules (``x + γ·attention(x)``: the self-attention family): ``|γ|`` and the branch's
  share of the output, ``‖γ·attention(x)‖ / ‖x‖``.
- ``stn``: the mean absolute deviation of θ from the identity transform.

:func:`ablated` switches modules off for an evaluation: a residual module becomes the identity
(γ = 0), a gated module a *constant* gate, its mean over calibration inputs (per channel for a
channel gate). The identity would be the wrong control for a gate: the network after a gate was
trained on inputs scaled by ~0.5 (0.25 for CBAM; ~1 with ``unit_start`` gates), so removing the gate changes the scale, not only
the attention. The constant gate keeps the average scale and removes what depends on the input.
``stn`` becomes the identity transform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import Tensor, nn

from sarcomp.models.attention import (
    CBAM,
    NoAttention,
    ResidualAttention,
    SpatialTransformer,
    attention_classes,
)

_IDENTITY_THETA = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The codec's attention modules by qualified name, outermost only (a CBAM's inner gates are
    described with it), ``none`` left out."""
    classes = tuple(c for c in attention_classes().values() if c is not NoAttention)
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if isinstance(module, classes) and not any(name.startswith(f"{outer}.") for outer in found):
            found[name] = module
    return found


def gates(module: nn.Module) -> dict[str, nn.Module]:
    """The sigmoid gates of a gated module by short name (``channel``/``spatial`` for CBAM)."""
    if isinstance(module, CBAM):
        return {"channel": module.channel.gate, "spatial": module.spatial.gate}
    inner = getattr(module, "cbam", None)  # cbam_residual
    if isinstance(inner, CBAM):
        return gates(inner)
    if isinstance(module, (ResidualAttention, SpatialTransformer)):
        return {}
    return {"gate": module.gate}


@contextmanager
def _capture(modules: dict[str, nn.Module]) -> Iterator[dict[str, Tensor]]:
    """Record the output of each module in ``modules`` (by key) during the block."""
    seen: dict[str, Tensor] = {}
    handles = [
        m.register_forward_hook(lambda _m, _i, out, key=key: seen.__setitem__(key, out.detach()))
        for key, m in modules.items()
    ]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def attention_statistics(model: nn.Module, run: Callable[[], object]) -> dict[str, dict[str, float]]:
    """Per attention module: gate ``<gate>_mean``/``<gate>_std`` or ``gamma`` (mean |γ|) and
    ``branch_ratio``; ``run()`` is one forward pass of ``model`` (e.g. over a validation batch)."""
    modules = attention_modules(model)
    watched = {f"{name}|{g}": m for name, module in modules.items() for g, m in gates(module).items()}
    residual = {name: m for name, m in modules.items() if isinstance(m, ResidualAttention)}
    watched |= {f"{name}|input": m.q for name, m in residual.items()}  # q's input is the block's
    watched |= {f"{name}|branch": m.proj for name, m in residual.items()}
    watched |= {f"{name}|theta": m.gate for name, m in modules.items() if isinstance(m, SpatialTransformer)}
    inputs: dict[str, Tensor] = {}
    pre = [
        m.q.register_forward_hook(lambda _m, args, _o, key=name: inputs.__setitem__(key, args[0].detach()))
        for name, m in residual.items()
    ]
    try:
        with _capture(watched) as seen:
            run()
    finally:
        for h in pre:
            h.remove()
    stats: dict[str, dict[str, float]] = {name: {} for name in modules}
    for key, out in seen.items():
        name, what = key.split("|")
        if what in ("input", "branch"):
            continue
        if what == "theta":  # how far the affine transform is from the identity
            stats[name]["theta_shift"] = float((out - _IDENTITY_THETA.to(out)).abs().mean())
            continue
        stats[name][f"{what}_mean"] = float(out.float().mean())
        stats[name][f"{what}_std"] = float(out.float().std()) if out.numel() > 1 else 0.0
    for name, m in residual.items():
        stats[name]["gamma"] = float(m.gamma.detach().abs().mean())
        if f"{name}|branch" in seen and name in inputs:
            branch = m.gamma * seen[f"{name}|branch"]
            stats[name]["branch_ratio"] = float(branch.norm() / inputs[name].norm().clamp_min(1e-12))
    return stats


@torch.no_grad()
def gate_means(model: nn.Module, run: Callable[[], object], names: list[str]) -> dict[str, Tensor]:
    """Mean of each gate of the named modules over ``run()``'s forward pass, keyed
    ``<module>|<gate>``: per channel (``[C, 1, 1]``) for a channel gate, a scalar otherwise."""
    modules = attention_modules(model)
    watched = {f"{n}|{g}": m for n in names for g, m in gates(modules[n]).items()}
    with _capture(watched) as seen:
        run()
    return {k: (v.mean(0) if v.shape[-1] == v.shape[-2] == 1 else v.mean()).float() for k, v in seen.items()}


@contextmanager
def ablated(model: nn.Module, names: list[str], means: dict[str, Tensor] | None = None) -> Iterator[None]:
    """Switch the named attention modules off for the block (see the module docstring); gated
    modules need their ``means`` from :func:`gate_means`. The model is restored afterwards."""
    modules = attention_modules(model)
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"not attention modules of this model: {unknown}; it has {list(modules)}")
    means = means or {}
    with ExitStack() as stack:
        for name in names:
            module = modules[name]
            if isinstance(module, ResidualAttention):
                stack.enter_context(_zero_gamma(module))
            elif isinstance(module, SpatialTransformer):
                identity = _IDENTITY_THETA
                stack.enter_context(
                    _replace_output(module.gate, lambda out, t=identity: t.to(out).expand_as(out))
                )
            else:
                for g, gate in gates(module).items():
                    key = f"{name}|{g}"
                    if key not in means:
                        raise ValueError(f"{key}: no calibrated mean to hold the gate at (gate_means)")
                    const = means[key]
                    stack.enter_context(_replace_output(gate, lambda out, c=const: c.to(out).expand_as(out)))
        yield


@contextmanager
def _zero_gamma(module: ResidualAttention) -> Iterator[None]:
    saved = module.gamma.detach().clone()
    with torch.no_grad():
        module.gamma.zero_()
    try:
        yield
    finally:
        with torch.no_grad():
            module.gamma.copy_(saved)


@contextmanager
def _replace_output(module: nn.Module, replace: Callable[[Tensor], Tensor]) -> Iterator[None]:
    handle = module.register_forward_hook(lambda _m, _i, out: replace(out))
    try:
        yield
    finally:
        handle.remove()
