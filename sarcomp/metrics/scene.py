"""Per-scene quality metrics of a reconstructed [0, 1] scene, the same for every codec.

- ``psnr``: PSNR of the [0, 1] image, peak 1.
- ``rmse_db``: RMSE of the reconstruction in dB (the level domain): (hi − lo)·RMSE[0, 1] with
  [lo, hi] the scene's clip range. A "PSNR in dB units" with peak hi − lo would equal ``psnr``
  exactly, so the physically meaningful number is the RMSE in dB; it differs from PSNR whenever
  scenes have different clip ranges (percentile scaling). N/A for ``display8`` (no dB scale).
- ``ssim``, ``ms_ssim`` (:mod:`sarcomp.metrics.image`): MS-SSIM is N/A (NaN, with ``ms_ssim_note``)
  below 161 px or with masked pixels.
- SAR fidelity (:func:`sarcomp.metrics.sar.sar_fidelity`) in *linear intensity*: both images are
  mapped back with the scene's representation (``from_unit`` then ``to_intensity``), over valid
  pixels. Reconstructions are clipped to [0, 1] first (as any decoder writing the representation
  would). The reference is the representation's round trip of the raster (clipped to [lo, hi]), so
  these measure the codec, not the clip range. N/A for ``display8`` scenes, with ``sar_note``.
- Operator metrics (:mod:`sarcomp.metrics.operator`) on the same intensities: CFAR detection
  against the reference's detections and the generator's targets, reflectivity fidelity.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sarcomp.data.tiles import SceneImage
from sarcomp.metrics.image import MS_SSIM_MIN_SIDE, ms_ssim, psnr, ssim
from sarcomp.metrics.operator import OPERATOR_KEYS, operator_metrics
from sarcomp.metrics.sar import sar_fidelity

SAR_KEYS = ("enl_ratio", "ratio_mean", "ratio_var", "mean_preservation", "epi")


def image_metrics(reference: np.ndarray, reconstruction: np.ndarray, valid: np.ndarray) -> dict[str, Any]:
    """PSNR, SSIM and MS-SSIM of one [0, 1] image over its valid pixels (NaN = N/A, with a note)."""
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None, None]  # noqa: E731
    x, x_hat, m = to_t(reference.astype(np.float32)), to_t(reconstruction.astype(np.float32)), to_t(valid)
    out: dict[str, Any] = {
        "psnr": float(psnr(x, x_hat, m)),
        "ssim": float(ssim(x, x_hat, m)),
        "ms_ssim": float(ms_ssim(x, x_hat, m)),
    }
    if math.isnan(out["ms_ssim"]):
        out["ms_ssim_note"] = (
            f"N/A: image {reference.shape[0]}x{reference.shape[1]} is below {MS_SSIM_MIN_SIDE} px"
            if min(reference.shape) < MS_SSIM_MIN_SIDE
            else "N/A: the scene has masked (nodata) pixels"
        )
    return out


def scene_metrics(image: SceneImage, reconstruction: np.ndarray) -> dict[str, Any]:
    """Every quality metric of one reconstructed [0, 1] scene against its reference (module docstring)."""
    scene, valid = image.scene, image.valid
    rec = np.clip(reconstruction.astype(np.float64), 0.0, 1.0)
    rec = np.where(valid, rec, 0.0)
    out = image_metrics(image.ref, rec, valid)
    span = scene.scaling.hi - scene.scaling.lo
    err = (image.ref.astype(np.float64) - rec)[valid]
    out["rmse_db"] = (
        float(span * np.sqrt(np.mean(err**2))) if scene.representation.units != "display8" else math.nan
    )
    ref_i, rec_i = (
        scene.representation.to_intensity(scene.representation.from_unit(u, scene.scaling))
        for u in (image.ref, rec)
    )
    if ref_i is None or rec_i is None:
        out.update({k: math.nan for k in (*SAR_KEYS, *OPERATOR_KEYS)})
        out["sar_note"] = "N/A: display8 data has no linear radiometry"
        return out
    out.update(operator_metrics(image, ref_i, rec_i))
    try:
        out.update(sar_fidelity(ref_i, rec_i, mask=valid))
    except ValueError as exc:  # e.g. no fully valid 16x16 window for the ENL
        out.update({k: math.nan for k in SAR_KEYS})
        out["sar_note"] = f"N/A: {exc}"
    return out
