"""Detection and reflectivity fidelity tables of the compare and zoo reports
(the ``det_*`` and ``refl_*`` metrics of :mod:`sarcomp.metrics.operator`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# (metric, header, format, scale): ΔPd in percentage points
COLUMNS: tuple[tuple[str, str, str, float], ...] = (
    ("bpp", "bpp", ".3f", 1.0),
    ("det_pd", "Pd", ".3f", 1.0),
    ("det_pd_change", "ΔPd [pp]", "+.2f", 100.0),
    ("det_fa_mpx", "FA / Mpx", ".0f", 1.0),
    ("det_fa_change", "ΔFA / Mpx", "+.0f", 1.0),
    ("det_f1", "F1 vs original", ".3f", 1.0),
    ("det_peak_err_db", "|Δpeak| dB", ".2f", 1.0),
    ("det_peak_bias_db", "Δpeak dB", "+.2f", 1.0),
    ("det_shift_px", "shift px", ".2f", 1.0),
    ("refl_psnr", "refl. PSNR", ".2f", 1.0),
    ("refl_rmse_db", "refl. RMSE dB", ".2f", 1.0),
)
MATCHED_KEYS = tuple(key for key, _, _, _ in COLUMNS[1:])
# what the uncompressed reference scores on each column (None: nothing to show)
REFERENCE: dict[str, str | float | None] = {
    "bpp": None,
    "det_pd": "det_pd_ref",
    "det_pd_change": 0.0,
    "det_fa_mpx": "det_fa_mpx_ref",
    "det_fa_change": 0.0,
    "det_f1": 1.0,
    "det_peak_err_db": 0.0,
    "det_peak_bias_db": 0.0,
    "det_shift_px": 0.0,
    "refl_psnr": "refl_psnr_ref",
    "refl_rmse_db": "refl_rmse_db_ref",
}
NOTE = (
    "OS-CFAR (Gamma clutter, Pfa 1e-5, looks estimated on the original; `sarcomp/metrics/detection.py`) "
    "on the original and the decoded scene in linear intensity. Pd and false alarms per million pixels "
    "against the generator's point targets (synthetic scenes; N/A on real ones), Δ = decoded − original "
    "(ΔPd in percentage points); F1, |Δpeak| (mean absolute peak level error), Δpeak (its mean: "
    "negative = peaks flattened) and centroid shift against the detections on the original (every "
    "scene). refl.: PSNR and RMSE in dB of the decoded scene against the noise-free reflectivity after "
    "a 5×5 multilook (synthetic scenes written with --reflectivity); the original's own row is the speckle's share."
)


def _cell(value: Any, fmt: str, scale: float) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf" if isinstance(value, float) and math.isinf(value) else "N/A"
    return format(value * scale, fmt)


def cells(means: Mapping[str, Any]) -> list[str]:
    """One table row's cells from the means of its metrics (missing: N/A)."""
    return [_cell(means.get(key), fmt, scale) for key, _, fmt, scale in COLUMNS]


def reference_cells(means: Mapping[str, Any]) -> list[str]:
    """The uncompressed original's row, from any result's ``*_ref`` means."""
    out = []
    for key, _, fmt, scale in COLUMNS:
        ref = REFERENCE[key]
        out.append("—" if ref is None else _cell(means.get(ref) if isinstance(ref, str) else ref, fmt, scale))
    return out


def table(rows: Sequence[tuple[str, list[str]]]) -> str:
    header = ["Codec", *(title for _, title, _, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join([name, *c]) + " |" for name, c in rows])


def compare_table(report: Mapping[str, Any]) -> str:
    """At the table λ: each variant (seed means) and the classic codecs at its rates."""
    rows: list[tuple[str, list[str]]] = []
    names = report.get("codec_names", {})
    for v in report["variants"]:
        t = v["table"]
        if t is None:
            continue
        means = {k: s["mean"] for k, s in t["metrics"].items()}
        if not rows:
            rows.append(("original (uncompressed)", reference_cells(means)))
        rows.append((v["label"], cells(means)))
        for codec, m in t["matched"].items():
            name = f"&nbsp;&nbsp;{names.get(codec, codec)} at the rates of {v['variant']}"
            rows.append((name, cells({k: s["mean"] for k, s in m.items()})))
    return table(rows)


def zoo_table(points: Sequence[Mapping[str, Any]]) -> str:
    """Each shipped model's operating points and the classic codecs at the same per-scene rates."""
    codecs = sorted({k[: -len("_det_pd")] for p in points for k in p if k.endswith("_det_pd")})
    rows: list[tuple[str, list[str]]] = []
    if points:
        rows.append(("original (uncompressed)", reference_cells(points[0])))
    for p in points:
        lm = p.get("lmbda")
        rows.append((p["name"] if lm is None else f"{p['name']} λ={lm:g}", cells(p)))
        for c in codecs:
            matched = {k: p.get(f"{c}_{k}") for k, _, _, _ in COLUMNS}
            rows.append((f"&nbsp;&nbsp;{c} at these rates", cells(matched)))
    return table(rows)
