"""Rendering results: aligned terminal tables and the Markdown report of ``compare``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sarcomp.analysis import operator
from sarcomp.analysis.stats import SPREAD_RULE
from sarcomp.metrics.image import MS_SSIM_MIN_SIDE

DEFAULT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "model", "s"),
    ("params", "params", ",d"),
    ("bpp", "bpp", ".4f"),
    ("psnr", "PSNR dB", ".2f"),
    ("ssim", "SSIM", ".4f"),
    ("ms_ssim", "MS-SSIM", ".4f"),
    ("rmse_db", "RMSE dB", ".3f"),
    ("enl_ratio", "ENL ratio", ".3f"),
    ("epi", "EPI", ".3f"),
    ("encode_ms", "enc ms", ".1f"),
    ("decode_ms", "dec ms", ".1f"),
    ("det_f1", "det F1", ".3f"),
    ("det_pd_change", "ΔPd", "+.3f"),
)


def number_or_na(value: Any, fmt: str, infinite: str | None = None) -> str:
    """``value`` in ``fmt``; "N/A" when missing or NaN, and ``infinite`` (when given) for ±inf."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"
    if infinite is not None and isinstance(value, float) and math.isinf(value):
        return infinite
    return format(value, fmt)


PARTIAL_NOTE = (
    "x (n/N): mean over the n of N scenes where the metric is defined (MS-SSIM needs 161 px per side "
    "and no nodata; RMSE dB and the SAR metrics are N/A for 8-bit renderings); the reason per scene is "
    "in the JSON rows (*_note)"
)


def payload_label(p: dict[str, Any]) -> str:
    """A result's name with what distinguishes it: λ and seed, or the classic codec's parameter
    (a rate-matched result names the run folder, not its whole path)."""
    if p.get("codec") == "learned":
        return f"{p['name']} λ={p.get('lmbda', math.nan):g} seed={p.get('seed')}"
    if "param" in p:
        return f"{p['name']} {p.get('param_name', 'param')}={p['param']:g}"
    if p.get("kind") == "matched":
        return f"{p['name']} @ rates of {Path(str(p.get('matched_to', '?'))).name}"
    return str(p["name"])


def summary_rows(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per result: its label, parameter count, mean metrics (per-scene ms) and the number
    of scenes (``scenes``: a mean over fewer, ``<key>_n``, is marked by :func:`format_table`)."""
    return [
        {"name": payload_label(p), "params": p.get("params"), "scenes": len(p.get("images", ())), **p["mean"]}
        for p in payloads
    ]


def format_table(rows: Sequence[dict[str, Any]], columns=DEFAULT_COLUMNS, markdown: bool = False) -> str:
    """Aligned text table (or a Markdown table) of ``rows`` with (key, header, format) columns.

    A mean over fewer scenes than the row has (``<key>_n`` < ``scenes``) shows ``(n/N)``, and a
    note under the table says what that means (:data:`PARTIAL_NOTE`)."""
    header = [title for _, title, _ in columns]
    marks = [[_partial(r, key) for key, _, _ in columns] for r in rows]
    body = [
        [number_or_na(r.get(key), fmt) + m for (key, _, fmt), m in zip(columns, ms)]
        for r, ms in zip(rows, marks)
    ]
    note = [PARTIAL_NOTE] if any(any(ms) for ms in marks) else []
    if markdown:
        return "\n".join([md_table(header, body), *["", *note] * bool(note)])
    widths = [max(len(x) for x in col) for col in zip(header, *body)]

    def fmt_line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [fmt_line(header), fmt_line(["-" * w for w in widths])] + [fmt_line(b) for b in body]
    return "\n".join(lines + note)


def _partial(row: Mapping[str, Any], key: str) -> str:
    n, total = row.get(f"{key}_n"), row.get("scenes")
    return f" ({n}/{total})" if isinstance(n, int) and total and 0 < n < total else ""


def _pm(s: Mapping[str, Any] | None, fmt: str) -> str:
    if not s or s["n"] == 0:
        return "N/A"
    if s["n"] >= 2 and math.isfinite(s["std"]):
        spread = number_or_na(s["std"], fmt.lstrip("+"), "inf")  # a spread has no sign
        return f"{number_or_na(s['mean'], fmt, 'inf')} ± {spread}"
    return number_or_na(s["mean"], fmt, "inf")


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
                number_or_na(v["params"], ",d", "inf") if v["params"] is not None else "N/A",
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
        "ΔPSNR vs JPEG 2000 at equal rate",
        "BD-rate vs baseline",
        "BD-PSNR vs baseline",
        "BD-rate vs JPEG 2000",
        "BD-PSNR vs JPEG 2000",
        "JPEG 2000 anchor",
    ]
    rows = []
    for v in report["variants"]:
        mark = "" if v.get("monotone", True) else " ‡"
        gap = v.get("dpsnr_vs_jpeg2000")
        cells = [
            v["label"] + mark,
            ", ".join(f"{p['lmbda']:g}" for p in v["points"]),
            f"{_pm(gap, '+.2f')} dB" if gap and gap["n"] else "N/A (no rate-matched JPEG 2000)",
        ]
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
            number_or_na(p["mean"]["bpp"], ".4f", "inf"),
            number_or_na(p["mean"]["psnr"], ".2f", "inf"),
            number_or_na(p["mean"]["ssim"], ".4f", "inf"),
            number_or_na(p["mean"].get("ms_ssim"), ".4f", "inf"),
            number_or_na(p["mean"].get("rmse_db"), ".3f", "inf"),
            number_or_na(p["mean"].get("epi"), ".3f", "inf"),
            number_or_na(p["mean"]["encode_ms"], ".1f", "inf"),
            number_or_na(p["mean"]["decode_ms"], ".1f", "inf"),
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
        "(no ± with one seed). bpp: bytes of the .sarc file `sarcomp compress` writes (header, tile "
        "strings, CRC; the metadata, georeferencing and notes, is not billed) per scene pixel. encode/decode ms: "
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
        "ΔPSNR vs JPEG 2000 at equal rate: the variant's PSNR minus that of JPEG 2000 coding every scene at "
        "exactly the variant's own per-scene rate, averaged over its λ points (± over λ points): no curve "
        "fit, so it leads. Negative BD-rate: fewer bits than the anchor at equal PSNR; positive BD-PSNR: higher PSNR at "
        "equal rate. Curves are the seed means per λ. BD-rate needs overlapping PSNR ranges, BD-PSNR "
        "overlapping rate ranges. ‡: the variant's RD points are not monotone in λ (bpp and PSNR do not "
        "both grow with λ), so any fit through them is unreliable. BD numbers are N/A, with the reason, when "
        "either curve (sorted by rate) is not monotone or spans less than a factor 1.5 in rate. "
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
        "ENL ratio: median over automatically detected homogeneous 16×16 windows of ENL of the "
        "reconstruction / ENL of the reference, per-window ENL capped at 1e6 (> 1: speckle smoothed). Ratio image I/Î: mean (ideal 1) and variance (0 for a "
        "lossless codec; 1/L for an ideal L-look despeckler). Mean preservation: mean Î / mean I. EPI: "
        "Laplacian correlation edge preservation. RMSE dB: error of the reconstruction in dB.",
        "",
        f"## Detection and reflectivity fidelity at λ = {lm:g}",
        "",
        operator.compare_table(report),
        "",
        operator.NOTE,
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
    if report.get("warnings"):
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    if report["notes"]:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(parts) + "\n"
