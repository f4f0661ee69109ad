"""RD plots of the compare report: one PNG per metric."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

PLOT_METRICS = (
    ("psnr", "PSNR [dB] on [0, 1]"),
    ("ssim", "SSIM"),
    ("ms_ssim", "MS-SSIM"),
    ("rmse_db", "RMSE [dB]"),
    ("enl_ratio", "ENL ratio (ideal 1)"),
    ("ratio_var", "ratio-image variance (0 lossless)"),
    ("epi", "EPI (ideal 1)"),
    ("det_pd_change", "Δ detection probability vs original (fraction)"),
    ("det_fa_change", "Δ false alarms per Mpx vs original"),
    ("det_f1", "detection F1 vs original"),
    ("refl_psnr", "PSNR [dB] vs noise-free reflectivity (5x5 multilook)"),
)
LOG_AXES = {"enl_ratio", "ratio_var"}  # ratios spanning decades: one outlier would flatten a linear axis


def plot_rd(report: Mapping[str, Any], stem: Path) -> list[Path]:
    """One PNG per metric (``<stem>_rd_<metric>.png``) with something to show."""
    import matplotlib.pyplot as plt

    written = []
    for key, label in PLOT_METRICS:
        fig = rd_figure(report, key, label)
        if fig is None:
            continue
        path = stem.with_name(f"{stem.name}_rd_{key}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def rd_figure(report: Mapping[str, Any], key: str, label: str):
    """``key`` over bpp: learned variants (seed mean ± std per λ) and classic rate sweeps near their
    rates; ratios that span decades (``LOG_AXES``) on a log axis. None if nothing is finite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learned_bpp = [p["metrics"]["bpp"]["mean"] for v in report["variants"] for p in v["points"]]
    lo, hi = (min(learned_bpp) / 2, max(learned_bpp) * 2) if learned_bpp else (0, math.inf)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    drawn = False
    for v in report["variants"]:
        pts = sorted(v["points"], key=lambda p: p["metrics"]["bpp"]["mean"])
        xs = [p["metrics"]["bpp"]["mean"] for p in pts]
        ys = [p["metrics"][key]["mean"] for p in pts]
        if not any(np.isfinite(ys)):
            continue
        xe = [p["metrics"]["bpp"]["std"] if p["metrics"]["bpp"]["n"] > 1 else 0 for p in pts]
        ye = [p["metrics"][key]["std"] if p["metrics"][key]["n"] > 1 else 0 for p in pts]
        ax.errorbar(xs, ys, xerr=xe, yerr=ye, marker="o", capsize=3, label=v["label"])
        drawn = True
    codecs: dict[str, list] = defaultdict(list)
    for p in report["classic_sweep"]:
        codecs[p["name"]].append((p["mean"]["bpp"], p["mean"].get(key, math.nan)))
    for name, pts in codecs.items():
        pts = sorted(pts)
        inside = [i for i, (x, _) in enumerate(pts) if lo <= x <= hi]
        if inside:
            pts = pts[max(inside[0] - 1, 0) : inside[-1] + 2]
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        if any(np.isfinite(ys)):
            ax.plot(xs, ys, linestyle="--", marker=".", label=name)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("bpp")
    ax.set_ylabel(label)
    if key in LOG_AXES:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"{label} vs rate")
    fig.tight_layout()
    return fig
