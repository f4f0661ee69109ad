"""CBAM's full-resolution work as three autograd functions with hand-written backward passes.

CBAM computes ``y = x · gc`` (channel gate ``gc = σ(mlp(mean_hw x) + mlp(max_hw x))``), then
``out = y · gs`` (spatial gate ``gs = σ(conv([mean_c y, max_c y]))``). Written with autograd's
generic ops, most of its time goes to full-size temporaries: ``amax``'s backward (equality mask,
count, divide), ``mean``'s backward (expand, divide), two broadcast products each saving its
inputs, and the sums of their gradients. These functions compute the same values (forward: the
same operations in the same order) and the same gradients with fewer full-size tensors: pooling gradients are a broadcast plus a scatter at the arg-max, the gates' gradients
are batched matrix products. One difference: at exact ties of a maximum, ``amax`` splits the
gradient evenly between the tied elements and these give it all to one of them (as
``max_pool2d`` does); both are valid subgradients, and ties do not occur in practice with
real-valued activations. Double backward is not supported.

Two CPU kernels are avoided because they are slow, not because of what they compute (one thread,
8×64×128×128): ``max(1)`` with indices over channels (30–45 ms; a running maximum over the
channel planes takes 5–9 ms) and ``bmm`` with a single output column (11 ms; a matrix-vector product per
sample takes 1 ms).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


def channel_max(y: Tensor) -> tuple[Tensor, Tensor]:
    """Max over C of ``y [B, C, H, W]`` and its arg-max (int64), each ``[B, 1, H, W]``.

    On the CPU (contiguous ``y``, C ≤ 256) a running maximum over the channel planes; the arg-max
    is the last channel that raised it, i.e. the running maximum of ``c · raised`` (uint8
    arithmetic, vectorised). Ties go to the first channel. Elsewhere ``max(1)``.
    """
    if y.device.type != "cpu" or not y.is_contiguous() or y.shape[1] > 256:
        return y.max(1, keepdim=True)
    peak = y[:, :1].clone()
    index = torch.zeros(peak.shape, dtype=torch.uint8)
    raised = torch.empty(peak.shape, dtype=torch.bool)
    tagged = torch.empty(peak.shape, dtype=torch.uint8)
    for c in range(1, y.shape[1]):
        plane = y[:, c : c + 1]
        torch.gt(plane, peak, out=raised)
        torch.maximum(peak, plane, out=peak)
        torch.mul(raised.view(torch.uint8), c, out=tagged)
        torch.maximum(index, tagged, out=index)
    return peak, index.long()


def batched_mv(m: Tensor, v: Tensor) -> Tensor:
    """``m [B, C, N] @ v [B, N] -> [B, C]``: per sample with ``mv`` on the CPU, ``bmm`` elsewhere."""
    if m.device.type == "cpu":
        return torch.stack([torch.mv(mi, vi) for mi, vi in zip(m, v)])
    return torch.bmm(m, v[:, :, None]).squeeze(2)


class ChannelPool(torch.autograd.Function):
    """``x [B, C, H, W] -> (mean over H·W, max over H·W)``, each ``[B, C]``."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.flatten(2)
        peak, index = flat.max(2)
        ctx.save_for_backward(index)
        ctx.shape = x.shape
        return x.mean((2, 3)), peak

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_mean: Tensor, grad_max: Tensor) -> Tensor:
        (index,) = ctx.saved_tensors
        b, c, h, w = ctx.shape
        grad = (grad_mean / (h * w))[:, :, None].expand(b, c, h * w).contiguous()
        grad.scatter_add_(2, index[:, :, None], grad_max[:, :, None].to(grad.dtype))
        return grad.view(b, c, h, w)


class GatedSpatialPool(torch.autograd.Function):
    """``(x [B, C, H, W], gc [B, C]) -> ([B, 2, H, W], y)``: mean and max over C of ``y = x · gc``.

    ``y`` is returned too, without gradient, for :class:`DoubleGate` to finish in place.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, gc: Tensor) -> tuple[Tensor, Tensor]:
        y = x * gc[:, :, None, None]
        peak, index = channel_max(y)
        ctx.save_for_backward(x, gc, index)
        ctx.mark_non_differentiable(y)
        return torch.cat([y.mean(1, keepdim=True), peak], dim=1), y

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor, _grad_y: None) -> tuple[Tensor, Tensor]:
        x, gc, index = ctx.saved_tensors
        b, c, h, w = x.shape
        dtype = torch.promote_types(x.dtype, gc.dtype)
        grad = grad.to(dtype)
        grad_mean, grad_max = grad[:, :1] / c, grad[:, 1:]  # [B, 1, H, W] each
        gcd = gc.to(dtype)
        # d/dx: gc · (grad_mean + grad_max at the arg-max channel)
        grad_x = gcd[:, :, None, None] * grad_mean
        grad_x.scatter_add_(1, index, gcd.gather(1, index.flatten(1)).view_as(index) * grad_max)
        # d/dgc: Σ_hw x · (grad_mean + grad_max at the arg-max channel)
        xs = x.to(dtype).reshape(b, c, h * w)
        grad_gc = batched_mv(xs, grad_mean.reshape(b, h * w))
        picked = x.to(dtype).gather(1, index) * grad_max  # x at the arg-max channel
        grad_gc.scatter_add_(1, index.flatten(1), picked.flatten(1))
        return grad_x.to(x.dtype), grad_gc.to(gc.dtype)


class DoubleGate(torch.autograd.Function):
    """``(x [B, C, H, W], gc [B, C], gs [B, 1, H, W], y = x · gc) -> y · gs``, in ``y``'s memory
    when the dtypes allow (``y`` comes from :class:`GatedSpatialPool`, which does not keep it)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, gc: Tensor, gs: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(x, gc, gs)
        if y.dtype != torch.promote_types(y.dtype, gs.dtype):
            return y * gs
        ctx.mark_dirty(y)
        return y.mul_(gs)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        x, gc, gs = ctx.saved_tensors
        b, c, h, w = x.shape
        dtype = torch.promote_types(torch.promote_types(x.dtype, gc.dtype), gs.dtype)
        gcd, gsd = gc.to(dtype), gs.to(dtype)
        gx = grad.to(dtype) * x.to(dtype)  # the one full-size temporary, reused for d/dx
        flat = gx.reshape(b, c, h * w)
        grad_gc = batched_mv(flat, gsd.reshape(b, h * w))  # Σ_hw grad·x·gs
        grad_gs = torch.bmm(gcd[:, None, :], flat).view(b, 1, h, w)  # Σ_c grad·x·gc
        grad_x = gx.copy_(grad).mul_(gcd[:, :, None, None]).mul_(gsd)
        return grad_x.to(x.dtype), grad_gc.to(gc.dtype), grad_gs.to(gs.dtype), None
