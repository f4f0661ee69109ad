"""The shipped models' report: every operating point of every zoo model against the classic codecs
on scenes none of them trained on (``scripts/zoo_report.py``).

For each model and operating point (each λ of a variable-rate model, else its own λ) the scenes
are coded by :func:`~sarcomp.evaluation.pretrained.evaluate_pretrained` (metrics JSON and the
classic codecs rate-matched scene by scene), and the classic codecs' rate sweep codes the same
scenes. Everything is restricted to the scenes common to all results; then per operating point
the fit-free ΔPSNR against each rate-matched codec (mean and range over scenes), per model the
Bjøntegaard numbers against each classic sweep (cubic, N/A with the reason where a curve does not
allow a fit, :func:`sarcomp.analysis.stats.bd`), and the issue-10 milestones against JPEG 2000,
which are set over 0.25–2 bpp: milestone 1 on the operating points in that range, milestone 2 and
the goal on the BD-rate integrated over it (beside the BD numbers over each model's whole range).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.analysis import operator
from sarcomp.analysis.render import md_table, number_or_na
from sarcomp.analysis.stats import bd
from sarcomp.evaluation.results import mean_row
from sarcomp.models.zoo import curve_of

ANCHOR = "jpeg2000"
MILESTONE_1_DB = -0.5  # within 0.5 dB of JPEG 2000 at every rate point
GOAL_BD_RATE = -20.0  # % against JPEG 2000
MILESTONE_RATES = (0.25, 2.0)  # bpp: the range the milestones are set over


def _key(row: Mapping[str, Any]) -> str:
    return str(row.get("path") or row["image"])


def common_keys(payloads: Sequence[Mapping[str, Any]]) -> set[str]:
    """Scenes every payload holds."""
    return set.intersection(*({_key(r) for r in p["images"]} for p in payloads))


def restricted(payload: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    rows = [r for r in payload["images"] if _key(r) in keys]
    return {**payload, "images": rows, "mean": mean_row(rows)}


def point_row(learned: Mapping[str, Any], matched: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One operating point: the learned means and ΔPSNR per rate-matched codec (mean, min, max)."""
    row: dict[str, Any] = {
        "name": learned["name"],
        "curve": curve_of(learned),
        "plan": learned.get("plan"),
        "lmbda": learned.get("lmbda"),
        **learned["mean"],
    }
    ours = {_key(r): r["psnr"] for r in learned["images"]}
    for payload in matched:
        deltas = [ours[_key(r)] - r["psnr"] for r in payload["images"] if _key(r) in ours]
        finite = [d for d in deltas if math.isfinite(d)]
        for key in ("bpp", "psnr", "enl_ratio", "epi", *operator.MATCHED_KEYS):
            row[f"{payload['codec']}_{key}"] = payload["mean"].get(key, math.nan)
        row[f"delta_{payload['codec']}"] = (
            {"mean": float(np.mean(finite)), "min": min(finite), "max": max(finite), "n": len(finite)}
            if finite
            else None
        )
    return row


def model_curves(points: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Operating points grouped by RD curve (a shipped model, or single-λ models trained alike), in
    rate order."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        out.setdefault(p["curve"], []).append(p)
    return {k: sorted(v, key=lambda p: p["bpp"]) for k, v in out.items()}


def sweep_curves(sweep: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """(bpp, PSNR) of each classic codec's rate sweep, in rate order, from ``{codec, bpp, psnr}`` rows."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for p in sweep:
        curves.setdefault(p["codec"], []).append((p["bpp"], p["psnr"]))
    return {c: ([b for b, _ in sorted(v)], [d for _, d in sorted(v)]) for c, v in curves.items()}


def build_zoo_report(
    learned: Sequence[Mapping[str, Any]],
    matched: Sequence[Sequence[Mapping[str, Any]]],
    sweep: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """``learned[i]`` with its rate-matched classic payloads ``matched[i]``, and the classic sweep."""
    keys = common_keys([*learned, *(m for ms in matched for m in ms), *sweep])
    if not keys:
        raise ValueError("no scene is common to every shipped model's evaluation and the classic sweep")
    points = [
        point_row(restricted(p, keys), [restricted(m, keys) for m in ms]) for p, ms in zip(learned, matched)
    ]
    rows = [
        {"name": p["name"], "codec": p["codec"], "param": p.get("param"), **restricted(p, keys)["mean"]}
        for p in sweep
    ]
    anchors = sweep_curves(rows)
    models = {}
    lo, hi = MILESTONE_RATES
    for name, pts in model_curves(points).items():
        test = ([p["bpp"] for p in pts], [p["psnr"] for p in pts])
        deltas = [p.get(f"delta_{ANCHOR}") for p in pts if lo <= p["bpp"] <= hi]
        within = [d is not None and d["mean"] >= MILESTONE_1_DB for d in deltas]
        models[name] = {
            "points": len(pts),
            "points_in_range": len(deltas),
            "bd": {codec: bd(curve, test) for codec, curve in anchors.items()},
            "bd_in_range": (
                bd(anchors[ANCHOR], test, rate_window=MILESTONE_RATES)
                if ANCHOR in anchors
                else {"na": "no JPEG 2000 sweep"}
            ),
            "milestone_1": all(within) if deltas and all(d is not None for d in deltas) else None,
        }
    return {
        "scenes": sorted(keys),
        "points": points,
        "models": models,
        "sweep": rows,
    }


def _delta(d: Mapping[str, Any] | None) -> str:
    return "N/A" if not d else f"{d['mean']:+.2f} ({d['min']:+.2f} … {d['max']:+.2f})"


def _bd_cell(result: Mapping[str, Any], key: str, fmt: str) -> str:
    if "na" in result:
        return f"N/A ({result['na']})"
    if key in result:
        return format(result[key], fmt)
    return f"N/A ({result.get(f'{key}_na', '?')})"


def render_zoo_markdown(report: Mapping[str, Any], plot: Path | None = None) -> str:
    """Tables of the report: operating points, SAR fidelity, Bjøntegaard and milestones, sweeps."""
    points = report["points"]
    codecs = sorted({k[len("delta_") :] for p in points for k in p if k.startswith("delta_")})
    head = ["model", "plan", "λ", "bpp", "PSNR", "SSIM", "MS-SSIM", "RMSE dB"]
    head += [f"{c} PSNR at equal rate" for c in codecs] + [f"ΔPSNR vs {c} (mean; min … max)" for c in codecs]
    rows = []
    for p in points:
        rows.append(
            [
                p["name"],
                str(p.get("plan") or "—"),
                number_or_na(p.get("lmbda"), "g", "N/A"),
                number_or_na(p["bpp"], ".3f", "N/A"),
            ]
            + [
                number_or_na(p.get(k), f, "N/A")
                for k, f in (("psnr", ".2f"), ("ssim", ".4f"), ("ms_ssim", ".4f"))
            ]
            + [number_or_na(p.get("rmse_db"), ".2f", "N/A")]
            + [number_or_na(p.get(f"{c}_psnr"), ".2f", "N/A") for c in codecs]
            + [_delta(p.get(f"delta_{c}")) for c in codecs]
        )
    out = [f"Scenes ({len(report['scenes'])}): " + ", ".join(Path(s).name for s in report["scenes"]), ""]
    out += ["### Operating points", "", md_table(head, rows), ""]
    fidelity = [("enl_ratio", "ENL ratio", ".3f"), ("ratio_mean", "ratio mean", ".3f")]
    fidelity += [("ratio_var", "ratio var", ".3f"), ("mean_preservation", "mean pres.", ".3f")]
    fidelity += [("epi", "EPI", ".3f"), ("encode_ms", "enc ms", ".1f"), ("decode_ms", "dec ms", ".1f")]
    fidelity += [
        (f"{c}_{k}", f"{c} {t}", ".3f")
        for c in codecs
        for k, t in (("enl_ratio", "ENL ratio"), ("epi", "EPI"))
    ]
    rows = [
        [p["name"], number_or_na(p.get("lmbda"), "g", "N/A")]
        + [number_or_na(p.get(k), f, "N/A") for k, _, f in fidelity]
        for p in points
    ]
    out += ["### SAR fidelity and time (per scene; the classic codecs' at the model's rates)", ""]
    out += [md_table(["model", "λ", *(t for _, t, _ in fidelity)], rows), ""]
    out += ["### Detection and reflectivity fidelity (the classic codecs' at the model's rates)", ""]
    out += [operator.zoo_table(points), "", operator.NOTE, ""]
    lo, hi = MILESTONE_RATES
    out += ["### Bjøntegaard (cubic) and the milestones against JPEG 2000", ""]
    rows = []
    for name, m in report["models"].items():
        anchor = m["bd"].get(ANCHOR, {"na": "no JPEG 2000 sweep"})
        in_range = m.get("bd_in_range", {"na": "not computed"})
        rate = in_range.get("bd_rate")
        rows.append(
            [name, f"{m['points']} ({m.get('points_in_range', '?')})"]
            + [_bd_cell(anchor, "bd_rate", "+.2f"), _bd_cell(anchor, "bd_psnr", "+.3f")]
            + [_bd_cell(in_range, "bd_rate", "+.2f"), _bd_cell(in_range, "bd_psnr", "+.3f")]
            + [_met(m["milestone_1"]), _met(None if rate is None else rate <= 0)]
            + [_met(None if rate is None else rate <= GOAL_BD_RATE)]
        )
    head = ["RD curve", f"points (in {lo:g}–{hi:g} bpp)", "BD-rate % vs JPEG 2000", "BD-PSNR dB vs JPEG 2000"]
    head += [f"BD-rate % over {lo:g}–{hi:g} bpp", f"BD-PSNR dB over {lo:g}–{hi:g} bpp"]
    head += [f"M1: ≥ −0.5 dB at every point in {lo:g}–{hi:g} bpp", "M2: BD-rate ≤ 0 over the range"]
    head += ["goal: BD-rate ≤ −20 % over the range"]
    out += [md_table(head, rows), ""]
    others = sorted({c for m in report["models"].values() for c in m["bd"]} - {ANCHOR})
    if others:
        rows = [
            [name, c, _bd_cell(m["bd"][c], "bd_rate", "+.2f"), _bd_cell(m["bd"][c], "bd_psnr", "+.3f")]
            for name, m in report["models"].items()
            for c in others
            if c in m["bd"]
        ]
        out += [md_table(["RD curve", "anchor", "BD-rate %", "BD-PSNR dB"], rows), ""]
    rows = [
        [
            s["name"],
            number_or_na(s.get("param"), "g", "N/A"),
            number_or_na(s["bpp"], ".3f", "N/A"),
            number_or_na(s["psnr"], ".2f", "N/A"),
        ]
        for s in report["sweep"]
    ]
    out += ["### Classic rate sweeps (same scenes, coded whole, headers included)", ""]
    out += [md_table(["codec", "parameter", "bpp", "PSNR"], rows), ""]
    if plot is not None:
        out += [f"![PSNR against bpp]({plot.name})", ""]
    return "\n".join(out)


def _met(flag: bool | None) -> str:
    return "N/A" if flag is None else ("met" if flag else "not met")


def plot_zoo(report: Mapping[str, Any], path: Path) -> Path:
    """PSNR against bpp: each shipped model's points and the classic sweeps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    rates = [p["bpp"] for p in report["points"]]
    lo, hi = min(rates) / 2, max(rates) * 2
    for codec, (xs, ys) in sweep_curves(report["sweep"]).items():
        keep = [(x, y) for x, y in zip(xs, ys) if lo <= x <= hi]
        if keep:
            ax.plot(*zip(*keep), "--", marker=".", label=codec)
    for name, pts in model_curves(report["points"]).items():
        ax.plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], "-o", label=name)
    ax.set_xlabel("bpp")
    ax.set_ylabel("PSNR [dB] on [0, 1]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
