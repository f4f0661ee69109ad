"""Detection fidelity over rate: each codec's RD points pooled over the test scenes, and the lowest
rate from which a codec keeps detection within a tolerance of the uncompressed scene.

A *point* pools the metrics rows of one coding of every scene (:mod:`sarcomp.metrics.detection`):
Pd over all targets of all scenes (each scene's Pd weighted by its number of targets), false alarms
per million pixels over all pixels, F1 against the original's detections from the pooled pair
counts, peak error and centroid shift over all pairs. A codec *keeps* detection at a point when
|ΔPd| ≤ the tolerance (synthetic scenes: against the generator's targets) or, without ground truth,
when the F1 against the original's detections is ≥ 1 − tolerance. Its *threshold* is the lowest
measured rate from which every higher measured point keeps detection (:func:`threshold`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sarcomp.analysis.render import md_table

TOLERANCE_PP = 1.0  # percentage points


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _weighted(rows: Sequence[Mapping[str, Any]], key: str, weight: Callable[[Mapping], float]) -> float:
    pairs = [(r[key], weight(r)) for r in rows if _finite(r.get(key)) and weight(r) > 0]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else math.nan


def _pixels(row: Mapping[str, Any]) -> float:
    return float(row["height"]) * float(row["width"]) * float(row.get("valid_fraction", 1.0))


def _pairs(row: Mapping[str, Any]) -> float:
    """Detections paired with the original's: F1·(decoded + original detections)/2."""
    f1 = row.get("det_f1")
    return f1 * (row["det_n"] + row["det_ref_n"]) / 2 if _finite(f1) else 0.0


def pooled(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One RD point from its scenes' metrics rows (module docstring)."""
    targets = lambda r: r.get("det_targets") if _finite(r.get("det_targets")) else 0.0  # noqa: E731
    pd, pd_ref = _weighted(rows, "det_pd", targets), _weighted(rows, "det_pd_ref", targets)
    fa, fa_ref = _weighted(rows, "det_fa_mpx", _pixels), _weighted(rows, "det_fa_mpx_ref", _pixels)
    detections = sum(r["det_n"] + r["det_ref_n"] for r in rows if _finite(r.get("det_n")))
    pairs = sum(_pairs(r) for r in rows)
    mean = lambda key: float(np.mean([r[key] for r in rows if _finite(r.get(key))] or [math.nan]))  # noqa: E731
    return {
        "bpp": mean("bpp"),
        "scenes": len(rows),
        "targets": float(sum(targets(r) for r in rows)),
        "ref_detections": float(sum(r.get("det_ref_n") or 0 for r in rows)),
        "det_pd": pd,
        "det_pd_ref": pd_ref,
        "det_pd_change": pd - pd_ref,
        "det_fa_mpx": fa,
        "det_fa_mpx_ref": fa_ref,
        "det_fa_change": fa - fa_ref,
        "det_f1": 2 * pairs / detections if detections else math.nan,
        "det_peak_err_db": _weighted(rows, "det_peak_err_db", _pairs),
        "det_peak_bias_db": _weighted(rows, "det_peak_bias_db", _pairs),
        "det_shift_px": _weighted(rows, "det_shift_px", _pairs),
        "refl_psnr": mean("refl_psnr"),
        "refl_psnr_ref": mean("refl_psnr_ref"),
        "refl_rmse_db": mean("refl_rmse_db"),
        "refl_rmse_db_ref": mean("refl_rmse_db_ref"),
        "psnr": mean("psnr"),
    }


def keeps(point: Mapping[str, float], tolerance_pp: float = TOLERANCE_PP) -> bool | None:
    """Whether ``point`` keeps detection (module docstring); None when it cannot say."""
    if _finite(point.get("det_pd_change")):
        return abs(point["det_pd_change"]) <= tolerance_pp / 100
    if _finite(point.get("det_f1")):
        return point["det_f1"] >= 1 - tolerance_pp / 100
    return None


def criterion(point: Mapping[str, float]) -> tuple[str, float]:
    """The quantity :func:`keeps` judges: (name, value), ΔPd in pp or F1."""
    if _finite(point.get("det_pd_change")):
        return "ΔPd [pp]", 100 * point["det_pd_change"]
    return "F1 vs original", point.get("det_f1", math.nan)


def threshold(points: Sequence[Mapping[str, float]], tolerance_pp: float = TOLERANCE_PP) -> dict[str, Any]:
    """The lowest measured rate from which every higher point keeps detection.

    ``status``: ``kept from`` (``bpp`` is the first such point, ``below`` the highest failing rate
    under it), ``kept at every rate`` (even the lowest: the threshold is at or below ``bpp``), or
    ``not kept`` (the highest point fails; ``bpp`` None). ``interpolated``: where the judged
    quantity crosses the tolerance between ``below`` and ``bpp``, linear in log rate.
    """
    pts = sorted(points, key=lambda p: p["bpp"])
    ok = [keeps(p, tolerance_pp) for p in pts]
    if not pts or not ok[-1]:
        top = pts[-1]["bpp"] if pts else math.nan
        return {"status": "not kept", "bpp": None, "below": top, "interpolated": None}
    first = len(ok)
    while first > 0 and ok[first - 1]:
        first -= 1
    if first == 0:
        return {"status": "kept at every rate", "bpp": pts[0]["bpp"], "below": None, "interpolated": None}
    lo, hi = pts[first - 1], pts[first]
    return {
        "status": "kept from",
        "bpp": hi["bpp"],
        "below": lo["bpp"],
        "interpolated": _crossing(lo, hi, tolerance_pp),
    }


def _crossing(lo: Mapping[str, float], hi: Mapping[str, float], tolerance_pp: float) -> float | None:
    """Rate where the judged quantity reaches the tolerance between a failing and a passing point."""
    (name, a), (_, b) = criterion(lo), criterion(hi)
    if name.startswith("ΔPd"):
        a, b = abs(a), abs(b)
        target = tolerance_pp
    else:
        target = 1 - tolerance_pp / 100
    if not (_finite(a) and _finite(b)) or a == b:
        return None
    t = (target - a) / (b - a)
    return float(math.exp(math.log(lo["bpp"]) + t * (math.log(hi["bpp"]) - math.log(lo["bpp"]))))


def goal(learned: Mapping[str, Any], anchor: Mapping[str, Any]) -> tuple[str, str]:
    """Does the learned curve keep detection at a lower rate than the anchor? (verdict, why).

    ``met`` when the anchor fails at a measured rate at or above the learned threshold (fit-free),
    or, between measured points, when the interpolated crossings say so (labelled); ``not met`` when
    the anchor keeps detection from an equal or lower rate, or the learned curve never does."""
    if learned["status"] == "not kept":
        also = (
            f"; nor does JPEG 2000 (up to {anchor['below']:.3f} bpp)"
            if anchor["status"] == "not kept"
            else ""
        )
        return (
            "not met",
            f"the learned curve does not keep detection at any measured rate (up to {learned['below']:.3f} bpp){also}",
        )
    if anchor["status"] == "not kept":
        return "met", f"JPEG 2000 does not keep detection even at {anchor['below']:.3f} bpp"
    if learned["status"] == "kept at every rate" and anchor["status"] == "kept at every rate":
        return "undetermined", "both keep detection at their lowest measured rates"
    if anchor["bpp"] <= learned["bpp"]:
        return "not met", (
            f"JPEG 2000 keeps detection from {anchor['bpp']:.3f} bpp, the learned curve from {learned['bpp']:.3f}"
        )
    if anchor["status"] == "kept at every rate":
        return "undetermined", f"JPEG 2000 was not measured below {anchor['bpp']:.3f} bpp"
    if anchor["below"] >= learned["bpp"]:
        return "met", (
            f"the learned curve keeps detection from {learned['bpp']:.3f} bpp; JPEG 2000 fails at "
            f"{anchor['below']:.3f} bpp"
        )
    a, b = learned["interpolated"] or learned["bpp"], anchor["interpolated"]
    if b is None:
        return "undetermined", "the curves cross between measured points and cannot be interpolated"
    verdict = "met" if a < b else "not met"
    return verdict, f"by interpolation between measured points: learned {a:.3f} bpp, JPEG 2000 {b:.3f} bpp"


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted, or N/A when it is not a finite number."""
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    return format(value, spec) if ok else "N/A"


def threshold_table(points: Mapping[str, list[dict]], thresholds: Mapping[str, dict]) -> str:
    """Per codec: where it keeps detection (:func:`threshold`) and what it scores there."""
    head = ["codec", "points (bpp range)", "detection kept from", "highest rate that fails below it"]
    head += ["interpolated crossing", "criterion there", "ΔFA / Mpx there", "|Δpeak| dB", "shift px"]
    head += ["refl. PSNR (original)"]
    rows = []
    for codec, pts in points.items():
        t = thresholds[codec]
        at = next((p for p in pts if p["bpp"] == t["bpp"]), None) or {}
        kept = {"not kept": "not kept (up to the highest rate)", "kept at every rate": "≤ "}.get(
            t["status"], ""
        )
        name, value = criterion(at) if at else ("", float("nan"))
        rows.append(
            [codec, f"{len(pts)} ({pts[0]['bpp']:.2f}–{pts[-1]['bpp']:.2f})"]
            + [kept + (fmt(t["bpp"], ".3f") + " bpp" if t["bpp"] is not None else "")]
            + [fmt(t["below"], ".3f"), fmt(t["interpolated"], ".3f")]
            + [f"{name} {fmt(value, '+.2f' if name.startswith('Δ') else '.3f')}" if at else "—"]
            + [fmt(at.get("det_fa_change"), "+.0f"), fmt(at.get("det_peak_err_db"), ".2f")]
            + [fmt(at.get("det_shift_px"), ".2f")]
            + [f"{fmt(at.get('refl_psnr'), '.2f')} ({fmt(at.get('refl_psnr_ref'), '.2f')})"]
        )
    return md_table(head, rows)


def points_table(points: Mapping[str, list[dict]]) -> str:
    """Every pooled point of every codec."""
    head = ["codec", "kind", "bpp", "PSNR", "Pd", "ΔPd pp", "FA/Mpx", "ΔFA/Mpx", "F1", "|Δpeak| dB"]
    head += ["Δpeak dB", "shift px", "refl. PSNR", "refl. RMSE dB"]
    keys = [("bpp", ".3f"), ("psnr", ".2f"), ("det_pd", ".3f"), ("det_pd_change", "+.2f")]
    keys += [("det_fa_mpx", ".0f"), ("det_fa_change", "+.0f"), ("det_f1", ".3f")]
    keys += [("det_peak_err_db", ".2f"), ("det_peak_bias_db", "+.2f"), ("det_shift_px", ".2f")]
    keys += [("refl_psnr", ".2f"), ("refl_rmse_db", ".2f")]
    scale = {"det_pd_change": 100.0}
    rows = [
        [codec, p["kind"], *(fmt(p.get(k, math.nan) * scale.get(k, 1.0), f) for k, f in keys)]
        for codec, pts in points.items()
        for p in pts
    ]
    return md_table(head, rows)
