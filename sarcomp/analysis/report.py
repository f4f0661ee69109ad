"""The experiment-plan report: variants (name, attention, placement) → λ points → seed runs.

Each run contributes its mean over the scenes; a point reports mean ± sample standard deviation
(ddof = 1) over its seeds. The table is at one λ (``lmbda``, default the λ that the most variants
share, then the one with the most seeds). Δ columns are variant − baseline (Δtime: relative change
of encode + decode ms, in %), judged against the seed spread (:mod:`sarcomp.analysis.stats`).
BD-rate/BD-PSNR against the baseline and against JPEG 2000: coded at exactly the variant's own
per-scene rates (rate-matched, one point per λ) when available for every λ, else its rate sweep.
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sarcomp.analysis.collect import RunResult, common_images, restrict
from sarcomp.analysis.stats import SPREAD_RULE, bd, delta, monotone, stat
from sarcomp.errors import SarcompError
from sarcomp.metrics.operator import OPERATOR_KEYS


@dataclass
class Point:
    """One (variant, λ): the runs of its seeds."""

    lmbda: float
    runs: list[RunResult]

    def metric(self, key: str) -> dict[str, Any]:
        return stat(r.payload["mean"].get(key, math.nan) for r in self.runs)

    def time(self) -> dict[str, Any]:
        return stat(
            r.payload["mean"].get("encode_ms", math.nan) + r.payload["mean"].get("decode_ms", math.nan)
            for r in self.runs
        )

    def matched(self, codec: str, key: str) -> dict[str, Any]:
        return stat(p["mean"].get(key, math.nan) for r in self.runs for p in r.matched if p["codec"] == codec)

    def has_matched(self, codec: str) -> bool:
        return all(any(p["codec"] == codec for p in r.matched) for r in self.runs)

    @property
    def seeds(self) -> list[int]:
        return sorted(int(r.payload.get("seed", -1)) for r in self.runs)


@dataclass
class Variant:
    name: str
    attention: str
    placement: str
    params: int | None
    points: dict[float, Point]
    plan: str | None = None  # V0-V3, from the experiment file's plan_id

    @property
    def label(self) -> str:
        return f"{self.plan} {self.name}" if self.plan else self.name

    def curve(self, key: str = "psnr") -> tuple[list[float], list[float]]:
        pts = sorted(self.points.values(), key=lambda p: p.metric("bpp")["mean"])
        return [p.metric("bpp")["mean"] for p in pts], [p.metric(key)["mean"] for p in pts]


def training_budget(payload: Mapping[str, Any]) -> int:
    """The steps a run was trained for (``trainer.max_steps``), not the step of the checkpoint
    evaluated: a run whose best validation came early is still a run of that budget. Results
    that predate the ``max_steps`` field fall back to the checkpoint's step."""
    return int(payload.get("max_steps", payload.get("step", -1)))


# What tells runs of one experiment apart besides λ and seed: each becomes its own variant.
DISTINGUISHING = (
    ("attention", lambda p: str(p.get("attention")), "{}"),
    ("placement", lambda p: str(p.get("placement")), "{}"),
    ("entropy", lambda p: str(p.get("entropy", "factorized")), "{} prior"),
    ("steps", training_budget, "{} steps"),
    ("widths", lambda p: str(p.get("widths", "?")), "widths {}"),
    ("data", lambda p: str(p.get("data_root")), "data {}"),
)


def group(runs: Sequence[RunResult]) -> tuple[list[Variant], list[str]]:
    """Variants → λ points → seed runs.

    Runs of one experiment name that differ in attention, placement, entropy model, training steps,
    widths or training data are separate variants, labelled by what differs; two runs that agree on all of
    that and on λ and seed are refused (the comparison would have to drop one)."""
    table: dict[tuple, dict[float, list[RunResult]]] = defaultdict(lambda: defaultdict(list))
    first: dict[tuple, dict[str, Any]] = {}
    for r in runs:
        p = r.payload
        key = (p["name"], *(fn(p) for _, fn, _ in DISTINGUISHING))
        lmbda = round(float(p.get("lmbda", math.nan)), 10)
        twin = next((q for q in table[key][lmbda] if q.payload.get("seed") == p.get("seed")), None)
        if twin is not None:
            raise SarcompError(
                f"{r.run_dir} and {twin.run_dir}: the same experiment ({p['name']}, λ={lmbda:g}, "
                f"seed={p.get('seed')}, {p.get('step')} steps); compare them in separate reports"
            )
        table[key][lmbda].append(r)
        first.setdefault(key, p)
    variants = []
    for key, pts in table.items():
        same_name = [k for k in table if k[0] == key[0]]
        differs = [i for i in range(len(DISTINGUISHING)) if len({k[1 + i] for k in same_name}) > 1]
        suffix = ", ".join(DISTINGUISHING[i][2].format(key[1 + i]) for i in differs)
        name = f"{key[0]} [{suffix}]" if suffix else key[0]
        p = first[key]
        variants.append(
            Variant(
                name,
                key[1],
                key[2],
                p.get("params"),
                {lm: Point(lm, rs) for lm, rs in sorted(pts.items())},
                p.get("plan"),
            )
        )
    variants.sort(key=lambda v: (v.attention != "none", v.plan or "V9", v.name))
    return variants, comparability_warnings(runs)


def comparability_warnings(runs: Sequence[RunResult]) -> list[str]:
    """What makes the compared runs unlike: steps, widths, data, and where and when timings were taken."""
    warnings = []
    for what, fn, _ in DISTINGUISHING[2:]:
        values = sorted({str(fn(r.payload)) for r in runs})
        if len(values) > 1:
            warnings.append(f"the runs differ in {what}: {', '.join(values)}")
    machines = sorted({_machine(r.payload.get("hardware") or {}) for r in runs})
    if len(machines) > 1:
        warnings.append(f"timings were taken on different machines: {'; '.join(machines)}")
    stamps = sorted(str(r.payload["evaluated_at"]) for r in runs if r.payload.get("evaluated_at"))
    if len(stamps) < len(runs):
        warnings.append("some results do not say when they were evaluated: compare their timings with care")
    elif stamps and _hours_between(stamps[0], stamps[-1]) > TIMING_WINDOW_H:
        warnings.append(
            f"timings were taken at different times ({stamps[0]} to {stamps[-1]}): machine load may differ"
        )
    return warnings


TIMING_WINDOW_H = 1.0  # results evaluated further apart than this are flagged


def _machine(hardware: dict[str, Any]) -> str:
    return " ".join(
        str(hardware.get(k, "?")) for k in ("cpu", "cpu_count", "threads", "gpu") if k in hardware
    )


def _hours_between(a: str, b: str) -> float:
    from datetime import datetime

    return abs((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()) / 3600


def choose_lmbda(variants: Sequence[Variant], lmbda: float | None = None) -> float:
    if lmbda is not None:
        return round(float(lmbda), 10)
    score: dict[float, tuple[int, int]] = {}
    for v in variants:
        for lm, p in v.points.items():
            count, seeds = score.get(lm, (0, 0))
            score[lm] = (count + 1, seeds + len(p.runs))
    return max(score, key=lambda lm: score[lm])


def find_baseline(variants: Sequence[Variant], name: str | None = "baseline") -> Variant | None:
    for v in variants:
        if v.name == name:
            return v
    return next((v for v in variants if v.attention == "none"), None)


METRICS = (
    "bpp",
    "psnr",
    "rmse_db",
    "ssim",
    "ms_ssim",
    "enl_ratio",
    "ratio_mean",
    "ratio_var",
    "mean_preservation",
    "epi",
    "encode_ms",
    "decode_ms",
    *OPERATOR_KEYS,
)


def build_report(
    runs: Sequence[RunResult],
    sweep: Sequence[dict[str, Any]],
    tag: str = "",
    lmbda: float | None = None,
    baseline: str | None = "baseline",
    bd_method: str = "cubic",
    notes: Sequence[str] = (),
    exclude: Sequence[str] = (),
    exclude_reason: str = "",
) -> dict[str, Any]:
    """Everything compare writes, as one JSON-able dict (see the module docstring).

    ``exclude``: file-name patterns (fnmatch) of scenes to leave out on purpose, e.g. a raster the
    data config misreads; each is named in the notes.
    """
    keys, leaked, image_notes = common_images(runs, sweep)
    dropped = sorted(k for k in keys if any(fnmatch.fnmatch(Path(k).name, pat) for pat in exclude))
    for k in dropped:
        why = f": {exclude_reason}" if exclude_reason else ""
        image_notes.append(f"{k}: excluded on request (--exclude {' '.join(exclude)}){why}")
    keys -= set(dropped)
    if not keys:
        raise SarcompError("--exclude leaves no test scene")
    runs = [
        RunResult(r.run_dir, restrict(r.payload, keys), [restrict(m, keys) for m in r.matched], r.used)
        for r in runs
    ]
    sweep = [restrict(p, keys) for p in sweep]
    variants, warnings = group(runs)
    lm = choose_lmbda(variants, lmbda)
    base = find_baseline(variants, baseline)
    j2k = sorted((p for p in sweep if p["codec"] == "jpeg2000"), key=lambda p: p["mean"]["bpp"])
    j2k_sweep = ([p["mean"]["bpp"] for p in j2k], [p["mean"]["psnr"] for p in j2k])
    first = runs[0].payload
    report: dict[str, Any] = {
        "tag": tag,
        "data_root": first.get("data_root"),
        "tile_size": first.get("tile_size"),
        "images": sorted(keys),
        "excluded_images": leaked,
        "excluded_on_request": dropped,
        "table_lmbda": lm,
        "baseline": base.name if base else None,
        "significance_rule": SPREAD_RULE,
        "bd_method": bd_method,
        "hardware": first.get("hardware"),
        "steps": sorted({training_budget(r.payload) for r in runs}),
        "ms_ssim_scenes": max(int(r.payload["mean"].get("ms_ssim_n", 0)) for r in runs),
        "notes": [*notes, *image_notes],
        "warnings": warnings,
        "variants": [],
        "classic_sweep": [],
        "codec_names": {m["codec"]: m["name"] for r in runs for m in r.matched}
        | {p["codec"]: p["name"] for p in sweep},
    }
    base_point = base.points.get(lm) if base else None
    for v in variants:
        entry: dict[str, Any] = {
            "variant": v.name,
            "label": v.label,
            "attention": v.attention,
            "placement": v.placement,
            "params": v.params,
            "points": [],
        }
        for p in v.points.values():
            point = {
                "lmbda": p.lmbda,
                "seeds": p.seeds,
                "runs": [str(r.run_dir) for r in p.runs],
                "metrics": {k: p.metric(k) for k in METRICS},
                "time_ms": p.time(),
                "matched": {
                    c: {k: p.matched(c, k) for k in METRICS}
                    for c in dict.fromkeys(m["codec"] for m in p.runs[0].matched)
                    if p.has_matched(c)
                },
            }
            entry["points"].append(point)
        point = v.points.get(lm)
        entry["table"] = None if point is None else next(e for e in entry["points"] if e["lmbda"] == lm)
        if point is not None and base_point is not None and v is not base:
            entry["deltas"] = {
                k: delta(point.metric(k), base_point.metric(k)) for k in ("bpp", "psnr", "ssim", "ms_ssim")
            }
            entry["deltas"]["time"] = delta(point.time(), base_point.time(), relative=True)
        entry["monotone"] = monotone(
            [(p.metric("bpp")["mean"], p.metric("psnr")["mean"]) for p in v.points.values()]
        )
        entry["dpsnr_vs_jpeg2000"] = stat(
            p.metric("psnr")["mean"] - p.matched("jpeg2000", "psnr")["mean"]
            for p in v.points.values()
            if p.runs[0].matched and p.has_matched("jpeg2000")
        )
        entry["bd"] = {
            "vs_baseline": (bd(base.curve(), v.curve(), bd_method) if base and v is not base else None)
        }
        if all(p.has_matched("jpeg2000") and p.runs[0].matched for p in v.points.values()):
            anchor = (
                [p.matched("jpeg2000", "bpp")["mean"] for p in v.points.values()],
                [p.matched("jpeg2000", "psnr")["mean"] for p in v.points.values()],
            )
            entry["bd"]["vs_jpeg2000"] = {**bd(anchor, v.curve(), bd_method), "anchor": "rate-matched"}
        elif j2k:
            entry["bd"]["vs_jpeg2000"] = {**bd(j2k_sweep, v.curve(), bd_method), "anchor": "rate sweep"}
        else:
            entry["bd"]["vs_jpeg2000"] = {"na": "no JPEG 2000 results"}
        report["variants"].append(entry)
    for p in sweep:
        report["classic_sweep"].append(
            {k: p.get(k) for k in ("name", "codec", "bits", "param_name", "param")} | {"mean": p["mean"]}
        )
    return report
