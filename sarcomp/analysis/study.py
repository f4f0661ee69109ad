"""The attention study's report (experiments/PROTOCOL.md) from its committed results bundle.

Every number is computed here from ``metrics.json`` (per-scene rows of each run, λ, checkpoint and
ablation, and JPEG 2000's rate sweep), so the tables and plots regenerate without run folders.
Comparisons use :mod:`sarcomp.analysis.bootstrap` (95 % intervals over test scenes × seeds).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.analysis.bootstrap import SceneRD, bootstrap, curve, delta_psnr_at_equal_rate
from sarcomp.analysis.render import md_table
from sarcomp.analysis.study_plots import plot_attention, plot_forest, plot_rd
from sarcomp.fileio import atomic_write_text, write_json

REPLICATES = 1000
WINDOW = (0.25, 2.0)  # bpp: the range the project's targets are stated over
BASELINE = "V0"
PLAN = ("V1", "V2", "V3")  # the attention variants of the V0-V3 plan (3 seeds each)


def label(entry: Mapping[str, Any]) -> str:
    """V0-V3 by plan id (the baseline has none), ``V0-wide`` for the capacity control, else the
    experiment's name (the placement sweep); ``@λ`` for a fixed-λ model."""
    name = entry["plan"] or ("V0" if entry["experiment"] == "recipe_cpu" else entry["experiment"])
    if name == "V0" and list(entry["channels"]) != [48, 64]:
        name = "V0-wide"
    return name if entry["variable_rate"] else f"{name}@{entry['lmbda']:g}"


def scene_rd(points: Sequence[Sequence[Mapping[str, Any]]]) -> SceneRD:
    """A :class:`SceneRD` from per-point row lists (scenes matched by SHA-256, sorted)."""
    keys = sorted(r["sha256"] for r in points[0])
    by = [{r["sha256"]: r for r in rows} for rows in points]
    if any(set(b) != set(keys) for b in by):
        raise ValueError("RD points of one codec were evaluated on different scenes")
    first = by[0]
    return SceneRD(
        bpp=np.array([[b[k]["bpp"] for b in by] for k in keys]),
        mse=np.array([[10 ** (-b[k]["psnr"] / 10) for b in by] for k in keys]),
        pixels=np.array([first[k]["height"] * first[k]["width"] for k in keys], float),
        valid=np.array([first[k]["height"] * first[k]["width"] * first[k]["valid_fraction"] for k in keys]),
    )


def _curves(
    bundle: Mapping[str, Any],
    keep: Callable[[Mapping[str, Any]], bool],
    name: Callable[[Mapping[str, Any]], str],
    fewest: int = 1,
) -> dict[str, list[SceneRD]]:
    """The kept entries grouped by ``name`` and seed: name -> one SceneRD per seed (points in λ
    order), for groups of at least ``fewest`` points."""
    grouped: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for e in bundle["learned"]:
        if keep(e):
            grouped[(name(e), e["seed"])].append(e)
    out: dict[str, list[SceneRD]] = defaultdict(list)
    for (key, _seed), entries in sorted(grouped.items()):
        if len(entries) >= fewest:
            entries.sort(key=lambda e: e["lmbda"])
            out[key].append(scene_rd([e["rows"] for e in entries]))
    return dict(out)


def learned_codecs(
    bundle: Mapping[str, Any], data: str, step: int, ablated: str | None = None
) -> dict[str, list[SceneRD]]:
    """Label -> one SceneRD per seed (points in λ order)."""
    return _curves(
        bundle, lambda e: e["data"] == data and e["step"] == step and e["ablated"] == ablated, label
    )


def per_lambda_curves(bundle: Mapping[str, Any], data: str, step: int) -> dict[str, list[SceneRD]]:
    """Each variant's fixed-λ models as one curve per seed, in λ order (PROTOCOL.md, amendment 1);
    only variants with at least four of them, the fewest a cubic BD fit takes."""
    return _curves(
        bundle,
        lambda e: e["data"] == data and e["step"] == step and e["ablated"] is None and not e["variable_rate"],
        lambda e: f"{label(e).split('@')[0]} per-λ",
        fewest=4,
    )


def classic_codec(bundle: Mapping[str, Any], data: str, codec: str = "jpeg2000") -> list[SceneRD]:
    entries = [e for e in bundle["classic"] if e["data"] == data and e["codec"] == codec]
    entries.sort(key=lambda e: np.mean([r["bpp"] for r in e["rows"]]))
    return [scene_rd([e["rows"] for e in entries])] if entries else []


def compare(anchor: list[SceneRD], test: list[SceneRD], replicates: int = REPLICATES) -> dict[str, Any]:
    """Every statistic of the protocol for ``test`` against ``anchor``."""
    out = {}
    for weighting in ("scene", "pixel"):
        for method in ("cubic", "pchip"):
            out[f"bd_rate_{method}_{weighting}"] = bootstrap(
                anchor, test, "bd_rate", method, weighting, replicates=replicates
            )
            out[f"bd_rate_{method}_{weighting}_window"] = bootstrap(
                anchor, test, "bd_rate", method, weighting, WINDOW, replicates=replicates
            )
        out[f"delta_psnr_{weighting}"] = bootstrap(
            anchor, test, "delta_psnr", weighting=weighting, replicates=replicates
        )
    return out


def verdict(stats: Mapping[str, Any]) -> str:
    """The protocol's rule over both fits and both weightings: ``better`` (fewer bits at equal
    quality than the anchor: every interval below 0), ``worse`` (every interval above 0), or no
    difference detected."""
    keys = [f"bd_rate_{m}_{w}" for m in ("cubic", "pchip") for w in ("scene", "pixel")]
    highs = [stats[k]["high"] for k in keys]
    lows = [stats[k]["low"] for k in keys]
    if any(not np.isfinite(v) for v in highs + lows):
        return "undecided (a fit is N/A)"
    if max(highs) < 0:
        return "better"
    if min(lows) > 0:
        return "worse"
    return "no difference detected"


def _cell(s: Mapping[str, Any], unit: str = "%") -> str:
    if not np.isfinite(s["estimate"]):
        return f"N/A ({s['na_reason']})" if s.get("na_reason") else "N/A"
    return (
        f"{s['estimate']:+.1f}{unit} [{s['low']:+.1f}, {s['high']:+.1f}]"
        if unit == "%"
        else (f"{s['estimate']:+.2f} [{s['low']:+.2f}, {s['high']:+.2f}]")
    )


def comparison_table(rows: Mapping[str, Mapping[str, Any]], seeds: Mapping[str, int]) -> str:
    header = [
        "codec",
        "seeds",
        "BD-rate cubic",
        "BD-rate pchip",
        "BD-rate cubic, pixel-weighted",
        "BD-rate cubic 0.25–2 bpp",
        "ΔPSNR at equal rate (dB)",
        "verdict",
    ]
    body = [
        [
            name,
            str(seeds[name]),
            _cell(s["bd_rate_cubic_scene"]),
            _cell(s["bd_rate_pchip_scene"]),
            _cell(s["bd_rate_cubic_pixel"]),
            _cell(s["bd_rate_cubic_scene_window"]),
            _cell(s["delta_psnr_scene"], "dB"),
            verdict(s),
        ]
        for name, s in rows.items()
    ]
    return md_table(header, body)


def rd_points(codecs: Mapping[str, list[SceneRD]]) -> dict[str, dict[str, list[float]]]:
    """Scene-weighted mean curve per codec over all seeds."""
    out = {}
    for name, seeds in codecs.items():
        n = seeds[0].bpp.shape[0]
        rate, psnr = curve(seeds, np.arange(n), np.arange(len(seeds)), "scene")
        out[name] = {"bpp": rate.tolist(), "psnr": psnr.tolist()}
    return out


def attention_summary(
    bundle: Mapping[str, Any], runs: Iterable[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """The last logged attention statistics of each run."""
    out = {}
    for run in runs:
        log = bundle["attention"].get(run) or {}
        if log:
            out[run] = log[max(log, key=int)]
    return out


def ablation_rows(
    bundle: Mapping[str, Any], data: str, step: int, replicates: int = REPLICATES
) -> dict[str, dict[str, Any]]:
    """What each attention module was worth: the model with it switched off against the same
    model with it on (same seeds), per variable-rate variant and module (``all``: every module at
    once); a fixed-λ model (one RD point) has no curve to compare."""
    intact = learned_codecs(bundle, data, step)
    switches = sorted(
        {e["ablated"] for e in bundle["learned"] if e["ablated"] and e["data"] == data and e["step"] == step}
    )
    rows = {}
    for switch in switches:
        for name, seeds in learned_codecs(bundle, data, step, switch).items():
            if "@" not in name and name in intact and len(intact[name]) == len(seeds):
                rows[f"{name} without {switch}"] = compare(intact[name], seeds, replicates)
    return rows


def fixed_lambda_gap(codecs: Mapping[str, list[SceneRD]]) -> list[list[str]]:
    """Per-λ models against their variant's variable-rate curve (seed 1 of each, no fit): ΔPSNR of
    the fixed-λ model at its own rate, read off the variable-rate model's measured points."""
    rows = []
    for name, seeds in sorted(codecs.items()):
        if "@" not in name or name.split("@")[0] not in codecs:
            continue
        vr, fixed = codecs[name.split("@")[0]][0], seeds[0]
        every = np.arange(vr.bpp.shape[0])
        a, t = curve([vr], every, np.arange(1), "scene"), curve([fixed], every, np.arange(1), "scene")
        d = delta_psnr_at_equal_rate(a, t)[0]
        rows.append(
            [
                name,
                f"{t[0][0]:.3f}",
                f"{t[1][0]:.2f}",
                "N/A (outside the curve)" if np.isnan(d) else f"{d:+.2f}",
            ]
        )
    return rows


def attention_table(bundle: Mapping[str, Any]) -> str:
    """The last logged statistics of every attention run's modules."""
    body = []
    for run, modules in sorted(attention_summary(bundle, bundle["attention"]).items()):
        for module, values in modules.items():
            body.append([run, module, ", ".join(f"{k} {v:.4f}" for k, v in sorted(values.items()))])
    return md_table(["run", "module", "at the last validation"], body) if body else "(no attention runs)"


def update_section(readme: Path, text: str, name: str = "attention-study") -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``readme``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    current = readme.read_text()
    if begin not in current or end not in current:
        raise ValueError(f"{readme}: no {begin} ... {end} section to regenerate")
    head, rest = current.split(begin, 1)
    atomic_write_text(readme, f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}")


def write_report(
    bundle_path: Path, out: Path, steps: Sequence[int], replicates: int = REPLICATES
) -> list[Path]:
    """report.md, results.json and the plots from the bundle; returns the written paths."""
    bundle = json.loads(Path(bundle_path).read_text())
    results: dict[str, Any] = {}
    sections = [
        f"# The attention study: results (`{out.name}`)\n",
        "Generated by `python experiments/attention_study.py report` "
        "from `metrics.json` (protocol: `experiments/PROTOCOL.md`). Intervals: 95 % percentile "
        f"bootstrap over test scenes × seeds ({replicates} replicates); BD-rate against V0 unless said.\n",
    ]
    written = []
    for data in ("real", "synthetic"):
        anchor = classic_codec(bundle, data)
        for step in steps:
            codecs = learned_codecs(bundle, data, step)
            if BASELINE not in codecs:
                continue
            base = codecs[BASELINE]
            vr = {n: s for n, s in codecs.items() if "@" not in n}
            rows = {n: compare(base, s, replicates) for n, s in vr.items() if n != BASELINE}
            if anchor:
                rows["JPEG 2000"] = compare(base, anchor, replicates)
            key = f"{data}_step{step}"
            results[key] = {"against_v0": rows}
            seeds = {n: len(s) for n, s in vr.items()} | {"JPEG 2000": 1}
            sections.append(f"## {data} test split, {step} steps\n\n{comparison_table(rows, seeds)}\n")
            if anchor:
                vs_j2k = {n: compare(anchor, s, replicates) for n, s in vr.items()}
                results[key]["against_jpeg2000"] = vs_j2k
                sections.append(f"Against JPEG 2000 (anchor):\n\n{comparison_table(vs_j2k, seeds)}\n")
            points = rd_points(vr | ({"JPEG 2000": anchor} if anchor else {}))
            results[key]["rd"] = points
            lines = {n: p for n, p in points.items() if n in (BASELINE, "V0-wide", *PLAN, "JPEG 2000")}
            written.append(plot_rd(lines, f"{data} test split, {step} steps", out / f"rd_{key}.png"))
            sections.append(f"![RD]({written[-1].name})\n")
        budgets = {
            step: results[f"{data}_step{step}"]["against_v0"]
            for step in steps
            if f"{data}_step{step}" in results
        }
        if budgets:
            written.append(
                plot_forest(budgets, f"{data} test split: every codec against V0", out / f"bd_{data}.png")
            )
            sections.append(
                f"BD-rate against V0 with 95 % intervals, every codec and budget:\n\n![BD-rate]({written[-1].name})\n"
            )
        last = steps[-1]
        ablation = ablation_rows(bundle, data, last, replicates)
        if ablation:
            results[f"{data}_step{last}"]["ablation"] = ablation
            seeds = {n: len(learned_codecs(bundle, data, last)[n.split(" without ")[0]]) for n in ablation}
            sections.append(
                f"### Ablation ({data}, {last} steps): switched off against switched on\n\n"
                'Positive BD-rate (verdict "worse"): switched off, the model needs that many more bits, so the module saved them. Gates held at their validation '
                f"mean, γ = 0 (sarcomp/models/attention_probe.py).\n\n{comparison_table(ablation, seeds)}\n"
            )
        gap = fixed_lambda_gap(learned_codecs(bundle, data, last))
        if gap:
            sections.append(
                f"### Fixed-λ against variable-rate models ({data}, {last} steps, seed 1)\n\n"
                + md_table(["model", "bpp", "PSNR", "ΔPSNR vs its variable-rate curve (dB)"], gap)
                + "\n"
            )
        fixed = per_lambda_curves(bundle, data, last)
        anchor_name = f"{BASELINE} per-λ"
        if anchor_name in fixed and len(fixed) > 1:
            rows = {
                n: compare(fixed[anchor_name], s, replicates) for n, s in fixed.items() if n != anchor_name
            }
            results[f"{data}_step{last}"]["per_lambda_against_v0"] = rows
            sections.append(
                f"### Per-λ models against V0's per-λ models ({data}, {last} steps; PROTOCOL.md, amendment 1)\n\n"
                + comparison_table(rows, {n: len(fixed[n]) for n in rows})
                + "\n"
            )
    cost = out / "cost.json"
    if cost.exists():  # experiments/attention_cost.py
        c = json.loads(cost.read_text())
        body = [
            [n, f"{r['params']:,}", f"{r['macs_per_pixel']:,.0f}", f"{r['ratio_to_v0']:.3f}×"]
            for n, r in c["rows"].items()
        ]
        sections.append(
            f"## Cost per variant\n\n`experiments/attention_cost.py` ({c['threads']} thread(s), batch {c['batch']}, "
            f"{c['repeats']} round-robin repeats):\n\n"
            + md_table(["variant", "parameters", "MACs per pixel", "train step vs V0"], body)
            + "\n"
        )
    sections.append(f"## Attention at the end of training\n\n{attention_table(bundle)}\n")
    figure = plot_attention(bundle, out / "attention.png")
    if figure is not None:
        written.append(figure)
        sections.append(f"![attention during training]({figure.name})\n")
    write_json(out / "results.json", results)
    atomic_write_text(out / "report.md", "\n".join(sections))
    atomic_write_text(out / "summary.md", summary(results, steps, f"results/{out.name}/report.md"))
    return [*written, out / "results.json", out / "report.md", out / "summary.md"]


def _span(rd: Mapping[str, Mapping[str, list[float]]], name: str) -> str:
    """The rates a codec's mean curve covers, ``lo–hi`` bpp."""
    bpp = rd.get(name, {}).get("bpp")
    return f"{min(bpp):.2f}–{max(bpp):.2f}" if bpp else "—"


def summary(
    results: Mapping[str, Any], steps: Sequence[int], link: str = "results/attention_study/report.md"
) -> str:
    """The verdict per variant on the real test split at each budget (for experiments/README.md),
    with the rates each curve covers; ``link`` is the full report, relative to experiments/."""
    body = []
    for step in steps:
        rows = results.get(f"real_step{step}", {}).get("against_v0", {})
        rd = results.get(f"real_step{step}", {}).get("rd", {})
        for name, s in rows.items():
            body.append(
                [
                    name,
                    f"{step:,}",
                    _span(rd, name),
                    str(s["bd_rate_cubic_scene"]["seeds"][1]),
                    _cell(s["bd_rate_cubic_scene"]),
                    _cell(s["bd_rate_pchip_scene"]),
                    _cell(s["delta_psnr_scene"], "dB"),
                    verdict(s),
                ]
            )
    if not body:
        return "(no results yet)"
    header = [
        "against V0",
        "steps",
        "its rates (bpp; V0's in the text)",
        "seeds",
        "BD-rate cubic",
        "BD-rate pchip",
        "ΔPSNR at equal rate (dB)",
        "verdict",
    ]
    plan = [
        min(s["bd_rate_cubic_scene"]["seeds"])
        for step in steps
        for name, s in results.get(f"real_step{step}", {}).get("against_v0", {}).items()
        if name in PLAN
    ]
    low, high = min(plan, default=0), max(plan, default=0)
    seeds = f"{low}" if low == high else f"{low}–{high}"
    interim = (
        f"**Interim: {seeds} seed(s) per plan variant (V1–V3); with one, the intervals cover test "
        "scenes only, not the seed-to-seed spread; not the study's verdict (PROTOCOL.md asks for "
        "3 seeds).** "
        if low < 3
        else ""
    )
    return (
        interim
        + "Real test split (frozen bottom bands of 7 files); 95 % bootstrap intervals over scenes × seeds "
        "(one seed: over scenes only, as for the controls and the placement sweep). Each BD-rate is over "
        "the rates both curves share, so BD-rates against different anchors do not chain. "
        + "".join(
            f"V0's curve covers {_span(results[f'real_step{step}']['rd'], BASELINE)} bpp at {step:,} steps. "
            for step in steps
            if BASELINE in results.get(f"real_step{step}", {}).get("rd", {})
        )
        + f"Full tables, ablation, fixed-λ gap and plots: [`{link}`]({link}).\n\n"
        + md_table(header, body)
    )
