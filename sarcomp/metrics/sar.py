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


#: Side of the blocks of the selection/estimation checkerboard (see find_homogeneous_windows).
SPLIT_BLOCK = 4
#: Variance floor relative to the squared mean: per-window ENL is at most 1 / ENL_FLOOR**2 (1e6),
#: so a near-constant reconstructed window gives a large but finite ratio, never inf.
ENL_FLOOR = 1e-3
_ENL_MIN = 1e-6  # lower clip (a window of zeros has mean 0)


def selection_pixels(shape: tuple[int, int]) -> np.ndarray:
    """True on the pixels used to *choose* homogeneous windows: the even squares of a
    checkerboard of SPLIT_BLOCK x SPLIT_BLOCK blocks. ENL is estimated on the odd squares."""
    rows, cols = np.indices(shape)
    return (rows // SPLIT_BLOCK + cols // SPLIT_BLOCK) % 2 == 0


def find_homogeneous_windows(
    intensity: np.ndarray,
    window: int = 16,
    count: int = 8,
    mask: np.ndarray | None = None,
) -> list[Window]:
    """Find the ``count`` most homogeneous non-overlapping ``window``x``window`` regions.

    The image is cut into a grid of non-overlapping windows; windows touching an
    invalid pixel or with non-positive mean are discarded. The rest are ranked by the
    coefficient of variation (std/mean) of the means of the SPLIT_BLOCK x SPLIT_BLOCK blocks
    on the *selection* squares of a checkerboard (:func:`selection_pixels`): block means damp
    speckle so texture dominates the ranking, and because the ENL is then estimated on the
    other squares only (:func:`enl_ratio`), a window is not chosen for its own low sample
    variance, which would bias the reference ENL upward (with 4 px blocks the squares are
    nearly independent even for correlated speckle). ``window`` must be a multiple of
    2 x SPLIT_BLOCK. Returned most homogeneous first; fewer than ``count`` if the image has fewer
    candidates.
    """
    if window < 2 * SPLIT_BLOCK or window % (2 * SPLIT_BLOCK) or count < 1:
        raise ValueError(f"window must be a multiple of {2 * SPLIT_BLOCK} and count >= 1")
    image = _as_float(intensity, "intensity")
    valid = _valid_mask(mask, image)
    rows, cols = image.shape[0] // window, image.shape[1] // window
    if rows == 0 or cols == 0:
        raise ValueError(f"image {image.shape} is smaller than the window {window}")

    def blocks(array: np.ndarray, size: int) -> np.ndarray:
        r, c = array.shape[0] // size, array.shape[1] // size
        cropped = array[: r * size, : c * size]
        return cropped.reshape(r, size, c, size).swapaxes(1, 2).reshape(r, c, -1)

    n = window // SPLIT_BLOCK  # blocks per window side; windows start on even blocks
    selection = (np.add.outer(np.arange(n), np.arange(n)) % 2 == 0).ravel()
    block_means = blocks(np.where(valid, image, 0.0), SPLIT_BLOCK).mean(axis=-1)
    means = blocks(block_means, n)[..., selection]  # [rows, cols, selection blocks]
    mean = means.mean(axis=-1)
    usable = blocks(valid, window).all(axis=-1) & (mean > 0)
    if not usable.any():
        raise ValueError("no fully valid window with positive mean intensity")
    cv = np.where(usable, means.std(axis=-1) / np.where(usable, mean, 1.0), np.inf)
    order = np.argsort(cv, axis=None, kind="stable")[: min(count, int(usable.sum()))]
    return [
        (slice(r * window, (r + 1) * window), slice(c * window, (c + 1) * window))
        for r, c in zip(*np.unravel_index(order, cv.shape))
    ]


def _floored_enl(values: np.ndarray) -> float:
    """mean^2 / max(variance, (ENL_FLOOR * mean)^2), clipped to [1e-6, 1 / ENL_FLOOR^2]."""
    if values.size < 2:
        raise ValueError("ENL needs at least two valid pixels")
    mean = float(values.mean())
    variance = max(float(values.var()), (ENL_FLOOR * mean) ** 2)
    return float(np.clip(mean**2 / variance, _ENL_MIN, ENL_FLOOR**-2)) if variance > 0 else _ENL_MIN


def enl_ratio(
    reference: np.ndarray,
    reconstruction: np.ndarray,
    windows: list[Window] | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """ENL of the reconstruction relative to the reference over homogeneous windows:
    exp(median over windows of log(ENL_rec / ENL_ref)), with per-window ENL floored
    (:func:`_floored_enl`), so one near-constant window can neither give inf nor dominate.

    Windows are detected on the reference with :func:`find_homogeneous_windows` when not given,
    and the ENL is then estimated on the pixels *not* used to choose them (the odd squares of
    :func:`selection_pixels`); given windows use all their valid pixels. A value above 1 means
    the reconstruction is smoother (less speckle, or speckle removed by compression) in flat areas.
    """
    ref = _as_float(reference, "reference")
    rec = _as_float(reconstruction, "reconstruction")
    valid = _valid_mask(mask, ref, rec)
    estimate = valid
    if windows is None:
        windows = find_homogeneous_windows(ref, mask=valid)
        estimate = valid & ~selection_pixels(ref.shape)
    if not windows:
        raise ValueError("windows must not be empty")
    log_ratios = [
        np.log(_floored_enl(rec[w][estimate[w]]) / _floored_enl(ref[w][estimate[w]])) for w in windows
    ]
    return float(np.exp(np.median(log_ratios)))


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
