"""Detection fidelity: what a CFAR operator finds in a decoded scene, against the original and
against the generator's ground truth.

One detector (:data:`DETECTOR`, :mod:`sarcomp.metrics.cfar`) runs on the reference (the scene as the
codec was given it) and on the reconstruction, both in linear intensity, with the clutter's number
of looks estimated once on the reference (:func:`estimate_looks`): an operator configures the
detector for the product, not for each decoded copy.

- **Against the reference** (every scene): detections are paired one to one (Hungarian assignment
  of centroids within :data:`MATCH_RADIUS` px). ``det_f1`` = 2·pairs / (decoded + reference
  detections), N/A when neither finds anything; over the pairs, ``det_peak_err_db`` (mean |Δpeak|)
  and ``det_peak_bias_db`` (mean Δpeak, decoded − reference: negative = peaks flattened), and
  ``det_shift_px`` (mean centroid distance).
- **Against the ground truth** (synthetic scenes, :mod:`sarcomp.data.truth`): a target is found
  when a detected pixel lies within :data:`TRUTH_RADIUS` px of it; a detection is a false alarm when
  none of its pixels does. ``det_pd`` (share of targets found), ``det_fa_mpx`` (false alarms per
  million valid pixels), the same on the reference (``*_ref``), and the change (decoded − reference).
  False alarms include bright extended structures the generator does not list as point targets
  (double-bounce walls, hedgerows, bridges): the change against the reference is what compares codecs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage, optimize

from sarcomp.metrics.cfar import CfarConfig, Detections, detect
from sarcomp.metrics.sar import enl, find_homogeneous_windows

DETECTOR = CfarConfig()
MATCH_RADIUS = 3.0  # px
TRUTH_RADIUS = 2.0  # px
LOOKS_WINDOW = 8  # px: homogeneous windows for the ENL estimate (small test crops are 13 px high)
LOOKS_RANGE = (0.5, 50.0)

REFERENCE_KEYS = ("det_ref_n", "det_n", "det_f1", "det_peak_err_db", "det_peak_bias_db", "det_shift_px")
TRUTH_KEYS = (
    "det_targets",
    "det_pd",
    "det_pd_ref",
    "det_pd_change",
    "det_fa_mpx",
    "det_fa_mpx_ref",
    "det_fa_change",
)


def estimate_looks(intensity: np.ndarray, valid: np.ndarray) -> float:
    """Clutter ENL for the detector: the median ENL of the most homogeneous 8×8 windows, clipped
    to [0.5, 50]; 1 (single look) when the image has no such window."""
    try:
        windows = find_homogeneous_windows(intensity, LOOKS_WINDOW, count=16, mask=valid)
    except ValueError:
        return 1.0
    values = [enl(intensity[w], valid[w]) for w in windows]
    return float(np.clip(np.median(values), *LOOKS_RANGE))


def match(ref: Detections, rec: Detections, radius: float = MATCH_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (indices into ``ref`` and ``rec``) of centroids within ``radius`` px,
    minimising the total distance."""
    if not ref.count or not rec.count:
        return np.zeros(0, int), np.zeros(0, int)
    dist = np.hypot(ref.rows[:, None] - rec.rows[None, :], ref.cols[:, None] - rec.cols[None, :])
    near = dist <= radius
    r_idx, c_idx = np.flatnonzero(near.any(1)), np.flatnonzero(near.any(0))
    if not r_idx.size:
        return np.zeros(0, int), np.zeros(0, int)
    sub = dist[np.ix_(r_idx, c_idx)]
    i, j = optimize.linear_sum_assignment(np.where(sub <= radius, sub, 1e6))
    keep = sub[i, j] <= radius
    return r_idx[i[keep]], c_idx[j[keep]]


def against_reference(ref: Detections, rec: Detections) -> dict[str, float]:
    """F1, peak level error and centroid shift of ``rec``'s detections against ``ref``'s."""
    i, j = match(ref, rec)
    total = ref.count + rec.count
    out = {
        "det_ref_n": float(ref.count),
        "det_n": float(rec.count),
        "det_f1": 2.0 * i.size / total if total else math.nan,
        "det_peak_err_db": math.nan,
        "det_peak_bias_db": math.nan,
        "det_shift_px": math.nan,
    }
    if i.size:
        err = 10.0 * np.log10(rec.peak[j] / ref.peak[i])
        out["det_peak_err_db"] = float(np.mean(np.abs(err)))
        out["det_peak_bias_db"] = float(np.mean(err))
        out["det_shift_px"] = float(np.mean(np.hypot(ref.rows[i] - rec.rows[j], ref.cols[i] - rec.cols[j])))
    return out


def against_truth(
    dets: Detections, rows: np.ndarray, cols: np.ndarray, valid: np.ndarray, radius: float = TRUTH_RADIUS
) -> tuple[float, float]:
    """(share of the targets at ``rows, cols`` found, false alarms per million valid pixels)."""
    found = dets.labels > 0
    if rows.size:
        near_detection = ndimage.distance_transform_edt(~found) <= radius if found.any() else found
        pd = float(near_detection[rows, cols].mean())
    else:
        pd = math.nan
    truth = np.zeros(valid.shape, bool)
    truth[rows, cols] = True
    if dets.count and truth.any():
        near_truth = ndimage.distance_transform_edt(~truth) <= radius
        hits = ndimage.maximum(near_truth, dets.labels, np.arange(1, dets.count + 1))
        false = int(dets.count - np.count_nonzero(hits))
    else:
        false = dets.count
    return pd, 1e6 * false / max(int(valid.sum()), 1)


def detection_metrics(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    valid: np.ndarray,
    targets: tuple[np.ndarray, np.ndarray] | None = None,
    config: CfarConfig = DETECTOR,
) -> dict[str, Any]:
    """Every ``det_*`` metric of one scene (module docstring); the truth ones are NaN (N/A)
    without ``targets`` (pixel rows and cols of the generator's targets)."""
    looks = estimate_looks(reference, valid)
    ref = detect(reference, looks, config, valid)
    rec = detect(reconstruction, looks, config, valid)
    out: dict[str, Any] = {**against_reference(ref, rec), **dict.fromkeys(TRUTH_KEYS, math.nan)}
    if targets is not None:
        rows, cols = targets
        inside = valid[rows, cols]
        rows, cols = rows[inside], cols[inside]
        pd, fa = against_truth(rec, rows, cols, valid)
        pd_ref, fa_ref = against_truth(ref, rows, cols, valid)
        out.update(
            det_targets=float(rows.size),
            det_pd=pd,
            det_pd_ref=pd_ref,
            det_pd_change=pd - pd_ref,
            det_fa_mpx=fa,
            det_fa_mpx_ref=fa_ref,
            det_fa_change=fa - fa_ref,
        )
    out["det_looks"] = looks
    return out
