"""A shipped model against classic codecs on the frozen test split, with bootstrap intervals.

    python experiments/model_rd.py --model fast-vr-s8 --out experiments/results/fast_model
    python experiments/model_rd.py --model <shipped name> --codecs jpeg2000 jpegxl \
        --jpeg2000-rates 4 5 --out experiments/results/<folder>
    python experiments/model_rd.py --model fast-vr-s8:0.0003-0.0055 highrate-vr-s4:0.003-0.3 \
        --out experiments/results/<folder>       # one per-range curve from two models

``name:λlo-λhi`` keeps the model's evaluation λ in that range; several models make one curve
(their points in rate order), each covering the rates chosen for it on validation.

The model is coded at its trained λ and the geometric midpoints between them (two significant
digits: for the study's ladder, the study's seven evaluation λ), scene by scene through the real
bitstream, on the protocol's real test crops (experiments/PROTOCOL.md; cut from ../shared/sar by
scripts/make_sar_splits.py first when absent, checked against the frozen hashes) coded as the study
codes them; each classic codec (16-bit, its rate sweep; ``--jpeg2000-rates`` adds nominal JPEG 2000 rates
above its grid so the anchor reaches a high-rate model's top) on the same scenes. Against each:
BD-rate (cubic and pchip; scene- and pixel-weighted; over the whole common range and 0.25–2 bpp),
the fit-free ΔPSNR at equal rate, each with its 95 % bootstrap interval over scenes (one training
seed: :func:`sarcomp.analysis.study.compare`), and the fit-free ΔPSNR at each of the model's
points. Against JPEG 2000 the project's targets are checked: BD-rate over 0.25–2 bpp at most −12 %
(milestone) and −20 % (goal) with both fits, and no point below JPEG 2000 up to 4 bpp. A model that
trained on any of these scenes' rows outside the protocol's train band is refused
(:func:`sarcomp.data.splits.saw_test_rows`).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from sarcomp.analysis.bootstrap import curve, delta_psnr_at_equal_rate
from sarcomp.analysis.study import WINDOW, compare, plot_rd, scene_rd, verdict
from sarcomp.cli import run_cli
from sarcomp.codec.scaling import RangeRule, coding, training_representation
from sarcomp.config import register_resolvers
from sarcomp.data.loaders import load_split
from sarcomp.data.splits import saw_test_rows
from sarcomp.errors import SarcompError
from sarcomp.evaluation.classic import (
    classic_codecs,
    classic_sweep,
    codec_label,
    default_sweep,
    reference_images,
)
from sarcomp.evaluation.pretrained import evaluate_pretrained
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.models.zoo import entry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attention_study import ROOT, test_data  # noqa: E402  (the study's test set)

STATS = (
    ("bd_rate_cubic_scene", "BD-rate, cubic, scene-weighted", "%"),
    ("bd_rate_pchip_scene", "BD-rate, pchip, scene-weighted", "%"),
    ("bd_rate_cubic_pixel", "BD-rate, cubic, pixel-weighted", "%"),
    ("bd_rate_pchip_pixel", "BD-rate, pchip, pixel-weighted", "%"),
    ("bd_rate_cubic_scene_window", "BD-rate, cubic, 0.25–2 bpp, scene-weighted", "%"),
    ("bd_rate_pchip_scene_window", "BD-rate, pchip, 0.25–2 bpp, scene-weighted", "%"),
    ("delta_psnr_scene", "ΔPSNR at equal rate (fit-free), scene-weighted", "dB"),
)
MIN_POINTS = 4  # an RD curve for BD-rate (a fixed-λ model has one point)
MILESTONE, GOAL, NO_LOSS_UP_TO = -12.0, -20.0, 4.0  # BD-rate % over 0.25–2 bpp; bpp


def eval_lmbdas(trained: list[float]) -> list[float]:
    """The trained λ and the geometric midpoint of each neighbouring pair (2 significant digits)."""
    ladder = sorted(set(trained))
    mids = [float(f"{math.sqrt(a * b):.2g}") for a, b in zip(ladder, ladder[1:])]
    return sorted(set(ladder + mids))


def parse_spec(spec: str) -> tuple[str, tuple[float, float] | None]:
    """``name`` or ``name:λlo-λhi`` (the λ range this model covers in a per-range curve)."""
    name, _, span = spec.partition(":")
    if not span:
        return name, None
    try:
        lo, hi = (float(v) for v in span.split("-"))
    except ValueError:
        raise SarcompError(f"--model {spec}: expected name:λlo-λhi, e.g. fast-vr-s8:0.0003-0.0055") from None
    if not 0 < lo <= hi:
        raise SarcompError(f"--model {spec}: the λ range must be positive and increasing")
    return name, (lo, hi)


def plan_points(specs: list[str]) -> list[tuple[str, float]]:
    """(model, λ) of every operating point: each model's evaluation λ inside its range."""
    planned = []
    for spec in specs:
        name, span = parse_spec(spec)
        cfg = entry(name)["config"]["model"]
        lmbdas = eval_lmbdas(cfg.get("lmbdas") or [cfg["lmbda"]])
        planned += [(name, lm) for lm in lmbdas if span is None or span[0] <= lm <= span[1]]
    if len(planned) < MIN_POINTS:
        raise SarcompError(
            f"{' '.join(specs)}: {len(planned)} operating point(s), an RD curve needs {MIN_POINTS}"
        )
    return planned


def run(specs: list[str], codecs: list[str], jpeg2000_rates: list[float]) -> dict:
    """Code the test split with the models of ``specs`` (one curve) and ``codecs``; the
    comparisons with their intervals."""
    frozen = json.loads((ROOT / "experiments" / "protocol" / "sar_splits.json").read_text())["crops"]
    planned = plan_points(specs)
    items = {name: entry(name) for name, _ in planned}  # one manifest read per model
    names = list(items)
    for name in names:
        seen = saw_test_rows(items[name].get("data") or {}, frozen)
        if seen:
            raise SarcompError(
                f"{name} trained on rows of the test files outside the protocol's: {', '.join(seen)}"
            )
    representations = {json.dumps(training_representation(items[n]["config"]), default=str) for n in names}
    if len(representations) > 1:
        raise SarcompError(f"{', '.join(names)}: trained on different representations, so no single curve")
    data = OmegaConf.create(test_data("real"))
    if not (Path(data.root) / "test").is_dir():  # a fresh clone: cut (and check) the protocol's crops
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_sar_splits.py"), "--out", data.root], check=True
        )
    learned = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, lmbda in planned:
            path = f"{tmp}/{name}_l{lmbda:g}.json"
            payload, _ = evaluate_pretrained(name, data, path, tmp, "cpu", lmbda=lmbda)
            learned.append(payload["images"])
    order = np.argsort([np.mean([r["bpp"] for r in rows]) for rows in learned], kind="stable")
    planned, learned = [planned[i] for i in order], [learned[i] for i in order]
    rule = coding(RangeRule(), training_representation(items[names[0]]["config"]))
    images = reference_images(load_split(data, "test", rule), int(data.tile_size))
    test = [scene_rd(learned)]
    points = _mean_curve(test)
    result: dict = {
        "model": " + ".join(names),
        "lmbdas": [lm for _, lm in planned],
        "scenes": sorted(r["image"] for r in learned[0]),
    }
    result["points"] = [
        {"model": name, "lmbda": lm, "bpp": b, "psnr": p} for (name, lm), (b, p) in zip(planned, zip(*points))
    ]
    result["anchors"] = {}
    for codec in classic_codecs(codecs, 16):
        extra = jpeg2000_rates if codec.name == "JPEG2000" else ()
        sweep = sorted(
            classic_sweep(codec, images, default_sweep(codec, extra)), key=lambda p: p["mean"]["bpp"]
        )
        anchor = [scene_rd([p["images"] for p in sweep])]
        stats = compare(anchor, test)
        result["anchors"][codec.name.lower()] = {
            "label": codec_label(codec),
            "points": [{"bpp": p["mean"]["bpp"], "psnr": p["mean"]["psnr"]} for p in sweep],
            "stats": stats,
            "verdict": verdict(stats),
            "delta_per_point": delta_psnr_at_equal_rate(_mean_curve(anchor), points).tolist(),
        }
    missing = sorted(set(codecs) - set(result["anchors"]))
    result["missing_codecs"] = missing
    if "jpeg2000" in result["anchors"]:
        result["targets"] = targets(result["anchors"]["jpeg2000"], result["points"])
    return result


def _mean_curve(seeds: list) -> tuple[np.ndarray, np.ndarray]:
    n = seeds[0].bpp.shape[0]
    return curve(seeds, np.arange(n), np.arange(len(seeds)), "scene")


def targets(anchor: dict, points: list[dict]) -> list[dict]:
    """The project's targets against JPEG 2000, each met or not (both fits must meet a BD target)."""
    window = [anchor["stats"][f"bd_rate_{m}_scene_window"]["estimate"] for m in ("cubic", "pchip")]
    worst_fit = max(window) if all(np.isfinite(window)) else float("nan")  # a failed fit meets nothing
    deltas = [(p["bpp"], d) for p, d in zip(points, anchor["delta_per_point"]) if p["bpp"] <= NO_LOSS_UP_TO]
    measured = [d for _, d in deltas if np.isfinite(d)]
    worst = min(measured) if measured else float("nan")
    covered = len(measured) == len(deltas) and max(p["bpp"] for p in points) >= NO_LOSS_UP_TO
    spans = min(p["bpp"] for p in points) <= WINDOW[0] and max(p["bpp"] for p in points) >= WINDOW[1]
    return [  # a model whose points do not span 0.25-2 bpp cannot meet a target stated over it
        {
            "target": "milestone: BD-rate ≤ −12 % over 0.25–2 bpp",
            "value": worst_fit,
            "met": worst_fit <= MILESTONE and spans,
            "covered": spans,
        },
        {
            "target": "goal: BD-rate ≤ −20 % over 0.25–2 bpp",
            "value": worst_fit,
            "met": worst_fit <= GOAL and spans,
            "covered": spans,
        },
        {
            "target": f"no point below JPEG 2000 up to {NO_LOSS_UP_TO:g} bpp (worst fit-free ΔPSNR)",
            "value": worst,
            "met": bool(measured) and worst >= 0 and covered,
            "covered": covered,
        },
    ]


def markdown(result: dict, command: str, seconds: float) -> str:
    lines = [
        f"# {result['model']} on the frozen test split",
        "",
        f"`{command}` ({seconds:.0f} s). Scenes ({len(result['scenes'])}): {', '.join(result['scenes'])}. "
        "One training seed: the intervals are over scenes only.",
    ]
    if result["missing_codecs"]:
        lines += ["", f"Not measured (backend not installed): {', '.join(result['missing_codecs'])}."]
    for anchor in result["anchors"].values():
        lines += ["", f"## Against {anchor['label']}", ""]
        lines += ["| statistic (model against the anchor) | value | 95 % interval |", "|---|---|---|"]
        for key, text, unit in STATS:
            s = anchor["stats"][key]
            if math.isfinite(s["estimate"]):
                lines.append(
                    f"| {text} | {s['estimate']:+.2f} {unit} | [{s['low']:+.2f}, {s['high']:+.2f}] |"
                )
            else:
                lines.append(f"| {text} | N/A ({s.get('na_reason') or 'no overlap'}) | — |")
        lines += [
            "",
            f"Verdict over both fits and weightings: **{anchor['verdict']}** (negative BD-rate: fewer bits).",
        ]
    for t in result.get("targets", []):
        unit = "dB" if "ΔPSNR" in t["target"] else "%"
        note = (
            ""
            if t.get("covered", True)
            else " (the model's points do not reach it, or JPEG 2000's do not cover them)"
        )
        lines.append(
            f"- {t['target']}: {t['value']:+.2f} {unit}, **{'met' if t['met'] else 'not met'}**{note}"
        )
    names = list(result["anchors"])
    lines += ["", "| λ | bpp | PSNR dB | " + " | ".join(f"ΔPSNR vs {n} (fit-free)" for n in names) + " |"]
    lines += ["|---|---|---|" + "---|" * len(names)]
    models = {p.get("model") for p in result["points"]}
    for i, p in enumerate(result["points"]):
        deltas = [result["anchors"][n]["delta_per_point"][i] for n in names]
        cells = " | ".join("N/A" if not np.isfinite(d) else f"{d:+.2f}" for d in deltas)
        point = f"{p['lmbda']:g}" if len(models) == 1 else f"{p['model']} λ {p['lmbda']:g}"
        lines.append(f"| {point} | {p['bpp']:.3f} | {p['psnr']:.2f} | {cells} |")
    for anchor in result["anchors"].values():
        lines += ["", f"| {anchor['label']} bpp | PSNR dB |", "|---|---|"]
        lines += [f"| {p['bpp']:.3f} | {p['psnr']:.2f} |" for p in anchor["points"]]
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (the command as anyone reruns it)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    register_resolvers()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        nargs="+",
        required=True,
        help="a shipped model, or several as name:λlo-λhi (one per-range curve)",
    )
    p.add_argument("--codecs", nargs="+", default=["jpeg2000"], help="classic anchors (default jpeg2000)")
    p.add_argument(
        "--jpeg2000-rates", nargs="*", type=float, default=[], help="nominal bpp added to its grid"
    )
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    start = time.perf_counter()
    a.codecs = [c.lower() for c in a.codecs]
    result = run(a.model, a.codecs, a.jpeg2000_rates)
    command = " ".join(
        ["python experiments/model_rd.py --model", *a.model]
        + (["--codecs", *a.codecs] if a.codecs != ["jpeg2000"] else [])
        + (["--jpeg2000-rates", *(f"{r:g}" for r in a.jpeg2000_rates)] if a.jpeg2000_rates else [])
        + ["--out", _shown(a.out)]
    )
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(a.out / "rd.json", result | {"command": command})
    atomic_write_text(a.out / "rd.md", markdown(result, command, time.perf_counter() - start))
    curves = {result["model"]: result["points"]} | {
        c["label"]: c["points"] for c in result["anchors"].values()
    }
    plot_rd(
        {
            name: {"bpp": [p["bpp"] for p in pts], "psnr": [p["psnr"] for p in pts]}
            for name, pts in curves.items()
        },
        f"{result['model']}, frozen test split ({len(result['scenes'])} scenes)",
        a.out / "rd.png",
    )
    print((a.out / "rd.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
