"""Grad-CAM for a codec: the target is the distortion inside a region of interest, or the rate.

The quantiser (rounding in the entropy model) has zero gradient; :func:`straight_through`
makes every entropy model of the codec pass gradients as if it were the identity, so targets
after the quantiser (the distortion) reach the encoder's layers. The map of a layer with
activations ``A_k`` is ``ReLU(Σ_k α_k A_k)`` with ``α_k`` the spatial mean of ``∂T/∂A_k``.
Raw maps are kept in the target's units (comparable across variants); normalise only for display.

Own code rather than pytorch-grad-cam or Captum: the codec's output is a dict, the target needs
the input (distortion) and the straight-through patch anyway, and pytorch-grad-cam min-max
normalises every map (raw maps are lost) and needs OpenCV; the method itself is a few lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyModel
from torch import Tensor, nn

from sarcomp.interpret.hooks import attention_modules

Transform = Callable[[Tensor], Tensor]


@contextmanager
def straight_through(model: nn.Module) -> Iterator[None]:
    """Within the block, every entropy model's ``quantize`` returns its usual value with the
    gradient of the identity (``y + (q(y) - y).detach()``)."""
    patched = []
    for m in model.modules():
        if isinstance(m, EntropyModel):
            original = m.quantize

            def st(inputs: Tensor, mode: str, means: Tensor | None = None, _q=original) -> Tensor:
                out = _q(inputs, mode, means)
                return out if mode == "symbols" else inputs + (out - inputs).detach()

            m.quantize = st
            patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.quantize  # back to the class method


@dataclass(frozen=True)
class DistortionTarget:
    """Mean squared error of the reconstruction inside ``roi`` (``[B or 1, 1, H, W]`` weights,
    ``None`` for the whole image), per image."""

    roi: Tensor | None = None

    def __call__(self, out: dict, x: Tensor) -> Tensor:
        err = (out["x_hat"].float() - x.float()) ** 2
        if self.roi is None:
            return err.mean((1, 2, 3))
        roi = self.roi.to(err)
        return (err * roi).sum((1, 2, 3)) / roi.expand_as(err).sum((1, 2, 3)).clamp_min(1e-12)

    def transformed(self, fn: Transform) -> DistortionTarget:
        return DistortionTarget(None if self.roi is None else fn(self.roi))


@dataclass(frozen=True)
class RateTarget:
    """Estimated bits of the latent(s), ``Σ −log2 p``, per image."""

    def __call__(self, out: dict, x: Tensor) -> Tensor:
        return sum(-torch.log2(p.float()).flatten(1).sum(1) for p in out["likelihoods"].values())

    def transformed(self, fn: Transform) -> RateTarget:
        return self


Target = DistortionTarget | RateTarget


def default_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Layers to explain: the attention modules, or the encoder's last block without any (of a
    transform of parallel paths, the deep path's last block: the linear path is not explained)."""
    layers = attention_modules(model)
    if not layers and hasattr(model, "g_a"):
        deep = getattr(model.g_a, "deep", None)  # a transform of parallel paths: its deep one's
        blocks, prefix = (model.g_a, "g_a") if deep is None else (deep, "g_a.deep")
        layers = {f"{prefix}.{len(blocks) - 1}": blocks[-1]}
    return layers


def grad_cam(model: nn.Module, x: Tensor, layers: dict[str, nn.Module], target: Target) -> dict[str, Tensor]:
    """Raw Grad-CAM maps ``[B, 1, H, W]`` (input size, bilinear) of each layer for ``target``.

    One forward and one backward pass; the model's parameters get no gradient.
    """
    acts: dict[str, Tensor] = {}

    def keep(name: str):
        def hook(_m, _i, out: Tensor) -> None:
            acts[name] = out

        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in layers.items()]
    try:
        with torch.enable_grad(), straight_through(model):
            x = x.detach().requires_grad_(True)  # keeps the graph alive even if no parameter trains
            out = model(x)
            score = target(out, x).sum()
            names = [n for n in layers if n in acts]
            grads = torch.autograd.grad(score, [acts[n] for n in names], allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    maps = {}
    for name, g in zip(names, grads):
        a = acts[name].detach().float()
        g = torch.zeros_like(a) if g is None else g.float()
        cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
        maps[name] = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return maps


@dataclass(frozen=True)
class Augmentation:
    """An invertible transform of ``[B, C, H, W]`` images and its inverse."""

    name: str
    forward: Transform
    inverse: Transform


def augmentations(shifts: Sequence[int] = (4, 8, 12)) -> list[Augmentation]:
    """Identity, two flips, three rotations by 90° and diagonal circular shifts by ``shifts``
    pixels (not multiples of the codec's stride, so each copy sees the grid at another phase)."""
    augs = [Augmentation("identity", lambda t: t, lambda t: t)]
    augs += [
        Augmentation("flip_h", lambda t: t.flip(-1), lambda t: t.flip(-1)),
        Augmentation("flip_v", lambda t: t.flip(-2), lambda t: t.flip(-2)),
    ]
    for k in (1, 2, 3):
        augs.append(
            Augmentation(
                f"rot{90 * k}",
                lambda t, k=k: torch.rot90(t, k, (-2, -1)),
                lambda t, k=k: torch.rot90(t, -k, (-2, -1)),
            )
        )
    for s in shifts:
        augs.append(
            Augmentation(
                f"shift{s}",
                lambda t, s=s: torch.roll(t, (s, s), (-2, -1)),
                lambda t, s=s: torch.roll(t, (-s, -s), (-2, -1)),
            )
        )
    return augs


def augmented_grad_cam(
    model: nn.Module,
    x: Tensor,
    layers: dict[str, nn.Module],
    target: Target,
    augs: Sequence[Augmentation] | None = None,
) -> dict[str, Tensor]:
    """Augmented Grad-CAM: maps of transformed copies of the input (the ROI transformed alike),
    mapped back by the inverse transform and averaged. The copies see the coarse feature grid
    at different phases and orientations, so the mean resolves detail finer than one map's cells.
    """
    augs = list(augs) if augs is not None else augmentations()
    total: dict[str, Tensor] = {}
    for aug in augs:
        maps = grad_cam(model, aug.forward(x), layers, target.transformed(aug.forward))
        for name, m in maps.items():
            back = aug.inverse(m)
            total[name] = total[name] + back if name in total else back
    return {name: m / len(augs) for name, m in total.items()}
