"""Matplotlib figures of the explanations (object API, no pyplot state), written as PNGs or
rendered to RGB arrays for TensorBoard."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from sarcomp.fileio import atomic_write

Box = tuple[int, int, int, int]  # row, col, height, width


def _grid(n: int, cols: int = 3, size: float = 3.6) -> tuple[Figure, list]:
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(size * cols + 0.6, size * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes[:n]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _image(ax, fig: Figure, arr: np.ndarray, title: str, cmap: str = "gray", label: str = "", **kw) -> None:
    im = ax.imshow(arr, cmap=cmap, interpolation="nearest", **kw)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)


def _overlay(ax, fig: Figure, image: np.ndarray, heat: np.ndarray, title: str, label: str, **kw) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    im = ax.imshow(heat, cmap="jet", alpha=0.45, interpolation="bilinear", **kw)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)


def _normalised(m: np.ndarray) -> np.ndarray:
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def _box(ax, box: Box | None) -> None:
    if box is not None:
        r, c, h, w = box
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="lime", linewidth=1.2))


def spatial_maps_figure(
    image: Tensor,
    maps: Mapping[str, Tensor],
    title: str,
    borders: Mapping[str, tuple[int, int] | None] | None = None,
) -> Figure:
    """Each spatial gate (upsampled ``[H, W]``) over the SAR tile; the colour bar spans the
    map's own range (gates often vary by a few hundredths around their mean). ``borders`` (cells,
    px) marks with a dashed square where the gate's convolution stops reading zero padding."""
    fig, axes = _grid(len(maps), cols=2, size=4.6)
    for ax, (name, m) in zip(axes, maps.items()):
        v = _np(m)
        _overlay(ax, fig, _np(image), v, _wrap(f"{name}, range [{v.min():.3f}, {v.max():.3f}]", 48), "gate")
        ring = (borders or {}).get(name)
        if ring is not None and 0 < ring[1] < min(v.shape) // 2:
            px = ring[1]
            h, w = v.shape
            ax.add_patch(
                Rectangle(
                    (px - 0.5, px - 0.5), w - 2 * px, h - 2 * px, fill=False, edgecolor="white", ls="--", lw=1
                )
            )
    fig.suptitle(title)
    return fig


def add_caption(fig: Figure, text: str) -> Figure:
    """``text`` under the figure, wrapped to its width."""
    width = int(fig.get_figwidth() * 15)
    fig.supxlabel(_wrap(text, width), fontsize=8, ha="left", x=0.01, multialignment="left")
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def channel_weights_figure(weights: Mapping[str, Tensor], title: str, start: float = 0.5) -> Figure:
    """Bar plot of each channel gate's weights ``[C]`` for one image; ``start`` is the gates' value
    at initialisation (0.5 for σ gates, 1 for ``unit_start`` ones, whose range is 0..2)."""
    fig, axes = _grid(len(weights), cols=1, size=3.0)
    fig.set_size_inches(9, 2.6 * len(weights) + 0.5)
    for ax, (name, w) in zip(axes, weights.items()):
        v = _np(w)
        ax.bar(np.arange(v.size), v, color="tab:blue", width=0.9)
        ax.axhline(start, color="gray", lw=0.8, ls="--")
        ax.set_ylim(0, 2 * start)
        ax.set_xlim(-1, v.size)
        ax.set_xlabel("channel")
        ax.set_ylabel("gate weight")
        ax.set_title(_wrap(f"{name} (dashed: {start:g}, the value at initialisation)", 110), fontsize=9)
    fig.suptitle(title)
    return fig


def channel_distribution_figure(weights: Mapping[str, Tensor], title: str, start: float = 0.5) -> Figure:
    """Per-channel distribution (box plots over tiles ``[N, C]``), channels sorted by median:
    suppressed channels on the left, kept ones on the right; the axis spans the gates' range,
    ``0..2·start``."""
    fig, axes = _grid(len(weights), cols=1, size=3.0)
    fig.set_size_inches(10, 2.8 * len(weights) + 0.5)
    for ax, (name, w) in zip(axes, weights.items()):
        v = _np(w)
        order = np.argsort(np.median(v, 0))
        ax.boxplot(v[:, order], widths=0.7, showfliers=False)
        ticks = np.arange(1, v.shape[1] + 1)
        step = max(1, v.shape[1] // 24)
        ax.set_xticks(ticks[::step], [str(i) for i in order[::step]], fontsize=7)
        ax.set_ylim(0, 2 * start)
        ax.set_xlabel("channel (sorted by median weight)")
        ax.set_ylabel("gate weight")
        ax.set_title(f"{name}: {v.shape[0]} tiles", fontsize=9)
    fig.suptitle(title)
    return fig


def query_attention_figure(
    image: Tensor, maps: Mapping[str, Tensor], queries: Sequence[tuple[int, int]], title: str
) -> Figure:
    """Attention weights (``[Q, H, W]`` per module, upsampled) of each query pixel (marked)."""
    n = sum(m.shape[0] for m in maps.values())
    fig, axes = _grid(n)
    i = 0
    for name, m in maps.items():
        for q, (r, c) in enumerate(queries):
            ax = axes[i]
            _overlay(
                ax, fig, _np(image), _np(m[q]), _wrap(f"{name}: query ({r}, {c})", 44), "weight (upsampled)"
            )
            ax.plot(c, r, marker="x", color="white", markersize=9, mew=2)
            i += 1
    fig.suptitle(title)
    return fig


def cam_figure(image: Tensor, maps: Mapping[str, Tensor], title: str, unit: str, box: Box | None) -> Figure:
    """Per layer: the raw map (absolute scale, comparable across variants) and the normalised
    overlay on the tile; ``box`` marks the region of interest. An all-0 map has no positive
    evidence: the target does not depend on the layer, or its gradient-weighted activations are
    at most 0 everywhere (Grad-CAM's ReLU)."""
    fig, axes = _grid(2 * len(maps), cols=2)
    for k, (name, m) in enumerate(maps.items()):
        raw = _np(m)
        note = f"max {raw.max():.3g}" if raw.max() > 0 else "all 0: no positive evidence"
        _image(axes[2 * k], fig, raw, _wrap(f"{name}: raw ({note})", 42), cmap="magma", label=unit)
        normalised = f"{name}: normalised" if raw.max() > 0 else f"{name}: all 0, nothing to normalise"
        _overlay(axes[2 * k + 1], fig, _np(image), _normalised(raw), _wrap(normalised, 42), "0..1")
        _box(axes[2 * k], box)
        _box(axes[2 * k + 1], box)
    fig.suptitle(title)
    return fig


def compare_figure(image: Tensor, maps: Mapping[str, Tensor], title: str, box: Box | None) -> Figure:
    """Normalised overlays side by side (e.g. Grad-CAM beside augmented Grad-CAM, RISE)."""
    fig, axes = _grid(len(maps), cols=len(maps))
    for ax, (name, m) in zip(axes, maps.items()):
        _overlay(ax, fig, _np(image), _normalised(_np(m)), _wrap(name, 40), "normalised")
        _box(ax, box)
    fig.suptitle(title)
    return fig


def bits_figure(image: Tensor, recon: Tensor, bits: Tensor, err: Tensor, title: str) -> Figure:
    """Input, reconstruction, bits per pixel (−log2 likelihood) and squared error."""
    fig, axes = _grid(4, cols=4, size=3.4)
    _image(axes[0], fig, _np(image), "input", vmin=0, vmax=1, label="[0, 1]")
    _image(axes[1], fig, _np(recon), "reconstruction", vmin=0, vmax=1, label="[0, 1]")
    b = _np(bits)
    _image(axes[2], fig, b, f"bits (mean {b.mean():.3f} bpp)", cmap="viridis", label="bits / pixel")
    e = _np(err)
    _image(axes[3], fig, e, f"squared error (mean {e.mean():.2e})", cmap="inferno", label="error²")
    fig.suptitle(title)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG, atomically."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path


def to_rgb(fig: Figure) -> np.ndarray:
    """The figure rendered as an ``[H, W, 3]`` uint8 array (for TensorBoard's ``add_image``)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
