"""Reflectivity fidelity: the decoded scene against the noise-free reflectivity of the generator.

PSNR and RMSE against the original only say how well a codec copies the speckle. Against the
noise-free reflectivity ``R`` (:mod:`sarcomp.data.truth`) they say whether it keeps the signal:
both images are multilooked alike (a :data:`MULTILOOK` × :data:`MULTILOOK` boxcar mean of linear
intensity over the valid pixels), taken to dB and through the scene's clip range to [0, 1], then
``refl_psnr`` (peak 1, as ``psnr``) and ``refl_rmse_db`` ((hi − lo)·RMSE on [0, 1], as ``rmse_db``).
The same numbers for the uncompressed reference (``*_ref``) are the speckle's own share: a codec
that smooths speckle but keeps the signal can beat them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from sarcomp.data.representation import Scaling, unit_from_level

MULTILOOK = 5  # px
KEYS = ("refl_psnr", "refl_psnr_ref", "refl_rmse_db", "refl_rmse_db_ref")


def multilook(intensity: np.ndarray, valid: np.ndarray, size: int = MULTILOOK) -> np.ndarray:
    """Boxcar mean of ``intensity`` over the valid pixels of each ``size`` × ``size`` window."""
    weight = valid.astype(np.float64)
    total = ndimage.uniform_filter(np.where(valid, intensity, 0.0), size, mode="constant")
    count = ndimage.uniform_filter(weight, size, mode="constant")
    return total / np.maximum(count, 1e-12)


def _unit(intensity: np.ndarray, valid: np.ndarray, scaling: Scaling) -> np.ndarray:
    level = 10.0 * np.log10(np.maximum(multilook(intensity, valid), np.finfo(np.float64).tiny))
    return unit_from_level(level, scaling).astype(np.float64)


def _psnr_rmse(a: np.ndarray, b: np.ndarray, valid: np.ndarray, span: float) -> tuple[float, float]:
    mse = float(np.mean((a - b)[valid] ** 2))
    return (math.inf if mse == 0 else -10.0 * math.log10(mse)), span * math.sqrt(mse)


def reflectivity_metrics(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    reflectivity: np.ndarray,
    valid: np.ndarray,
    scaling: Scaling,
) -> dict[str, float]:
    """``refl_*`` of the reconstruction and of the reference (linear intensities) against ``reflectivity``."""
    truth = _unit(reflectivity, valid, scaling)
    span = scaling.hi - scaling.lo
    psnr, rmse = _psnr_rmse(_unit(reconstruction, valid, scaling), truth, valid, span)
    psnr_ref, rmse_ref = _psnr_rmse(_unit(reference, valid, scaling), truth, valid, span)
    return {"refl_psnr": psnr, "refl_psnr_ref": psnr_ref, "refl_rmse_db": rmse, "refl_rmse_db_ref": rmse_ref}
