"""The attention study's figures: RD curves, BD-rate against V0 with intervals, attention during
training. Written atomically as PNG."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from sarcomp.interpret.figures import save_png


def _pyplot() -> ModuleType:
    """matplotlib's pyplot on the file-only backend, imported when a figure is drawn (as the
    other report modules do: importing the study's tables needs no plotting stack)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rd(points: Mapping[str, Mapping[str, list[float]]], title: str, path: Path) -> Path:
    """Scene-mean RD curves, one line per codec (classic codecs dashed), log rate axis."""
    import matplotlib.ticker

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, p in points.items():
        ax.plot(p["bpp"], p["psnr"], "o-" if not name.startswith("JPEG") else "s--", label=name, ms=3)
    ax.set_xscale("log")
    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 4) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("bpp (.sarc bytes; JPEG 2000 file bytes)")
    ax.set_ylabel("PSNR (dB, scene mean)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)  # atomically
    plt.close(fig)
    return path


def plot_forest(rows: Mapping[int, Mapping[str, Mapping[str, Any]]], title: str, path: Path) -> Path:
    """BD-rate against V0 per codec with its 95 % bootstrap interval, one marker per training budget
    (``rows``: step -> codec -> the statistics of :func:`sarcomp.analysis.study.compare`); cubic
    fit, scene-weighted (filled) and pixel-weighted (open)."""
    plt = _pyplot()
    names = list(dict.fromkeys(n for by_name in rows.values() for n in by_name))
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * len(names) + 1.4))
    offsets = _offsets(len(rows) * 2)
    for k, (step, by_name) in enumerate(sorted(rows.items())):
        for j, (weighting, marker) in enumerate((("scene", "o"), ("pixel", "s"))):
            dy = offsets[2 * k + j]
            for i, name in enumerate(names):
                s = by_name.get(name, {}).get(f"bd_rate_cubic_{weighting}")
                if not s or s["estimate"] != s["estimate"]:  # absent or N/A
                    continue
                err = [[s["estimate"] - s["low"]], [s["high"] - s["estimate"]]]
                ax.errorbar(
                    s["estimate"],
                    i + dy,
                    xerr=err,
                    fmt=marker,
                    color=f"C{k}",
                    ms=4,
                    capsize=2,
                    mfc=f"C{k}" if weighting == "scene" else "none",
                    label=f"{step:,} steps, {weighting}-weighted",
                )
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("BD-rate against V0 (%, cubic; < 0: fewer bits at equal PSNR)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # one entry per budget and weighting
    ax.legend(unique.values(), unique.keys(), fontsize=7)
    fig.tight_layout()
    save_png(fig, path)  # atomically
    plt.close(fig)
    return path


def _offsets(n: int) -> Sequence[float]:
    return [0.0] if n == 1 else [-0.3 + 0.6 * i / (n - 1) for i in range(n)]


def plot_attention(bundle: Mapping[str, Any], path: Path) -> Path | None:
    """Per attention run: |γ| (self-attention) or the spread of the gates (CBAM's spatial, SE/ECA's
    gate) against the training step, one line per module."""
    plt = _pyplot()
    series = defaultdict(list)
    for run, log in sorted(bundle["attention"].items()):
        for step in sorted(log, key=int):
            for module, values in log[step].items():
                key = next(
                    (k for k in ("gamma", "spatial_std", "gate_std", "theta_shift") if k in values), None
                )
                if key:
                    series[(run, module, key)].append((int(step), values[key]))
    if not series:
        return None
    kinds = sorted({k for _, _, k in series})
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 3.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for (run, module, k), points in series.items():
            if k == kind:
                ax.plot(*zip(*points), label=f"{run} {module}", lw=1)
        ax.set_xlabel("training step")
        ax.set_ylabel(
            {"gamma": "|γ| (self-attention)", "spatial_std": "spread of the spatial gate"}.get(kind, kind)
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5)
    fig.tight_layout()
    save_png(fig, path)  # atomically
    plt.close(fig)
    return path
