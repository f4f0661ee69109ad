"""Writing a synthetic scene as a GeoTIFF: a UTM CRS, 10 m pixels, a distinct origin per scene.

Stage 3 of :mod:`sarcomp.data.synthetic`; the number of looks is stored in the tag ``LOOKS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sarcomp.fileio import atomic_write

PIXEL_SIZE_M = 10.0
CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N
_ORIGIN_X0 = 200_000.0
_ORIGIN_Y0 = 5_600_000.0


def _origin(index: int, size: int) -> tuple[float, float]:
    """Upper-left corner of scene ``index`` on a non-overlapping tile grid (UTM metres)."""
    tile = size * PIXEL_SIZE_M + 1000.0
    ncols = max(1, int(600_000.0 // tile))
    return _ORIGIN_X0 + (index % ncols) * tile, _ORIGIN_Y0 - (index // ncols) * tile


def write_scene(path: Path, intensity: np.ndarray, meta: dict, index: int) -> None:
    """Write a single-band float32 GeoTIFF atomically (:func:`sarcomp.fileio.atomic_write`).

    ``index`` is a global scene number that places the scene on a non-overlapping
    tile grid (EPSG:32633, 10 m pixels); ``meta`` items become GeoTIFF tags
    (upper-case keys, e.g. ``LOOKS``).
    """
    import rasterio
    from rasterio.transform import Affine

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(intensity, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"expected a 2-D intensity array, got shape {data.shape}")
    h, w = data.shape
    x0, y0 = _origin(int(index), max(h, w))
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": Affine(PIXEL_SIZE_M, 0.0, x0, 0.0, -PIXEL_SIZE_M, y0),
        "compress": "deflate",
        "predictor": 3,
    }
    if h % 16 == 0 and w % 16 == 0 and min(h, w) >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    tags = {str(k).upper(): str(v) for k, v in meta.items()}
    tags.setdefault("UNITS", "linear intensity")
    tags["GENERATOR"] = "sarcomp.data.synthetic"

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(**tags)
            dst.set_band_description(1, "intensity")

    atomic_write(path, write, suffix=".tmp.tif")
