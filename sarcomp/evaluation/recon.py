"""Reconstructed scenes as GeoTIFF (``scripts/evaluate.py ... save_recon=true``), to look at.

Each scene is written in the units of its source raster (the representation's inverse of the
decoded [0, 1] image: linear intensity, amplitude, dB or 8-bit levels), float32, with the
source's CRS and transform and NaN where the source had no valid pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from sarcomp.data.tiles import Scene
from sarcomp.fileio import atomic_write


def recon_path(folder: Path, scene: Scene) -> Path:
    return folder / f"{scene.path.stem}.tif"


def save_reconstruction(folder: Path, scene: Scene, unit: np.ndarray, valid: np.ndarray) -> Path:
    """Write one decoded [0, 1] scene to ``<folder>/<scene stem>.tif`` (atomically)."""
    physical = scene.representation.from_unit(np.clip(unit, 0.0, 1.0), scene.scaling).astype(np.float32)
    physical[~valid] = np.nan
    info = scene.info
    profile = {
        "driver": "GTiff",
        "height": info.height,
        "width": info.width,
        "count": 1,
        "dtype": "float32",
        "nodata": float("nan"),
        "crs": info.crs,
        "transform": Affine(*info.transform),
        "compress": "deflate",
    }
    path = recon_path(folder, scene)

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(physical, 1)
            dst.update_tags(source=str(scene.path), units=scene.representation.units)

    atomic_write(path, write, suffix=".tmp.tif")
    return path
