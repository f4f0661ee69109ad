"""Compare evaluated runs: the experiment-plan table, seed statistics, BD-rates, RD plots.

Input: run folders and sweep folders (every run folder below them), each evaluated by
``scripts/evaluate.py`` (``<run>/eval/metrics[_<tag>].json``, ``matched[_<tag>].json``) and the
classic rate sweep (``<folder>/eval/classic[_<tag>].json``). Missing results on the runs' own test
split are computed on the fly (``evaluate=True``).

**Test scenes.** Only scenes that *no* compared run trained or validated on are used (the union
of every run's ``scenes.json``), and only those evaluated for every run and classic result, so all
numbers are on one common set of scenes; means are recomputed over it.

**Grouping.** A *variant* is (experiment_name, attention, placement); its RD *points* are its λ
values; the runs of one point are seeds. Each run contributes its mean over the scenes; a point
reports mean ± sample standard deviation (ddof = 1) over its seeds.

**Table.** The experiment-plan table is at one λ (``lmbda``, default the λ that the most variants
share, then the one with the most seeds). Δ columns are variant − baseline (Δtime: relative change of
encode + decode ms, in %). A Δ is marked † when it *exceeds the seed spread*:
|Δ| > s_variant + s_baseline (sample standard deviations over seeds; both need ≥ 2 seeds). Welch's
t-test p-value is reported beside it in the JSON. With fewer than 2 seeds on either side nothing is
marked and the table says so.

**Bjøntegaard** (:mod:`sarcomp.evaluation.rd`): BD-rate (%) and BD-PSNR (dB) of each variant's
RD curve (PSNR over bpp, seed means per λ) against the baseline's and against JPEG 2000's. The
JPEG 2000 anchor is JPEG 2000 coded at exactly the variant's own per-scene rates (rate-matched,
one point per λ) when available for every λ, else its rate sweep. The default cubic fit needs ≥ 4
points on each curve, otherwise N/A with the reason; ``bd_method="pchip"`` works from 2 points
and is labelled as such.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import (
    CLASSIC_CODECS,
    LEARNED_KEYS,
    data_tag,
    evaluate_classic,
    evaluate_run,
    exclude_training_scenes,
    load_results,
    mean_row,
)
from sarcomp.evaluation.rd import bd_psnr, bd_rate
from sarcomp.metrics.image import MS_SSIM_MIN_SIDE

log = logging.getLogger(__name__)

PLAN_IDS = {"baseline": "V0", "cbam_bottleneck": "V1", "cbam_everywhere": "V2", "selfattn_bottleneck": "V3"}
PLOT_METRICS = (
    ("psnr", "PSNR [dB] on [0, 1]"),
    ("ssim", "SSIM"),
    ("ms_ssim", "MS-SSIM"),
    ("rmse_db", "RMSE [dB]"),
    ("enl_ratio", "ENL ratio (ideal 1)"),
    ("epi", "EPI (ideal 1)"),
)
CLASSIC_DEFAULTS: dict[str, Any] = {
    "codecs": list(CLASSIC_CODECS),
    "bits": 16,
    "sweep": True,
    "match_rates": True,
    "match_codecs": None,
    "tol": 0.02,
}
SPREAD_RULE = "|Δ| > s_variant + s_baseline (sample std over seeds, ddof=1; both need >= 2 seeds)"


# --------------------------------------------------------------------------------------------
# Collecting results


@dataclass
class RunResult:
    run_dir: Path
    payload: dict[str, Any]
    matched: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # scene paths the run trained or validated on


def _run_dirs(folders: Iterable[str | Path]) -> list[Path]:
    from sarcomp.evaluation.evaluate import find_runs

    seen: dict[Path, None] = {}
    for folder in folders:
        folder = Path(folder)
        if (
            folder.is_dir()
            and not any((folder / "checkpoints").glob("*.pt"))
            and list(folder.glob("eval/metrics*.json"))
        ):
            seen[folder] = None  # an evaluated run whose checkpoints were removed
            continue
        for run in find_runs(folder):
            seen[run] = None
    return list(seen)


def collect(
    folders: Sequence[str | Path],
    tag: str = "",
    evaluate: bool = True,
    classic: Mapping[str, Any] | None = None,
    device: str = "auto",
) -> tuple[list[RunResult], list[dict[str, Any]], list[str]]:
    """Load (or compute) every run's results and the classic rate sweep; returns notes too."""
    from sarcomp.data.identity import check_same_scenes
    from sarcomp.runs import read_scenes

    classic = dict(CLASSIC_DEFAULTS if classic is None else classic)
    notes: list[str] = []
    runs: list[RunResult] = []
    for run in _run_dirs(folders):
        path = run / "eval" / f"metrics{tag}.json"
        if not path.is_file():
            if tag or not evaluate:
                raise SarcompError(
                    f"{path} not found: run `python scripts/evaluate.py run_dir={run}`"
                    + (" data=geotiff data.root=<the data folder>" if tag else "")
                )
            evaluate_run(run, classic=classic, device=device)
        payload = load_results(path)[0]
        matched_path = run / "eval" / f"matched{tag}.json"
        matched = load_results(matched_path) if matched_path.is_file() else []
        used = {e["path"] for split in ("train", "val") for e in read_scenes(run).get(split, [])}
        runs.append(RunResult(run, payload, matched, used))
    if not runs:
        raise SarcompError("no runs to compare")
    sweep: list[dict[str, Any]] = []
    candidates = [Path(f) / "eval" / f"classic{tag}.json" for f in folders]
    candidates += [r.run_dir / "eval" / f"classic{tag}.json" for r in runs]
    found = [p for p in dict.fromkeys(candidates) if p.is_file()]
    if found:
        sweep = load_results(found[0])
        if len(found) > 1:
            notes.append(f"classic rate sweep from {found[0]} (ignoring {len(found) - 1} other file(s))")
    elif not tag and evaluate and classic.get("sweep") and classic.get("codecs"):
        sweep = _classic_sweep_for(runs, Path(folders[0]), classic)
    else:
        notes.append("no classic rate sweep found: run scripts/evaluate.py on the folder")
    check_same_scenes(
        [(str(r.run_dir), r.payload["images"]) for r in runs] + [(p["name"], p["images"]) for p in sweep]
    )
    return runs, sweep, notes


def _classic_sweep_for(runs: Sequence[RunResult], folder: Path, classic: Mapping[str, Any]) -> list[dict]:
    from sarcomp.data.loaders import load_split
    from sarcomp.runs import load_run

    cfg, _, _ = load_run(runs[0].run_dir)
    used = {"train": [{"path": p} for r in runs for p in r.used]}
    scenes = exclude_training_scenes(load_split(cfg.data, "test"), used)
    out = (folder if folder.is_dir() else runs[0].run_dir) / "eval" / "classic.json"
    return evaluate_classic(
        scenes, int(cfg.data.tile_size), classic["codecs"], int(classic["bits"]), out, str(cfg.data.root)
    )


def _row_key(row: Mapping[str, Any]) -> str:
    return str(row.get("path") or row["image"])


def restrict(payload: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The payload with only the rows of ``keys`` and its mean recomputed over them."""
    rows = [r for r in payload["images"] if _row_key(r) in keys]
    return {**payload, "images": rows, "mean": mean_row(rows, LEARNED_KEYS)}


def common_images(
    runs: Sequence[RunResult], sweep: Sequence[dict[str, Any]]
) -> tuple[set[str], list[str], list[str]]:
    """(scene keys every result has and no run trained on, excluded keys, notes)."""
    notes: list[str] = []
    used = set().union(*(r.used for r in runs))
    learned = [{_row_key(row) for row in r.payload["images"]} for r in runs]
    everything = set().union(*learned)
    leaked = sorted(k for k in everything if k in used)
    for k in leaked:
        notes.append(f"{k}: some compared run trained or validated on this scene; excluded")
    keys = set.intersection(*learned) - used
    uneven = sorted(everything - used - keys)
    if uneven:
        notes.append(f"{len(uneven)} scene(s) not evaluated for every run; excluded: {', '.join(uneven)}")
    for p in sweep:
        have = {_row_key(row) for row in p["images"]}
        if not keys <= have:
            missing = sorted(keys - have)
            notes.append(f"classic {p['name']} lacks {len(missing)} scene(s); excluded: {', '.join(missing)}")
            keys &= have
    if not keys:
        raise SarcompError("no test scene is common to every result and unused by every run")
    return keys, leaked, notes


# --------------------------------------------------------------------------------------------
# Statistics


def stat(values: Iterable[float]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; NaN with fewer than 2 values) over the finite values."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    mean = float(np.mean(vals)) if vals else math.nan
    std = float(np.std(vals, ddof=1)) if len(vals) >= 2 else math.nan
    return {"mean": mean, "std": std, "n": len(vals), "values": vals}


def delta(variant: Mapping[str, Any], base: Mapping[str, Any], relative: bool = False) -> dict[str, Any]:
    """variant − baseline (or the relative change in %), with the seed-spread rule and Welch's p."""
    from scipy import stats as sps

    d = variant["mean"] - base["mean"]
    spread = variant["std"] + base["std"]
    if relative:
        scale = 100.0 / base["mean"] if base["mean"] else math.nan
        d, spread = d * scale, spread * scale
    enough = variant["n"] >= 2 and base["n"] >= 2 and not math.isnan(spread)
    p = math.nan
    if enough:
        with warnings.catch_warnings():  # identical seeds: scipy warns and returns NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(sps.ttest_ind(variant["values"], base["values"], equal_var=False).pvalue)
    return {
        "delta": float(d),
        "spread": float(spread) if enough else math.nan,
        "exceeds_spread": bool(enough and abs(d) > spread),
        "welch_p": p,
        "relative": relative,
    }


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

    @property
    def label(self) -> str:
        plan = PLAN_IDS.get(self.name)
        return f"{plan} {self.name}" if plan else self.name

    def curve(self, key: str = "psnr") -> tuple[list[float], list[float]]:
        pts = sorted(self.points.values(), key=lambda p: p.metric("bpp")["mean"])
        return [p.metric("bpp")["mean"] for p in pts], [p.metric(key)["mean"] for p in pts]


def group(runs: Sequence[RunResult]) -> tuple[list[Variant], list[str]]:
    """Variants (name, attention, placement) → λ points → seed runs; duplicate seeds dropped."""
    notes: list[str] = []
    table: dict[tuple, dict[float, list[RunResult]]] = defaultdict(lambda: defaultdict(list))
    params: dict[tuple, Any] = {}
    for r in runs:
        p = r.payload
        key = (p["name"], str(p.get("attention")), str(p.get("placement")))
        lmbda = round(float(p.get("lmbda", math.nan)), 10)
        if any(q.payload.get("seed") == p.get("seed") for q in table[key][lmbda]):
            notes.append(f"{r.run_dir}: duplicate of {key[0]} λ={lmbda:g} seed={p.get('seed')}; ignored")
            continue
        table[key][lmbda].append(r)
        params[key] = p.get("params")
    names = [k[0] for k in table]
    variants = []
    for key, pts in table.items():
        name = key[0] if names.count(key[0]) == 1 else f"{key[0]}/{key[1]}-{key[2]}"
        variants.append(
            Variant(name, key[1], key[2], params[key], {lm: Point(lm, rs) for lm, rs in sorted(pts.items())})
        )
    variants.sort(key=lambda v: (v.attention != "none", PLAN_IDS.get(v.name, "V9"), v.name))
    return variants, notes


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


def monotone(points: Sequence[tuple[float, float]]) -> bool:
    """Whether (bpp, PSNR) points, in λ order, have rate and quality both non-decreasing."""
    return all(b2 >= b1 and d2 >= d1 for (b1, d1), (b2, d2) in zip(points, points[1:]))


def bd(
    anchor: tuple[Sequence[float], Sequence[float]],
    test: tuple[Sequence[float], Sequence[float]],
    method: str = "cubic",
) -> dict[str, Any]:
    """BD-rate and BD-PSNR of ``test`` against ``anchor`` (rates, PSNRs), each or both N/A with a reason.

    BD-rate integrates over the PSNR range both curves cover and BD-PSNR over the common log-rate
    range, so one can exist without the other (e.g. a codec several dB worse everywhere, coded
    at the same rates, has a BD-PSNR but no BD-rate).
    """
    need = 4 if method == "cubic" else 2
    pts = lambda c: [(r, d) for r, d in zip(*c) if np.isfinite(r) and np.isfinite(d) and r > 0]  # noqa: E731
    a, t = pts(anchor), pts(test)
    if len(a) < need or len(t) < need:
        return {"na": f"{min(len(a), len(t))} RD point(s); the {method} fit needs {need}", "method": method}
    out: dict[str, Any] = {"method": method, "points": [len(a), len(t)]}
    args = ([r for r, _ in a], [d for _, d in a], [r for r, _ in t], [d for _, d in t])
    ranges = {
        "bd_rate": ("PSNR", [d for _, d in a], [d for _, d in t], "{:.2f}–{:.2f} dB", bd_rate),
        "bd_psnr": ("rate", [r for r, _ in a], [r for r, _ in t], "{:.3f}–{:.3f} bpp", bd_psnr),
    }
    for key, (what, ra, rt, fmt, fn) in ranges.items():
        if max(min(ra), min(rt)) >= min(max(ra), max(rt)):
            out[f"{key}_na"] = (
                f"{what} ranges do not overlap: anchor {fmt.format(min(ra), max(ra))}, "
                f"test {fmt.format(min(rt), max(rt))}"
            )
            continue
        try:
            out[key] = fn(*args, method=method)
        except ValueError as exc:
            out[f"{key}_na"] = str(exc)
    return out


# --------------------------------------------------------------------------------------------
# The report


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
    variants, group_notes = group(runs)
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
        "steps": sorted({int(r.payload.get("step", -1)) for r in runs}),
        "ms_ssim_scenes": max(int(r.payload["mean"].get("ms_ssim_n", 0)) for r in runs),
        "notes": [*notes, *image_notes, *group_notes],
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
                    for c in CLASSIC_CODECS
                    if p.has_matched(c) and p.runs[0].matched
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


# --------------------------------------------------------------------------------------------
# Rendering


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf" if isinstance(value, float) and math.isinf(value) else "N/A"
    return format(value, fmt)


def _pm(s: Mapping[str, Any] | None, fmt: str) -> str:
    if not s or s["n"] == 0:
        return "N/A"
    if s["n"] >= 2 and math.isfinite(s["std"]):
        return f"{_num(s['mean'], fmt)} ± {_num(s['std'], fmt)}"
    return _num(s["mean"], fmt)


def _delta_cell(d: Mapping[str, Any] | None, fmt: str, unit: str = "") -> str:
    if not d:
        return "—"
    if not math.isfinite(d["delta"]):
        return "N/A"
    mark = " †" if d["exceeds_spread"] else ""
    return f"{format(d['delta'], '+' + fmt)}{unit}{mark}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def plan_table(report: Mapping[str, Any]) -> str:
    """The experiment-plan table at the table λ."""
    header = [
        "Variant",
        "Attention",
        "Placement",
        "Seeds",
        "Params",
        "bpp",
        "PSNR",
        "SSIM",
        "MS-SSIM",
        "ΔSSIM vs baseline",
        "encode ms",
        "decode ms",
        "Δtime vs baseline",
    ]
    rows = []
    for v in report["variants"]:
        t = v["table"]
        if t is None:
            continue
        m, d = t["metrics"], v.get("deltas", {})
        base = v["variant"] == report["baseline"]
        rows.append(
            [
                v["label"],
                v["attention"],
                v["placement"],
                str(len(t["seeds"])),
                _num(v["params"], ",d") if v["params"] is not None else "N/A",
                _pm(m["bpp"], ".4f"),
                _pm(m["psnr"], ".2f"),
                _pm(m["ssim"], ".4f"),
                _pm(m["ms_ssim"], ".4f"),
                "(baseline)" if base else _delta_cell(d.get("ssim"), ".4f"),
                _pm(m["encode_ms"], ".1f"),
                _pm(m["decode_ms"], ".1f"),
                "(baseline)" if base else _delta_cell(d.get("time"), ".1f", " %"),
            ]
        )
    return md_table(header, rows)


def verdict(report: Mapping[str, Any]) -> str:
    """One honest sentence on whether attention beat the seed spread at the table λ."""
    vs = [v for v in report["variants"] if v.get("deltas")]
    if not vs:
        return "No variant could be compared with a baseline at this λ."
    if any(not math.isfinite(v["deltas"]["ssim"]["spread"]) for v in vs):
        return (
            "Fewer than 2 seeds for some variant: no delta can be judged against the seed spread; "
            "treat every difference as noise."
        )
    lines = []
    for key, name in (("psnr", "PSNR"), ("ssim", "SSIM"), ("ms_ssim", "MS-SSIM")):
        better = [
            v["label"] for v in vs if v["deltas"][key]["exceeds_spread"] and v["deltas"][key]["delta"] > 0
        ]
        worse = [
            v["label"] for v in vs if v["deltas"][key]["exceeds_spread"] and v["deltas"][key]["delta"] < 0
        ]
        if better or worse:
            lines.append(
                f"{name}: "
                + "; ".join(
                    filter(
                        None,
                        [
                            f"better than the baseline beyond the seed spread: {', '.join(better)}"
                            if better
                            else "",
                            f"worse beyond the seed spread: {', '.join(worse)}" if worse else "",
                        ],
                    )
                )
            )
    rate = [v["label"] for v in vs if v["deltas"]["bpp"]["exceeds_spread"]]
    if rate:
        lines.append(
            f"bpp differs beyond the seed spread for {', '.join(rate)}: compare those on the "
            "RD curves / BD-rate, not at one λ"
        )
    if not lines:
        return (
            "**No attention variant differs from the baseline by more than the seed spread in PSNR, "
            "SSIM, MS-SSIM or bpp: at this budget attention does not measurably help.**"
        )
    return "\n".join(f"- {line}" for line in lines)


def bd_table(report: Mapping[str, Any]) -> str:
    header = [
        "Variant",
        "RD points (λ)",
        "BD-rate vs baseline",
        "BD-PSNR vs baseline",
        "BD-rate vs JPEG 2000",
        "BD-PSNR vs JPEG 2000",
        "JPEG 2000 anchor",
    ]
    rows = []
    for v in report["variants"]:
        mark = "" if v.get("monotone", True) else " ‡"
        cells = [v["label"] + mark, ", ".join(f"{p['lmbda']:g}" for p in v["points"])]
        for which in ("vs_baseline", "vs_jpeg2000"):
            b = v["bd"].get(which)
            if b is None:
                cells += ["—", "—"]
            elif "na" in b:
                cells += [f"N/A ({b['na']})", "N/A"]
            else:
                label = "" if b["method"] == "cubic" else f" ({b['method']})"
                cells += [
                    f"{b['bd_rate']:+.2f} %{label}" if "bd_rate" in b else f"N/A ({b['bd_rate_na']})",
                    f"{b['bd_psnr']:+.3f} dB{label}" if "bd_psnr" in b else f"N/A ({b['bd_psnr_na']})",
                ]
        cells.append(v["bd"].get("vs_jpeg2000", {}).get("anchor", "—"))
        rows.append(cells)
    return md_table(header, rows)


def rd_points_table(report: Mapping[str, Any]) -> str:
    header = [
        "Variant",
        "λ",
        "Seeds",
        "bpp",
        "PSNR",
        "SSIM",
        "MS-SSIM",
        "JPEG 2000 PSNR at these rates",
        "ΔPSNR vs JPEG 2000",
    ]
    rows = []
    for v in report["variants"]:
        for p in v["points"]:
            m = p["metrics"]
            j2k = p["matched"].get("jpeg2000")
            gap = m["psnr"]["mean"] - j2k["psnr"]["mean"] if j2k else math.nan
            rows.append(
                [
                    v["label"],
                    f"{p['lmbda']:g}",
                    ",".join(map(str, p["seeds"])),
                    _pm(m["bpp"], ".4f"),
                    _pm(m["psnr"], ".2f"),
                    _pm(m["ssim"], ".4f"),
                    _pm(m["ms_ssim"], ".4f"),
                    _pm(j2k["psnr"], ".2f") if j2k else "N/A",
                    format(gap, "+.2f") + " dB" if math.isfinite(gap) else "N/A",
                ]
            )
    return md_table(header, rows)


def sar_table(report: Mapping[str, Any]) -> str:
    """SAR fidelity at the table λ, with the classic codecs at each variant's rates."""
    header = [
        "Codec",
        "bpp",
        "PSNR",
        "RMSE dB",
        "ENL ratio",
        "ratio mean",
        "ratio var",
        "mean preservation",
        "EPI",
    ]
    keys = (
        ("bpp", ".4f"),
        ("psnr", ".2f"),
        ("rmse_db", ".3f"),
        ("enl_ratio", ".4g"),
        ("ratio_mean", ".4g"),
        ("ratio_var", ".4g"),
        ("mean_preservation", ".4f"),
        ("epi", ".3f"),
    )
    rows = [["ideal (lossless)", "", "∞", "0", "1", "1", "0", "1", "1"]]
    for v in report["variants"]:
        t = v["table"]
        if t is None:
            continue
        rows.append([v["label"], *(_pm(t["metrics"][k], f) for k, f in keys)])
        for codec, m in t["matched"].items():
            name = report.get("codec_names", {}).get(codec, codec)
            rows.append(
                [f"&nbsp;&nbsp;{name} at the rates of {v['variant']}", *(_pm(m[k], f) for k, f in keys)]
            )
    return md_table(header, rows)


def sweep_table(report: Mapping[str, Any]) -> str:
    header = [
        "Codec",
        "parameter",
        "bpp",
        "PSNR",
        "SSIM",
        "MS-SSIM",
        "RMSE dB",
        "EPI",
        "encode ms",
        "decode ms",
    ]
    rows = [
        [
            p["name"],
            f"{p['param_name']}={p['param']:g}",
            _num(p["mean"]["bpp"], ".4f"),
            _num(p["mean"]["psnr"], ".2f"),
            _num(p["mean"]["ssim"], ".4f"),
            _num(p["mean"].get("ms_ssim"), ".4f"),
            _num(p["mean"].get("rmse_db"), ".3f"),
            _num(p["mean"].get("epi"), ".3f"),
            _num(p["mean"]["encode_ms"], ".1f"),
            _num(p["mean"]["decode_ms"], ".1f"),
        ]
        for p in report["classic_sweep"]
    ]
    return md_table(header, rows)


def render_markdown(report: Mapping[str, Any], plots: Sequence[Path] = (), title: str | None = None) -> str:
    hw = report.get("hardware") or {}
    hw_text = ", ".join(f"{k} {v}" for k, v in hw.items())
    lm = report["table_lmbda"]
    parts = [
        f"# {title or 'Experiment-plan comparison'}",
        "",
        f"Data: `{report['data_root']}` ({len(report['images'])} test scene(s) that no compared run trained "
        f"or validated on), tiles {report['tile_size']} px. Training steps per run: "
        f"{', '.join(map(str, report['steps']))}. Evaluated on: {hw_text}.",
        "",
        f"## Experiment plan at λ = {lm:g}",
        "",
        plan_table(report),
        "",
        "Values are the mean ± sample std over seeds of each run's mean over the test scenes "
        "(no ± with one seed). bpp from the real entropy-coded bytes (latent only). encode/decode ms: "
        "whole scene (sum over its tiles). Δtime: relative change of encode + decode ms. "
        f"MS-SSIM: mean over the {report['ms_ssim_scenes']} of {len(report['images'])} scene(s) where it is "
        f"defined (≥ {MS_SSIM_MIN_SIDE} px on each side, no nodata); N/A if none. "
        f"† marks a Δ that exceeds the seed spread: {SPREAD_RULE}.",
        "",
        verdict(report),
        "",
        "## Bjøntegaard deltas (PSNR over bpp)",
        "",
        bd_table(report),
        "",
        "Negative BD-rate: fewer bits than the anchor at equal PSNR; positive BD-PSNR: higher PSNR at "
        "equal rate. Curves are the seed means per λ. BD-rate needs overlapping PSNR ranges, BD-PSNR "
        "overlapping rate ranges. ‡: the variant's RD points are not monotone in λ (bpp and PSNR do not "
        "both grow with λ), so any fit through them is unreliable. "
        f"Method: {report['bd_method']} ({'least-squares cubic, VCEG-M33; needs 4 points' if report['bd_method'] == 'cubic' else 'piecewise cubic Hermite; labelled'}).",
        "",
        "## RD points",
        "",
        rd_points_table(report),
        "",
        "JPEG 2000 at these rates: every scene coded at exactly the learned run's bpp for it (bisection), "
        "so ΔPSNR vs JPEG 2000 is a fit-free comparison at equal rate.",
        "",
        f"## SAR fidelity at λ = {lm:g} (linear intensity)",
        "",
        sar_table(report),
        "",
        "ENL ratio: ENL of the reconstruction / ENL of the reference over automatically detected homogeneous "
        "16×16 windows (> 1: speckle smoothed). Ratio image I/Î: mean (ideal 1) and variance (0 for a "
        "lossless codec; 1/L for an ideal L-look despeckler). Mean preservation: mean Î / mean I. EPI: "
        "Laplacian correlation edge preservation. RMSE dB: error of the reconstruction in dB.",
    ]
    if report["classic_sweep"]:
        parts += [
            "",
            "## Classic codecs: rate sweep",
            "",
            "<details><summary>all points</summary>",
            "",
            sweep_table(report),
            "",
            "</details>",
            "",
            "Classic codecs code each scene whole; bpp counts their headers.",
        ]
    if plots:
        parts += ["", "## RD plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    if report["notes"]:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(parts) + "\n"


def plot_rd(report: Mapping[str, Any], stem: Path) -> list[Path]:
    """One PNG per metric: learned variants (seed mean ± std per λ) and classic rate sweeps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    learned_bpp = [p["metrics"]["bpp"]["mean"] for v in report["variants"] for p in v["points"]]
    lo, hi = (min(learned_bpp) / 2, max(learned_bpp) * 2) if learned_bpp else (0, math.inf)
    for key, label in PLOT_METRICS:
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
            continue
        ax.set_xlabel("bpp")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        ax.set_title(f"{label} vs rate")
        path = stem.with_name(f"{stem.name}_rd_{key}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_tensorboard(log_dir: Path, markdown: str, plots: Sequence[Path], name: str = "report") -> None:
    """The report as text (TensorBoard renders Markdown tables) and the plots as images, under
    ``compare/<name>/``; each call is a new step, so reruns into the same folder keep a history."""
    import matplotlib.image as mpimg
    from torch.utils.tensorboard import SummaryWriter

    step = len(list(Path(log_dir).glob("events.out.tfevents.*"))) if Path(log_dir).is_dir() else 0
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        writer.add_text(f"compare/{name}/report", markdown, step)
        for path in plots:
            image = mpimg.imread(path)[..., :3]
            writer.add_image(f"compare/{name}/{path.stem}", image, step, dataformats="HWC")


def compare(
    folders: Sequence[str | Path],
    out: str | Path,
    tag: str = "",
    lmbda: float | None = None,
    baseline: str | None = "baseline",
    bd_method: str = "cubic",
    evaluate: bool = True,
    classic: Mapping[str, Any] | None = None,
    tensorboard: str | Path | None = None,
    title: str | None = None,
    device: str = "auto",
    exclude: Sequence[str] = (),
    exclude_reason: str = "",
) -> dict[str, Any]:
    """Write ``out`` (.md), the JSON beside it, one RD plot per metric, and the TensorBoard text."""
    from sarcomp.fileio import atomic_write_text, json_safe, write_json

    out = Path(out)
    if out.suffix != ".md":
        out = out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    runs, sweep, notes = collect(folders, tag, evaluate, classic, device)
    report = build_report(runs, sweep, tag, lmbda, baseline, bd_method, notes, exclude, exclude_reason)
    plots = plot_rd(report, out.with_suffix(""))
    markdown = render_markdown(report, plots, title)
    tb = Path(tensorboard) if tensorboard else Path(folders[0]) / "compare"
    report["outputs"] = {
        "markdown": str(out),
        "json": str(out.with_suffix(".json")),
        "plots": [str(p) for p in plots],
        "tensorboard": str(tb),
    }
    atomic_write_text(out, markdown)
    write_json(out.with_suffix(".json"), json_safe(report))
    write_tensorboard(tb, markdown, plots, out.stem)
    return report


__all__ = ["compare", "build_report", "collect", "render_markdown", "plot_rd", "data_tag"]
