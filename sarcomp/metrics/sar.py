"""SAR fidelity metrics on images in linear intensity units.

Every function takes an optional boolean ``mask`` (True = valid pixel, same
shape as the images). Pixels outside the mask are ignored entirely, so they may
hold NaN or any other no-data value; non-finite values *inside* the mask raise
``ValueError``. Computations are done in float64.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

Window = tuple[slice, slice]


def _as_float(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D image, got shape {array.shape}")
    return array


def _valid_mask(mask: np.ndarray | None, *images: np.ndarray) -> np.ndarray:
    """Boolean validity mask for ``images`` (all the same shape), checked for finiteness."""
    shape = images[0].shape
    for image in images[1:]:
        if image.shape != shape:
            raise ValueError(f"image shapes differ: {shape} vs {image.shape}")
    valid = np.ones(shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if valid.shape != shape:
        raise ValueError(f"mask shape {valid.shape} does not match image shape {shape}")
    if not valid.any():
        raise ValueError("mask leaves no valid pixels")
    for image in images:
        if not np.isfinite(image[valid]).all():
            raise ValueError("non-finite values in valid pixels; mask them out")
    return valid


def _enl_of_values(values: np.ndarray) -> float:
    if values.size < 2:
        raise ValueError("ENL needs at least two valid pixels")
    variance = values.var()
    return float("inf") if variance == 0 else float(values.mean() ** 2 / variance)


def enl(intensity: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Equivalent number of looks, mean^2 / variance over the valid pixels (inf if constant)."""
    image = _as_float(intensity, "intensity")
    valid = _valid_mask(mask, image)
    return _enl_of_values(image[valid])


def _smoothed(image: np.ndarray, valid: np.ndarray, size: int = 3) -> np.ndarray:
    """Masked mean filter (normalised convolution): invalid pixels do not contribute."""
    weights = ndimage.uniform_filter(valid.astype(np.float64), size=size, mode="reflect")
    sums = ndimage.uniform_filter(np.where(valid, image, 0.0), size=size, mode="reflect")
    return np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0)


def find_homogeneous_windows(
    intensity: np.ndarray,
    window: int = 16,
    count: int = 8,
    mask: np.ndarray | None = None,
) -> list[Window]:
    """Find the ``count`` most homogeneous non-overlapping ``window``x``window`` regions.

    The image is cut into a grid of non-overlapping windows; windows touching an
    invalid pixel or with non-positive mean are discarded. The rest are ranked by
    the coefficient of variation (std/mean) of a 3x3 mean-filtered copy of the
    image, which damps speckle so texture dominates the ranking. Returned most
    homogeneous first; fewer than ``count`` if the image has fewer candidates.
    """
    if window < 2 or count < 1:
        raise ValueError("window must be >= 2 and count >= 1")
    image = _as_float(intensity, "intensity")
    valid = _valid_mask(mask, image)
    rows, cols = image.shape[0] // window, image.shape[1] // window
    if rows == 0 or cols == 0:
        raise ValueError(f"image {image.shape} is smaller than the window {window}")

    def blocks(array: np.ndarray) -> np.ndarray:
        cropped = array[: rows * window, : cols * window]
        return cropped.reshape(rows, window, cols, window).swapaxes(1, 2).reshape(rows, cols, -1)

    smooth = blocks(_smoothed(image, valid))
    mean = smooth.mean(axis=-1)
    usable = blocks(valid).all(axis=-1) & (mean > 0)
    if not usable.any():
        raise ValueError("no fully valid window with positive mean intensity")
    cv = np.where(usable, smooth.std(axis=-1) / np.where(usable, mean, 1.0), np.inf)
    order = np.argsort(cv, axis=None, kind="stable")[: min(count, int(usable.sum()))]
    return [
        (slice(r * window, (r + 1) * window), slice(c * window, (c + 1) * window))
        for r, c in zip(*np.unravel_index(order, cv.shape))
    ]


def enl_ratio(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    windows: list[Window] | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """Mean ENL of the reconstruction / mean ENL of the reference over homogeneous windows.

    Windows are detected on the reference with :func:`find_homogeneous_windows`
    when not given. A value above 1 means the reconstruction is smoother (less
    speckle, or speckle removed by compression) in flat areas.
    """
    ref = _as_float(reference, "reference")
    rec = _as_float(reconstruction, "reconstruction")
    valid = _valid_mask(mask, ref, rec)
    if windows is None:
        windows = find_homogeneous_windows(ref, mask=valid)
    if not windows:
        raise ValueError("windows must not be empty")
    ref_enl = [_enl_of_values(ref[w][valid[w]]) for w in windows]
    rec_enl = [_enl_of_values(rec[w][valid[w]]) for w in windows]
    return float(np.mean(rec_enl) / np.mean(ref_enl))


def ratio_image_stats(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    mask: np.ndarray | None = None,
    eps: float = 1e-10,
) -> dict[str, float]:
    """Mean and variance of the ratio image r = I / max(I_hat, eps).

    For an ideal despeckler of L-look data: mean 1, variance 1/L. For a lossless
    codec: mean 1, variance 0. ``eps`` only guards against division by zero;
    reconstructions with many near-zero pixels give large ratios by design.
    """
    ref = _as_float(reference, "reference")
    rec = _as_float(reconstruction, "reconstruction")
    valid = _valid_mask(mask, ref, rec)
    ratio = ref[valid] / np.maximum(rec[valid], eps)
    return {"mean": float(ratio.mean()), "var": float(ratio.var())}


def mean_intensity_preservation(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """mean(I_hat) / mean(I) over the valid pixels (1 = radiometry preserved)."""
    ref = _as_float(reference, "reference")
    rec = _as_float(reconstruction, "reconstruction")
    valid = _valid_mask(mask, ref, rec)
    return float(rec[valid].mean() / ref[valid].mean())


def edge_preservation_index(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    mask: np.ndarray | None = None,
) -> float:
    """Laplacian correlation edge preservation index (Sattar et al., 1997).

    EPI = sum((dI - mean dI)(dJ - mean dJ)) / sqrt(sum((dI - mean dI)^2) sum((dJ - mean dJ)^2))
    with d the 3x3 Laplacian (``scipy.ndimage.laplace``, reflected borders). Only
    pixels whose whole 3x3 neighbourhood is valid are used. Returns NaN when
    either Laplacian is constant (e.g. a flat image).
    """
    ref = _as_float(reference, "reference")
    rec = _as_float(reconstruction, "reconstruction")
    valid = _valid_mask(mask, ref, rec)
    inner = ndimage.binary_erosion(valid, structure=np.ones((3, 3), bool), border_value=1)
    if not inner.any():
        raise ValueError("no pixel has a fully valid 3x3 neighbourhood")
    d_ref = ndimage.laplace(np.where(valid, ref, 0.0), mode="reflect")[inner]
    d_rec = ndimage.laplace(np.where(valid, rec, 0.0), mode="reflect")[inner]
    d_ref -= d_ref.mean()
    d_rec -= d_rec.mean()
    denominator = np.sqrt(np.sum(d_ref**2) * np.sum(d_rec**2))
    return float(np.sum(d_ref * d_rec) / denominator) if denominator > 0 else float("nan")


def sar_fidelity(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    mask: np.ndarray | None = None,
    windows: list[Window] | None = None,
) -> dict[str, float]:
    """All SAR fidelity metrics: enl_ratio, ratio_mean, ratio_var, mean_preservation, epi."""
    ratio = ratio_image_stats(reference, reconstruction, mask=mask)
    return {
        "enl_ratio": enl_ratio(reference, reconstruction, windows=windows, mask=mask),
        "ratio_mean": ratio["mean"],
        "ratio_var": ratio["var"],
        "mean_preservation": mean_intensity_preservation(reference, reconstruction, mask=mask),
        "epi": edge_preservation_index(reference, reconstruction, mask=mask),
    }
