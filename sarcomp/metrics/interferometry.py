"""Fidelity of complex (SLC) data and of interferograms formed from it (issue 29).

Single acquisition, reference ``ref`` against a coded ``test`` (complex arrays, optional ``valid``
mask, True = valid):

- :func:`amplitude_psnr_db`: PSNR of the amplitude in the dB domain. Both dB images are clipped to
  the reference's [0.5, 99.5] percentiles and scaled to [0, 1] (the codec's own rule for real
  scenes, :mod:`sarcomp.data.representation`), peak 1.
- :func:`phase_error_deg`: circular RMS phase error, ``sqrt(Σ w·Δ² / Σ w)`` with
  ``Δ = arg(test·ref*)`` wrapped to (−180°, 180°] and ``w = |ref|`` (amplitude-weighted: the phase
  of a dark pixel carries little signal). A constant offset δ gives |δ|.

Pairs: :func:`interferogram` multilooks ``s1·s2*`` over blocks of ``looks`` (rows, cols) and
estimates the coherence ``|⟨s1 s2*⟩| / √(⟨|s1|²⟩⟨|s2|²⟩)`` on the same blocks.
:func:`interferometric_errors` compares the coded pair's interferogram with the uncompressed one:
the phase error is the circular RMS of ``arg(ifg_test·ifg_ref*)`` weighted by the reference
coherence (a block whose reference phase is noise counts little); the coherence bias is the mean
of ``γ_test − γ_ref`` (negative: coding decorrelates the pair).
"""

from __future__ import annotations

import numpy as np

PSNR_PERCENTILES = (0.5, 99.5)
DEFAULT_LOOKS = (5, 5)
FLOOR = 1e-30  # amplitudes below this are this, in dB


def _check(ref: np.ndarray, test: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    ref, test = np.asarray(ref), np.asarray(test)
    if ref.shape != test.shape or ref.ndim != 2:
        raise ValueError(f"need two 2-D arrays of one shape, got {ref.shape} and {test.shape}")
    mask = np.ones(ref.shape, bool) if valid is None else np.asarray(valid, bool)
    if mask.shape != ref.shape:
        raise ValueError(f"mask shape {mask.shape} does not match {ref.shape}")
    mask = mask & np.isfinite(ref) & np.isfinite(test)
    if not mask.any():
        raise ValueError("no valid samples")
    return mask


def amplitude_db(s: np.ndarray) -> np.ndarray:
    """20·log10(|s|), with |s| floored at :data:`FLOOR`."""
    return 20 * np.log10(np.maximum(np.abs(s), FLOOR))


def amplitude_psnr_db(
    ref: np.ndarray,
    test: np.ndarray,
    valid: np.ndarray | None = None,
    percentiles: tuple[float, float] = PSNR_PERCENTILES,
) -> float:
    """PSNR (dB) of the amplitude in the dB domain (module doc); inf when identical there."""
    mask = _check(ref, test, valid)
    a, b = amplitude_db(ref[mask]), amplitude_db(test[mask])
    lo, hi = np.percentile(a, percentiles)
    hi = max(hi, lo + 1e-3)
    mse = np.mean(((np.clip(a, lo, hi) - np.clip(b, lo, hi)) / (hi - lo)) ** 2)
    return float("inf") if mse == 0 else float(-10 * np.log10(mse))


def _wrapped_rms_deg(delta: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    if total <= 0:
        return float("nan")
    return float(np.degrees(np.sqrt(np.sum(weights * delta**2) / total)))


def phase_error_deg(ref: np.ndarray, test: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Amplitude-weighted circular RMS phase error in degrees (module doc)."""
    mask = _check(ref, test, valid)
    r, t = ref[mask].astype(np.complex128), test[mask].astype(np.complex128)
    return _wrapped_rms_deg(np.angle(t * np.conj(r)), np.abs(r))


def multilook(
    a: np.ndarray, looks: tuple[int, int], valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over non-overlapping blocks of ``looks`` (rows, cols) of the valid samples; the edge rows
    and columns that fill no whole block are dropped. Returns (means, block valid: more than half of
    its samples valid)."""
    lr, lc = (int(v) for v in looks)
    if lr < 1 or lc < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    h, w = (a.shape[0] // lr) * lr, (a.shape[1] // lc) * lc
    if h == 0 or w == 0:
        raise ValueError(f"{a.shape} is smaller than one {lr}x{lc} block")
    m = np.ones(a.shape, bool) if valid is None else np.asarray(valid, bool)
    m = m[:h, :w].reshape(h // lr, lr, w // lc, lc)
    blocks = np.where(m, a[:h, :w].reshape(h // lr, lr, w // lc, lc), 0)
    count = m.sum(axis=(1, 3))
    return blocks.sum(axis=(1, 3)) / np.maximum(count, 1), count * 2 > lr * lc


def interferogram(
    s1: np.ndarray,
    s2: np.ndarray,
    looks: tuple[int, int] = DEFAULT_LOOKS,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multilooked interferogram ⟨s1·s2*⟩ (complex), coherence estimate and block validity."""
    mask = _check(s1, s2, valid)
    s1, s2 = s1.astype(np.complex128), s2.astype(np.complex128)
    ifg, ok = multilook(s1 * np.conj(s2), looks, mask)
    p1, _ = multilook(np.abs(s1) ** 2, looks, mask)
    p2, _ = multilook(np.abs(s2) ** 2, looks, mask)
    denominator = np.sqrt(p1 * p2)
    coherence = np.where(denominator > 0, np.abs(ifg) / np.where(denominator > 0, denominator, 1), 0.0)
    return ifg, np.clip(coherence, 0.0, 1.0), ok


def interferometric_errors(
    ref_pair: tuple[np.ndarray, np.ndarray],
    test_pair: tuple[np.ndarray, np.ndarray],
    looks: tuple[int, int] = DEFAULT_LOOKS,
    valid: np.ndarray | None = None,
) -> dict[str, float]:
    """``phase_error_deg`` (coherence-weighted circular RMS) and ``coherence_bias`` (mean γ_test −
    γ_ref) of the coded pair's interferogram against the uncompressed one (module doc)."""
    ifg_r, coh_r, ok_r = interferogram(*ref_pair, looks, valid)
    ifg_t, coh_t, ok_t = interferogram(*test_pair, looks, valid)
    ok = ok_r & ok_t
    delta = np.angle(ifg_t[ok] * np.conj(ifg_r[ok]))
    return {
        "phase_error_deg": _wrapped_rms_deg(delta, coh_r[ok]),
        "coherence_bias": float(np.mean(coh_t[ok] - coh_r[ok])),
    }
