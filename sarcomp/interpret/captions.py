"""What the explanation figures say about themselves: human names of the codec's layers, which
part of the scene is shown, how the region of interest was chosen and what falls in it, and where
a gate's values are edge effects of zero padding rather than content."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.interpret.hooks import attention_modules
from sarcomp.models.blocks import ParallelTransform

Box = tuple[int, int, int, int]  # row, col, height, width


@dataclass(frozen=True)
class Crop:
    """Where the explained tile lies in its scene (``window``: row, col, height, width)."""

    scene: str
    scene_shape: tuple[int, int]
    window: Box
    reading: str = ""  # units and clip range, e.g. "intensity, clip range [-30, 0.3] dB (...)"

    def describe(self) -> str:
        r, c, h, w = self.window
        H, W = self.scene_shape
        read = f" ({self.reading})" if self.reading else ""
        if (h, w) == (H, W):
            return f"{self.scene}: the whole {H} x {W} px scene{read}, coded as one tile"
        return (
            f"{self.scene}: centre crop {h} x {w} px (rows {r}-{r + h - 1}, cols {c}-{c + w - 1}) "
            f"of the {H} x {W} px scene{read}, coded as one tile"
        )

    def in_scene(self, box: Box) -> str:
        """A box of the crop in scene coordinates."""
        r, c, h, w = box
        return f"rows {self.window[0] + r}-{self.window[0] + r + h - 1}, cols {self.window[1] + c}-{self.window[1] + c + w - 1}"


def layer_names(model: nn.Module) -> dict[str, str]:
    """``{qualified name: "human name (name)"}`` for the blocks and attention modules of the codec's
    encoder ``g_a`` and decoder ``g_s``, e.g. ``"bottleneck attention on the latent y, before
    quantisation (g_a.4)"``, ``"decoder entry attention on the decoded latent ŷ (g_s.0)"``.
    A :class:`~sarcomp.models.blocks.ParallelTransform` names its deep path's blocks so
    (``g_a.deep.1``, "... of the deep path") and its linear path as a whole."""
    attention = set(attention_modules(model))
    names: dict[str, str] = {}
    for part, human in (("g_a", _encoder_names), ("g_s", _decoder_names)):
        seq, prefix, of = getattr(model, part, None), part, ""
        if isinstance(seq, ParallelTransform):
            names[f"{part}.linear"] = (
                f"{'encoder' if part == 'g_a' else 'decoder'} linear path ({part}.linear)"
            )
            seq, prefix, of = seq.deep, f"{part}.deep", " of the deep path"
        if isinstance(seq, nn.Sequential):
            kinds = [
                "attention" if f"{prefix}.{i}" in attention else type(m).__name__ for i, m in enumerate(seq)
            ]
            for i, text in enumerate(human(kinds)):
                names[f"{prefix}.{i}"] = f"{text}{of} ({prefix}.{i})"
    return names


def _encoder_names(kinds: list[str]) -> list[str]:
    blocks = sum(k == "Sequential" for k in kinds)
    out, k = [], 0
    for kind in kinds:
        if kind == "Sequential":
            k += 1
            out.append(f"encoder block {k}" if k < blocks else f"encoder output block {k} (to the latent y)")
        elif kind == "attention":
            out.append(
                "bottleneck attention on the latent y, before quantisation"
                if k == blocks
                else f"encoder attention after block {k}"
            )
        else:
            out.append(f"encoder {kind}")
    return out


def _decoder_names(kinds: list[str]) -> list[str]:
    blocks = sum(k == "Sequential" for k in kinds)
    out, k = [], 0
    for kind in kinds:
        if kind == "Sequential":
            k += 1
            out.append(f"decoder block {k}" if k < blocks else f"decoder output block {k}")
        elif kind == "attention":
            out.append(
                "decoder entry attention on the decoded latent ŷ"
                if k == 0
                else f"decoder attention after block {k}"
            )
        else:
            out.append(f"decoder output {kind.lower()}")
    return out


def label(names: dict[str, str], key: str) -> str:
    """The human name of ``key`` (``g_s.0`` or a part of it, ``g_s.0.spatial``): the longest named
    module that holds it, else its first two name parts."""
    held = [name for name in names if key == name or key.startswith(name + ".")]
    top = max(held, key=len) if held else ".".join(key.split(".")[:2])
    sub = key[len(top) + 1 :]
    base = names.get(top, top)
    return f"{base}, {sub} gate" if sub else base


def padding_border(model: nn.Module, key: str, map_side: int, tile_side: int) -> tuple[int, int] | None:
    """(cells, px): the outer ring of a spatial gate's ``map_side``-cell map whose k x k convolution
    reads zero padding beyond the tile edge, in cells and in tile pixels; None when ``key`` has no
    such convolution."""
    try:
        module = model.get_submodule(key)
    except AttributeError:
        return None
    conv = getattr(module, "conv", None)
    if not isinstance(conv, nn.Conv2d) or conv.kernel_size[0] < 2:
        return None
    cells = conv.kernel_size[0] // 2
    return cells, cells * tile_side // map_side


def choose_roi(x: Tensor, margin: int) -> tuple[Box, str]:
    """The region of interest for the distortion target: the square of a quarter of the tile side
    whose input has the highest local standard deviation (edges, targets, texture: where the content
    is), at least ``margin`` px from the tile edge (where padding distorts every map); and why."""
    h, w = x.shape[-2:]
    side = max(min(h, w) // 4, 1)
    img = x[:1, :1].float()
    mean = F.avg_pool2d(img, side, stride=1)
    var = (F.avg_pool2d(img * img, side, stride=1) - mean * mean).clamp_min(0)[0, 0]
    rows, cols = var.shape
    lo_r, lo_c = min(margin, rows - 1), min(margin, cols - 1)
    hi_r, hi_c = max(rows - margin, lo_r + 1), max(cols - margin, lo_c + 1)
    inner = var[lo_r:hi_r, lo_c:hi_c]
    idx = int(inner.flatten().argmax())
    r, c = lo_r + idx // inner.shape[1], lo_c + idx % inner.shape[1]
    why = (
        f"ROI chosen automatically: the {side} x {side} px square of highest local standard deviation "
        f"(where the content is), kept {margin} px from the tile edge"
    )
    return (r, c, side, side), why


def with_share(name: str, share: float) -> str:
    """A layer's panel title with the share of its Grad-CAM inside the ROI (none for an all-0 map)."""
    return name if math.isnan(share) else f"{name}, {100 * share:.0f} % inside the ROI"


def roi_share(cam: Tensor, roi: Box) -> float:
    """Share of a map's (positive) mass inside the ROI."""
    r, c, h, w = roi
    m = cam.detach().float().clamp_min(0)
    total = float(m.sum())
    return float(m[..., r : r + h, c : c + w].sum()) / total if total > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# Captions, one per figure


def spatial_caption(where: str, borders: dict[str, tuple[int, int] | None]) -> str:
    text = (
        f"Input: {where}. Each panel: one spatial gate (a sigmoid, 0..1; 2·sigmoid, 0..2, with unit_start) upsampled to the tile and laid "
        "over it; the colour bar spans the map's own range, so small differences look large."
    )
    rings = {b for b in borders.values() if b is not None}
    if rings:
        cells, px = max(rings)
        text += (
            f" Dashed square: inside it the gate's convolution sees only the tile; in the outer {cells} "
            f"cells of its map (up to {px} px of the tile) it reads zero padding beyond the tile edge, so "
            "a frame or border there is an edge effect of the padding, not content."
        )
    return text


def query_caption(where: str, default_queries: bool) -> str:
    chosen = "the brightest pixel, the centre and the upper-left quarter" if default_queries else "given"
    return f"Input: {where}. Queries (white x): {chosen}; each map is the attention weight of one query over every key."


def bits_caption(where: str) -> str:
    return (
        f"Input: {where}. Bits: -log2 of the entropy model's likelihood of the quantised latent, spread "
        "over the pixels each latent value covers (an estimate; the file's real rate is in the summary)."
    )


def cam_caption(where: str, roi_text: str, why: str) -> str:
    return (
        f"Input: {where}. {roi_text}. {why}. Left: raw Grad-CAM (the target's units per unit of "
        "activation; comparable across models); right: normalised overlay. Grad-CAM weighs each channel "
        "of a layer by the gradient of the squared error inside the ROI, averaged over the whole map, and "
        "sums the channels: it marks everywhere those channels are active, near the ROI and also far from "
        "it, so heat outside the ROI is expected (the panel titles give the share inside); RISE "
        "(importance_compare) tests how the ROI's error depends on each place directly. An all-0 map has "
        "no positive evidence: Grad-CAM keeps only where the gradient-weighted activations raise the error."
    )


def rate_caption(where: str) -> str:
    return (
        f"Input: {where}. Target: the estimated bits of the whole tile, so every part of the tile can "
        "carry heat. Left: raw Grad-CAM; right: normalised overlay. A decoder layer's map is all 0: the "
        "bits are fixed before the decoder runs."
    )


def compare_caption(where: str, roi_text: str, why: str) -> str:
    return (
        f"Input: {where}. {roi_text}. {why}. Each map normalised to 0..1. Augmented Grad-CAM averages "
        "flips, rotations and sub-cell shifts mapped back; RISE masks the input at random and scores the "
        "squared error in the ROI."
    )
